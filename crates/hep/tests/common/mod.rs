//! Reading the hex files of `testdata/hep*/`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

/// `testdata/<dir>` at the workspace root.
pub fn testdata(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(dir)
}

/// Hex with whitespace ignored and `#` comments to the end of the line.
pub fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Every `.hex` file of a folder, by name, decoded.
pub fn hex_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(testdata(dir))
        .expect("testdata folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                parse_hex(&std::fs::read_to_string(&p).expect("readable")),
            )
        })
        .collect();
    files.sort();
    files
}
