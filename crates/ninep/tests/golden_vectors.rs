//! The hand-written vectors of `testdata/ninep/` (from the Plan 9 manual pages) decode to the
//! messages they name, and those messages encode to the same bytes.

use std::borrow::Cow;
use std::path::PathBuf;

use ninep::msg::{
    DMDIR, DirEntries, Fcall, Fid, Message, NOTAG, ORDWR, OTRUNC, OWRITE, QTAUTH, QTDIR, QTFILE,
    Qid, Stat, Tag, WalkNames, WalkQids,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/ninep")
}

/// The bytes of a vector: hex pairs, `#` to the end of a line is a comment.
fn hex(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir().join(name)).expect("vector file");
    text.lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
        .collect()
}

fn qid(ty: u8, version: u32, path: u64) -> Qid {
    Qid { ty, version, path }
}

fn dir_entry(name: &'static str, q: Qid, mode: u32, length: u64) -> Stat<'static> {
    Stat {
        ty: 0,
        dev: 0,
        qid: q,
        mode,
        atime: 0,
        mtime: 0,
        length,
        name: Cow::Borrowed(name),
        uid: Cow::Borrowed("u"),
        gid: Cow::Borrowed("u"),
        muid: Cow::Borrowed(""),
    }
}

/// The message each vector names.
fn expected(name: &str) -> Option<Message<'static>> {
    let m = |tag: u16, body: Fcall<'static>| Some(Message::new(Tag(tag), body));
    let file_qid = qid(QTFILE, 3, 42);
    match name {
        "tversion.hex" => m(
            NOTAG,
            Fcall::Tversion {
                msize: 8192,
                version: "9P2000",
            },
        ),
        "rversion.hex" => m(
            NOTAG,
            Fcall::Rversion {
                msize: 8192,
                version: "9P2000",
            },
        ),
        "rversion-unknown.hex" => m(
            NOTAG,
            Fcall::Rversion {
                msize: 8192,
                version: "unknown",
            },
        ),
        "tauth.hex" => m(
            1,
            Fcall::Tauth {
                afid: Fid(16),
                uname: "glenda",
                aname: "",
            },
        ),
        "rauth.hex" => m(
            1,
            Fcall::Rauth {
                aqid: qid(QTAUTH, 0, 1),
            },
        ),
        "tattach.hex" => m(
            2,
            Fcall::Tattach {
                fid: Fid(0),
                afid: Fid(16),
                uname: "glenda",
                aname: "",
            },
        ),
        "tattach-nofid.hex" => m(
            2,
            Fcall::Tattach {
                fid: Fid(0),
                afid: Fid::NOFID,
                uname: "glenda",
                aname: "",
            },
        ),
        "rattach.hex" => m(
            2,
            Fcall::Rattach {
                qid: qid(QTDIR, 0, 0),
            },
        ),
        "rerror.hex" => m(
            3,
            Fcall::Rerror {
                ename: "file does not exist",
            },
        ),
        "tflush.hex" => m(4, Fcall::Tflush { oldtag: Tag(3) }),
        "rflush.hex" => m(4, Fcall::Rflush),
        "twalk.hex" => m(
            5,
            Fcall::Twalk {
                fid: Fid(0),
                newfid: Fid(1),
                wnames: WalkNames::from_slice(&["cdr", "2026_01_01"])?,
            },
        ),
        "twalk-clone.hex" => m(
            5,
            Fcall::Twalk {
                fid: Fid(0),
                newfid: Fid(1),
                wnames: WalkNames::new(),
            },
        ),
        "rwalk.hex" => m(
            5,
            Fcall::Rwalk {
                wqids: WalkQids::from_slice(&[qid(QTDIR, 0, 2), qid(QTDIR, 0, 3)])?,
            },
        ),
        "rwalk-partial.hex" => m(
            5,
            Fcall::Rwalk {
                wqids: WalkQids::from_slice(&[qid(QTDIR, 0, 2)])?,
            },
        ),
        "topen.hex" => m(
            6,
            Fcall::Topen {
                fid: Fid(1),
                mode: ORDWR | OTRUNC,
            },
        ),
        "ropen.hex" => m(
            6,
            Fcall::Ropen {
                qid: file_qid,
                iounit: 8168,
            },
        ),
        "tcreate.hex" => m(
            7,
            Fcall::Tcreate {
                fid: Fid(1),
                name: "ctl",
                perm: 0o644,
                mode: OWRITE,
            },
        ),
        "tcreate-dir.hex" => m(
            7,
            Fcall::Tcreate {
                fid: Fid(1),
                name: "1001",
                perm: DMDIR | 0o755,
                mode: 0,
            },
        ),
        "rcreate.hex" => m(
            7,
            Fcall::Rcreate {
                qid: qid(QTFILE, 0, 43),
                iounit: 8168,
            },
        ),
        "tread.hex" => m(
            8,
            Fcall::Tread {
                fid: Fid(1),
                offset: 256,
                count: 8168,
            },
        ),
        "rread.hex" => m(8, Fcall::Rread { data: b"hello" }),
        "rread-eof.hex" => m(8, Fcall::Rread { data: b"" }),
        "twrite.hex" => m(
            9,
            Fcall::Twrite {
                fid: Fid(1),
                offset: 0,
                data: b"hangup\n",
            },
        ),
        "rwrite.hex" => m(9, Fcall::Rwrite { count: 7 }),
        "tclunk.hex" => m(10, Fcall::Tclunk { fid: Fid(1) }),
        "rclunk.hex" => m(10, Fcall::Rclunk),
        "tremove.hex" => m(11, Fcall::Tremove { fid: Fid(1) }),
        "rremove.hex" => m(11, Fcall::Rremove),
        "tstat.hex" => m(12, Fcall::Tstat { fid: Fid(0) }),
        "rstat.hex" => m(
            12,
            Fcall::Rstat {
                stat: Stat {
                    ty: 0,
                    dev: 0,
                    qid: qid(QTDIR, 0, 1),
                    mode: DMDIR | 0o755,
                    atime: 1_700_000_000,
                    mtime: 1_700_000_000,
                    length: 0,
                    name: "cdr".into(),
                    uid: "glenda".into(),
                    gid: "glenda".into(),
                    muid: "".into(),
                },
            },
        ),
        "twstat.hex" => m(
            13,
            Fcall::Twstat {
                fid: Fid(1),
                stat: Stat {
                    name: "cdr2".into(),
                    ..Stat::dont_touch()
                },
            },
        ),
        "rwstat.hex" => m(13, Fcall::Rwstat),
        "rread-dir.hex" => {
            // The data is two whole entries; built here with their own encoder-free layout
            // checked below by DirEntries.
            let bytes = hex("rread-dir.hex");
            let data: &'static [u8] = bytes.get(11..)?.to_vec().leak();
            m(14, Fcall::Rread { data })
        }
        _ => None,
    }
}

