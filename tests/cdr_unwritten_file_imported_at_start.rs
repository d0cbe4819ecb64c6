//! CDRs the store refused at shutdown are saved to `<data>/cdr-unwritten-<unix>.jsonl`; the
//! next start imports them into the store (so `GET /cdr` lists them) and removes the file. A
//! line that is not a CDR is never thrown away: it stays in its file, and the file stays.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

fn cdr(id: &str, call_id: &str, start: u64) -> String {
    format!(
        r#"{{"id": "{id}", "domain": "cdr.test", "call_id": "{call_id}", "from": "user0",
           "to": "user1", "start": {start}, "answer": {answered}, "end": {end}, "duration": 10,
           "billsec": 8, "cause": {{"code": 200, "reason": "BYE"}}, "hangup_by": "caller",
           "codecs": ["PCMU/8000"]}}"#,
        answered = start + 2,
        end = start + 10,
    )
    .replace('\n', " ")
}

#[test]
fn saved_cdrs_are_imported_and_their_file_removed() {
    let server =
        common::Server::start_with_config(&common::config_with_users("cdr.test", 2, ""), &[]);
    let mut server = server;
    assert_eq!(server.signal_and_wait(15), Some(0));
    let data = server.data.path().to_owned();
    let whole = data.join("cdr-unwritten-1795543300.jsonl");
    std::fs::write(
        &whole,
        format!(
            "{}\n{}\n",
            cdr(
                "11111111-0000-4000-8000-000000000001",
                "a@127.0.0.1",
                1_795_543_261
            ),
            cdr(
                "11111111-0000-4000-8000-000000000002",
                "b@127.0.0.1",
                1_795_543_262
            ),
        ),
    )
    .unwrap();
    let mixed = data.join("cdr-unwritten-1795543400.jsonl");
    std::fs::write(
        &mixed,
        format!(
            "{}\nnot a cdr\n",
            cdr(
                "11111111-0000-4000-8000-000000000003",
                "c@127.0.0.1",
                1_795_543_263
            ),
        ),
    )
    .unwrap();
    // Another file of the data directory is left alone.
    let other = data.join("cdr-notes.txt");
    std::fs::write(&other, "x").unwrap();

    let server = server.restart_stopped(&[]);
    let cdrs = common::wait_cdrs(&server, "cdr.test", 3, Duration::from_secs(10));
    let mut call_ids: Vec<&str> = cdrs.iter().map(|c| c.call_id.as_str()).collect();
    call_ids.sort_unstable();
    assert_eq!(call_ids, ["a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"]);
    assert!(cdrs.iter().all(|c| c.billsec == 8 && c.code == 200));

    let data = server.data.path();
    assert!(!data.join("cdr-unwritten-1795543300.jsonl").exists());
    assert_eq!(
        std::fs::read_to_string(data.join("cdr-unwritten-1795543400.jsonl")).unwrap(),
        "not a cdr\n"
    );
    assert!(data.join("cdr-notes.txt").exists());
}
