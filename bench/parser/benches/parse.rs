//! Criterion benchmark: parse + extract the compared fields, `sip` against `rsip`, per
//! message and for the whole set, then a summary of the ratios (rsip time / sip time).
//!
//! ```text
//! cargo bench --bench parse                 # everything
//! cargo bench --bench parse -- 05_options   # criterion's usual filters work
//! ```
//!
//! Before anything is timed, every message is checked: both parsers must yield the same
//! fields; a message that fails the check is left out with a printed note.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput};
use sip_parser_bench::{checked_set, load_messages, ours_parse_extract, rsip_parse_extract};

const WHOLE: &str = "whole_set";

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion")
}

/// The median (ns per iteration) of a benchmark measured by this process, if it ran.
fn median_ns(group: &str, func: &str, since: SystemTime) -> Option<f64> {
    let p = out_dir()
        .join(group)
        .join(func)
        .join("new")
        .join("estimates.json");
    let fresh = std::fs::metadata(&p).ok()?.modified().ok()? >= since;
    if !fresh {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

fn main() {
    let start = SystemTime::now();
    let all = load_messages();
    let timed = checked_set(&all);
    println!(
        "{} of {} messages agree on every compared field and are timed",
        timed.len(),
        all.len()
    );

    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    for s in &timed {
        let mut g = c.benchmark_group(&s.name);
        g.throughput(Throughput::Bytes(s.bytes.len() as u64));
        g.bench_function("sip", |b| {
            b.iter(|| ours_parse_extract(black_box(&s.bytes)))
        });
        g.bench_function("rsip", |b| {
            b.iter(|| rsip_parse_extract(black_box(&s.bytes)))
        });
        g.finish();
    }
    let mut g = c.benchmark_group(WHOLE);
    g.throughput(Throughput::Elements(timed.len() as u64));
    g.bench_function("sip", |b| {
        b.iter(|| {
            timed
                .iter()
                .map(|s| ours_parse_extract(black_box(&s.bytes)))
                .sum::<usize>()
        })
    });
    g.bench_function("rsip", |b| {
        b.iter(|| {
            timed
                .iter()
                .map(|s| rsip_parse_extract(black_box(&s.bytes)))
                .sum::<usize>()
        })
    });
    g.finish();
    c.final_summary();

    println!("\nsummary (criterion medians, ns per message; ratio = rsip / sip)");
    println!("| message | sip ns | rsip ns | ratio rsip/sip |");
    println!("|---|---:|---:|---:|");
    let n = timed.len().max(1) as f64;
    let rows = timed
        .iter()
        .map(|s| (s.name.as_str(), s.name.as_str(), 1.0))
        .chain(std::iter::once((WHOLE, "whole set (mean per message)", n)));
    for (group, label, per) in rows {
        match (
            median_ns(group, "sip", start),
            median_ns(group, "rsip", start),
        ) {
            (Some(a), Some(b)) => println!(
                "| {label} | {:.0} | {:.0} | {:.2} |",
                a / per,
                b / per,
                b / a
            ),
            _ => println!("| {label} | not run | not run | - |"),
        }
    }
}
