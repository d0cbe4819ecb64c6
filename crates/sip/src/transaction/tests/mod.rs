//! Unit tests: each machine walked through every transition of its RFC figure, and the layer.

mod client_invite;
mod client_non_invite;
mod layer;
mod server_invite;
mod server_non_invite;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{Message, Request, Response};
use crate::method::StatusCode;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn invite_text(transport: &str, branch: &str) -> String {
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} pc33.atlanta.example.com:5060;branch={branch}\r\n\
         Via: SIP/2.0/{transport} proxy.atlanta.example.com;branch=z9hG4bK-proxy\r\n\
         Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
         Max-Forwards: 70\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
         Timestamp: 54\r\n\
         Content-Type: application/sdp\r\n\
         \r\n"
    )
}

fn request(text: &str) -> Request {
    match Message::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn invite(transport: &str) -> Request {
    request(&invite_text(transport, "z9hG4bK776asdhds"))
}

fn options(transport: &str, branch: &str) -> Request {
    request(&format!(
        "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} pc33.atlanta.example.com;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:carol@chicago.example.com>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710\r\n\
         CSeq: 63104 OPTIONS\r\n\
         \r\n"
    ))
}

/// A response to `req` with `code`, carrying To tag `tag` unless it is 100.
fn response(req: &Request, code: u16, tag: &str) -> Response {
    let status = StatusCode::new(code).expect("status code");
    let mut r = Response::to_request(req, status);
    if code != 100 {
        r.head.to.params.set("tag", Some(tag.to_owned()));
    }
    r
}

fn parse(bytes: &Bytes) -> Message {
    Message::parse(bytes).expect("our own output parses")
}

fn status_of(bytes: &Bytes) -> u16 {
    match parse(bytes) {
        Message::Response(r) => r.status.code(),
        Message::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

fn drain<T>(mut next: impl FnMut() -> Option<T>) -> Vec<T> {
    std::iter::from_fn(&mut next).collect()
}

fn base() -> Instant {
    // The only clock read: a base that tests offset by simulated durations.
    Instant::now()
}
