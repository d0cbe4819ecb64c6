//! `GET /cdr/{domain}` pages through every record exactly once, in `(start, id)` order, with
//! an opaque `next` cursor that is `null` on the last page; `limit` defaults to 100 and is
//! capped at 1000.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Store;

#[tokio::test]
async fn pages_cover_every_record_once_in_order() {
    let h = common::harness().await;
    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some("{}"))
            .await
            .status,
        StatusCode::CREATED
    );
    // 1,234 calls, many starting in the same second, committed in several batches.
    let cdrs: Vec<pbx::Cdr> = (0..1_234)
        .map(|n| {
            common::cdr(
                "example.com",
                n,
                1_795_500_000 + u64::from(n / 50),
                "1000",
                "1001",
            )
        })
        .collect();
    for batch in cdrs.chunks(300) {
        h.store.insert_cdrs(batch).await.unwrap();
    }
    let mut want: Vec<&pbx::Cdr> = cdrs.iter().collect();
    want.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let want: Vec<String> = want.iter().map(|c| c.id.clone()).collect();

    for limit in [1_usize, 7, 100, 617] {
        let got = common::cdr_ids(&h, &format!("/cdr/example.com?limit={limit}")).await;
        assert_eq!(got, want, "limit {limit}");
    }

    // The default page is 100 records; more than 1000 is taken as 1000.
    let a = h.call(Method::GET, "/cdr/example.com", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let json = a.json();
    assert_eq!(json["cdrs"].as_array().unwrap().len(), 100);
    assert!(json["next"].is_string());
    let a = h
        .call(Method::GET, "/cdr/example.com?limit=5000", None)
        .await;
    assert_eq!(a.json()["cdrs"].as_array().unwrap().len(), 1000);

    // Each record is the JSON of DESIGN.md section 15.
    let first = &json["cdrs"][0];
    let stored = cdrs.iter().find(|c| c.id == first["id"]).unwrap();
    assert_eq!(first, &serde_json::to_value(stored).unwrap());
    for field in [
        "id",
        "domain",
        "call_id",
        "from",
        "to",
        "start",
        "answer",
        "end",
        "duration",
        "billsec",
        "cause",
        "hangup_by",
        "codecs",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }

    // A last page that is exactly full still says it is the last.
    let a = h
        .call(Method::GET, "/cdr/example.com?limit=1234", None)
        .await
        .json();
    assert_eq!(a["cdrs"].as_array().unwrap().len(), 1000);
    let rest = h
        .call(
            Method::GET,
            &format!(
                "/cdr/example.com?limit=234&cursor={}",
                a["next"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json();
    assert_eq!(rest["cdrs"].as_array().unwrap().len(), 234);
    assert!(rest["next"].is_null());
}