#[test]
fn every_vector_decodes_to_its_message_and_encodes_back() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("testdata/ninep")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .filter(|n| n.ends_with(".hex"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "only {} vectors", names.len());
    let mut types = std::collections::BTreeSet::new();
    for name in &names {
        let bytes = hex(name);
        let want = expected(name).unwrap_or_else(|| panic!("{name}: no expected message"));
        let got = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}: decoded");
        assert_eq!(want.to_bytes().expect("encodes"), bytes, "{name}: encoded");
        assert_eq!(want.encoded_len(), bytes.len(), "{name}: encoded_len");
        types.insert(want.body.type_byte());
    }
    // Every message type of 9P2000 (100..=127 but 106, Terror) has a vector.
    let all: std::collections::BTreeSet<u8> = (100..=127).filter(|&t| t != 106).collect();
    assert_eq!(types, all);
}

#[test]
fn directory_read_holds_two_whole_entries() {
    let bytes = hex("rread-dir.hex");
    let Fcall::Rread { data } = Message::decode(&bytes).expect("decodes").body else {
        panic!("not an Rread");
    };
    let entries: Vec<Stat<'_>> = DirEntries::new(data)
        .collect::<Result<_, _>>()
        .expect("entries");
    assert_eq!(
        entries,
        vec![
            dir_entry("a", qid(QTFILE, 0, 10), 0o644, 5),
            dir_entry("b", qid(QTDIR, 0, 11), DMDIR | 0o755, 0),
        ]
    );
    // And each entry encodes to its own bytes.
    let mut again = Vec::new();
    for e in &entries {
        e.encode(&mut again).expect("encodes");
    }
    assert_eq!(again, data);
}

#[test]
fn rstat_inner_size_is_outer_size_minus_two() {
    let bytes = hex("rstat.hex");
    let n = u16::from_le_bytes([bytes[7], bytes[8]]);
    let inner = u16::from_le_bytes([bytes[9], bytes[10]]);
    assert_eq!(inner + 2, n);
    assert_eq!(usize::from(n) + 9, bytes.len());
}
