//! The call API: a live call shows in `GET /call` and `GET /call/{id}` with its state and relay
//! ports, `POST /call/{id}/hangup` ends it (both phones get BYE), and its CDR says the system
//! hung up. Unknown ids get 404 with a JSON error.

mod common;

use std::time::{Duration, Instant};

#[test]
fn api_lists_a_live_call_and_hangs_it_up() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24900-24999", "");
    let server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;
    let callee_media = common::free_udp_port().to_string();
    let call = std::thread::spawn(move || {
        common::sipp_call(
            sip,
            "call_uas_answer.xml",
            &["-key", "rtp_port", &callee_media],
            "call_uac_hung_up.xml",
            &[],
        )
    });

    // The call shows up, answered and confirmed.
    let end = Instant::now() + Duration::from_secs(20);
    let mut listing = String::new();
    while Instant::now() < end {
        listing = common::http(server.http, "GET", "/call", None).1;
        if listing.contains(r#""state":"up""#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let json = common::Json::parse(&listing).expect("json");
    assert_eq!(
        json.get("count").and_then(common::Json::as_u64),
        Some(1),
        "{listing}"
    );
    assert!(
        listing.contains(r#""from":"user1""#) && listing.contains(r#""to":"user0""#),
        "{listing}"
    );
    assert!(
        listing.contains(r#""caller_port":249"#),
        "relay ports listed: {listing}"
    );
    let id = listing
        .split(r#""id":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("call id")
        .to_owned();
    let (status, one) = common::http(server.http, "GET", &format!("/call/{id}"), None);
    assert_eq!(status, 200, "{one}");
    assert!(one.contains(r#""state":"up""#), "{one}");

    let (status, body) = common::http(server.http, "GET", "/call/no-such-call", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains(r#""error""#), "{body}");
    let (status, body) = common::http(server.http, "POST", "/call/no-such-call/hangup", None);
    assert_eq!(status, 404, "{body}");

    // Hang up: both phones get BYE and their scenarios end well.
    let (status, body) = common::http(server.http, "POST", &format!("/call/{id}/hangup"), None);
    assert_eq!(status, 202, "{body}");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let (_, after) = common::http(server.http, "GET", "/call", None);
    assert!(after.contains(r#""count":0"#), "{after}");

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(
        (cdrs[0].code, cdrs[0].hangup_by.as_str()),
        (200, "system"),
        "{cdrs:?}"
    );
}
