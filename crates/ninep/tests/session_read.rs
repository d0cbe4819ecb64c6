//! read(5): directories read as whole entries from offset 0 on, without seeks; file reads
//! fit msize; only fids open for reading.

mod common;

use common::Harness;
use ninep::msg::{DirEntries, Fcall, Fid, IOHDRSZ, NOTAG, OWRITE, Stat};
use ninep::server::ename;

fn entries(data: &[u8]) -> Vec<Stat<'_>> {
    DirEntries::new(data)
        .collect::<Result<_, _>>()
        .expect("whole entries")
}

#[test]
fn directory_reads_return_whole_entries_that_fit() {
    let mut h = Harness::with(common::MemConn { trusted: true }, Default::default(), 1000);
    h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    h.attach_operator(0);
    h.open_read(1, "big");
    let mut offset = 0u64;
    let mut names = Vec::new();
    loop {
        // An odd count, so that entries never fill it exactly.
        let data = h.read(5, 1, offset, 1000);
        assert!(data.len() <= 1000);
        if data.is_empty() {
            break;
        }
        names.extend(entries(data).into_iter().map(|s| s.name.into_owned()));
        offset += data.len() as u64;
    }
    let want: Vec<String> = (0..1000).map(|i| format!("f{i:04}")).collect();
    assert_eq!(names, want);
}

#[test]
fn directory_reads_refuse_seeks() {
    let mut h = Harness::attached();
    h.open_read(1, "");
    let first = h.read(5, 1, 0, 200);
    assert!(!first.is_empty());
    let e = h.error(
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: 1,
            count: 200,
        },
    );
    assert_eq!(e, ename::BAD_OFFSET);
    let e = h.error(
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: first.len() as u64 + 60,
            count: 200,
        },
    );
    assert_eq!(e, ename::BAD_OFFSET);
    // The end of the previous read is fine.
    h.read(5, 1, first.len() as u64, 200);
}

#[test]
fn offset_zero_lists_the_directory_again() {
    let mut h = Harness::attached();
    h.open_read(1, "home");
    assert!(h.read(5, 1, 0, 8000).is_empty());
    h.walk(0, 2, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(2),
            name: "new",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    let again = h.read(5, 1, 0, 8000);
    let names: Vec<String> = entries(again)
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(names, ["new"]);
}

#[test]
fn a_count_too_small_for_the_next_entry_is_an_error() {
    let mut h = Harness::attached();
    h.open_read(1, "");
    let e = h.error(
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 10,
        },
    );
    assert_eq!(e, ename::SHORT_COUNT);
}

#[test]
fn rread_never_exceeds_msize_minus_iohdrsz() {
    let mut h = Harness::versioned(256);
    h.attach_operator(0);
    h.walk(0, 1, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "big",
            perm: 0o666,
            mode: 2,
        },
    );
    let chunk = vec![b'x'; 200];
    for i in 0..5u64 {
        h.rpc(
            4,
            Fcall::Twrite {
                fid: Fid(1),
                offset: i * 200,
                data: &chunk,
            },
        );
    }
    let data = h.read(5, 1, 0, u32::MAX);
    assert_eq!(data.len(), (256 - IOHDRSZ) as usize);
    // The whole reply fits msize.
    let r = h.rpc(
        6,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 100_000,
        },
    );
    assert_eq!(r.encoded_len(), 11 + (256 - IOHDRSZ) as usize);
    assert!(r.encoded_len() <= 256);
}

#[test]
fn reading_a_fid_not_open_for_reading_is_refused() {
    let mut h = Harness::attached();
    h.walk(0, 1, "readonly");
    let e = h.error(
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 10,
        },
    );
    assert_eq!(e, ename::NOT_OPEN_READ);
    let r = h.open(2, "writeonly", OWRITE);
    assert!(matches!(r.body, Fcall::Ropen { .. }));
    let e = h.error(
        5,
        Fcall::Tread {
            fid: Fid(2),
            offset: 0,
            count: 10,
        },
    );
    assert_eq!(e, ename::NOT_OPEN_READ);
}

#[test]
fn file_reads_come_from_the_tree_at_their_offset() {
    let mut h = Harness::attached();
    h.open_read(1, "readonly");
    assert_eq!(h.read(5, 1, 0, 100), b"read only\n");
    assert_eq!(h.read(5, 1, 5, 3), b"onl");
    assert_eq!(h.read(5, 1, 100, 10), b"");
}
