//! `GET /cdr/{domain}` filters: `since` (inclusive) and `until` (exclusive) on the start
//! time, `user` matching the caller or the callee exactly; together, and across pages. One
//! account's records never show in another's answer.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::{Cdr, Store};

const T0: u64 = 1_795_500_000;

#[tokio::test]
async fn since_until_user_and_domains() {
    let h = common::harness().await;
    for d in ["example.com", "other.example"] {
        let path = format!("/dir/{d}");
        assert_eq!(
            h.call(Method::PUT, &path, Some("{}")).await.status,
            StatusCode::CREATED
        );
    }
    let users = ["1000", "1001", "+4930123", "10000"];
    let mine: Vec<Cdr> = (0..80)
        .map(|n| {
            let from = users[n as usize % 4];
            let to = users[(n as usize / 4 + 1) % 4];
            common::cdr("example.com", n, T0 + u64::from(n) * 60, from, to)
        })
        .collect();
    // The same users and times in another account.
    let theirs: Vec<Cdr> = (100..180)
        .map(|n| {
            common::cdr(
                "other.example",
                n,
                T0 + u64::from(n - 100) * 60,
                "1000",
                "1001",
            )
        })
        .collect();
    h.store.insert_cdrs(&mine).await.unwrap();
    h.store.insert_cdrs(&theirs).await.unwrap();

    let expect = |f: &dyn Fn(&Cdr) -> bool| -> Vec<String> {
        let mut v: Vec<&Cdr> = mine.iter().filter(|c| f(c)).collect();
        v.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        v.iter().map(|c| c.id.clone()).collect()
    };
    let since = T0 + 600;
    let until = T0 + 3_000;
    let cases: Vec<(String, Vec<String>)> = vec![
        (format!("since={since}"), expect(&|c| c.start >= since)),
        (format!("until={until}"), expect(&|c| c.start < until)),
        (
            format!("since={since}&until={until}"),
            expect(&|c| c.start >= since && c.start < until),
        ),
        (
            "user=1000".into(),
            expect(&|c| c.from == "1000" || c.to == "1000"),
        ),
        (
            "user=%2B4930123".into(),
            expect(&|c| c.from == "+4930123" || c.to == "+4930123"),
        ),
        (
            format!("user=1001&since={since}&until={until}"),
            expect(&|c| {
                (c.from == "1001" || c.to == "1001") && c.start >= since && c.start < until
            }),
        ),
        ("user=100".into(), vec![]),
        (format!("since={until}&until={since}"), vec![]),
    ];
    for (query, want) in cases {
        for limit in [3, 1000] {
            let got = common::cdr_ids(&h, &format!("/cdr/EXAMPLE.com?{query}&limit={limit}")).await;
            assert_eq!(got, want, "{query}, limit {limit}");
        }
    }

    // Every record in the other account's answers is its own.
    let a = h
        .call(Method::GET, "/cdr/other.example?user=1000&limit=1000", None)
        .await;
    let cdrs = a.json()["cdrs"].as_array().unwrap().clone();
    assert_eq!(cdrs.len(), theirs.len());
    assert!(cdrs.iter().all(|c| c["domain"] == "other.example"));
}
