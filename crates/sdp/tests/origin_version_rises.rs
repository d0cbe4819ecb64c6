//! Each leg has its own `o=` line (RFC 3264 section 8): the PBX's user name, the session id
//! the call manager chose, the PBX's address; the version rises by one with each changed
//! description sent on that leg and stays put for an identical one, whatever the peer did to
//! its own `o=`.

#[path = "common/samples.rs"]
mod samples;

use std::net::{IpAddr, Ipv4Addr};

use samples::*;
use sdp::{LegMedia, Origin, OriginState, SessionDescription, negotiate, rewrite};

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// A's offer with its own version and direction.
fn a_offer(version: u32, direction: &str) -> SessionDescription {
    sdp(&format!(
        "v=0|o=- 3920000001 {version} IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 4000 RTP/AVP 0 101|a=rtpmap:101 telephone-event/8000|a={direction}|"
    ))
}

fn b_answer(version: u32, direction: &str) -> SessionDescription {
    sdp(&format!(
        "v=0|o=- 77 {version} IN IP4 127.0.0.21|s=-|c=IN IP4 127.0.0.21|t=0 0|\
m=audio 5000 RTP/AVP 0 101|a=rtpmap:101 telephone-event/8000|a={direction}|"
    ))
}

fn origin_line(sdp: &SessionDescription) -> String {
    sdp.origin.to_string()
}

#[test]
fn versions_per_leg_through_refresh_hold_and_resume() {
    let mut leg_a = LegMedia::new(PBX, vec![20000], 1111);
    let mut leg_b = LegMedia::new(PBX, vec![20002], 2222);

    // INVITE: offer to B, answer to A.
    let to_b = rewrite(&a_offer(1, "sendrecv"), &mut leg_b);
    let to_a = negotiate(
        &a_offer(1, "sendrecv"),
        &b_answer(1, "sendrecv"),
        &mut leg_a,
    )
    .expect("negotiates")
    .answer;
    assert_eq!(origin_line(&to_b), "switchboard 2222 1 IN IP4 127.0.0.1");
    assert_eq!(origin_line(&to_a), "switchboard 1111 1 IN IP4 127.0.0.1");

    // Session refresh: A bumps its own version with nothing changed (some phones do). What
    // the PBX sends is identical, so the version stays.
    let refresh_b = rewrite(&a_offer(2, "sendrecv"), &mut leg_b);
    let refresh_a = negotiate(
        &a_offer(2, "sendrecv"),
        &b_answer(2, "sendrecv"),
        &mut leg_a,
    )
    .expect("negotiates")
    .answer;
    assert_eq!(refresh_b, to_b);
    assert_eq!(refresh_a, to_a);
    assert_eq!(refresh_b.to_bytes(), to_b.to_bytes());

    // Hold: the descriptions change, each leg's version rises by exactly one.
    let hold_b = rewrite(&a_offer(3, "sendonly"), &mut leg_b);
    let hold_a = negotiate(
        &a_offer(3, "sendonly"),
        &b_answer(3, "recvonly"),
        &mut leg_a,
    )
    .expect("negotiates")
    .answer;
    assert_eq!(origin_line(&hold_b), "switchboard 2222 2 IN IP4 127.0.0.1");
    assert_eq!(origin_line(&hold_a), "switchboard 1111 2 IN IP4 127.0.0.1");

    // Resume.
    let resume_b = rewrite(&a_offer(4, "sendrecv"), &mut leg_b);
    assert_eq!(resume_b.origin.version(), Some(3));
    assert_eq!(leg_b.origin.version(), 3);
    assert_eq!(leg_a.origin.version(), 2);

    // Only the version differs between the o= lines of one leg.
    let strip = |o: &Origin| Origin {
        session_version: String::new(),
        ..o.clone()
    };
    assert_eq!(strip(&to_b.origin), strip(&resume_b.origin));
}

#[test]
fn the_same_content_rewritten_twice_keeps_its_version() {
    let mut leg = LegMedia::new(PBX, vec![20000], 5);
    let first = rewrite(&parse(BARESIP), &mut leg);
    let again = rewrite(&parse(BARESIP), &mut leg);
    assert_eq!(first.to_bytes(), again.to_bytes());
    // A retransmitted 200 OK or a repeated UPDATE does not spend a version.
    assert_eq!(leg.origin.version(), 1);
    // A port change does.
    leg.ports[0] = 20010;
    let moved = rewrite(&parse(BARESIP), &mut leg);
    assert_eq!(moved.origin.version(), Some(2));
}

#[test]
fn user_name_and_ipv6() {
    let mut leg = LegMedia::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), vec![30000], 9);
    leg.origin = OriginState::with_username("pbx-node-1", 9);
    let out = rewrite(&parse(SIPP_UAS), &mut leg);
    assert_eq!(origin_line(&out), "pbx-node-1 9 1 IN IP6 ::1");
}
