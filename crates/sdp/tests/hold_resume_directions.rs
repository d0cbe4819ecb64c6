//! Hold and resume work by relaying direction attributes across the legs: `sendonly`,
//! `recvonly` and `inactive` pass through rewrite and negotiation, and the RFC 2543 hold
//! (`c=0.0.0.0`, whose address the PBX must replace) is written out as the direction it meant.

#[path = "common/samples.rs"]
mod samples;

use std::net::{IpAddr, Ipv4Addr};

use samples::*;
use sdp::{Direction, LegMedia, SessionDescription, negotiate, rewrite};

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn offer(connection: &str, attribute: &str) -> SessionDescription {
    sdp(&format!(
        "v=0|o=- 1 2 IN IP4 127.0.0.20|s=-|c=IN IP4 {connection}|t=0 0|m=audio 4000 RTP/AVP 0 8|{attribute}"
    ))
}

fn answer(attribute: &str) -> SessionDescription {
    sdp(&format!(
        "v=0|o=- 1 2 IN IP4 127.0.0.21|s=-|c=IN IP4 127.0.0.21|t=0 0|m=audio 5000 RTP/AVP 0|{attribute}"
    ))
}

fn legs() -> (LegMedia, LegMedia) {
    (
        LegMedia::new(PBX, vec![20000], 1),
        LegMedia::new(PBX, vec![20002], 2),
    )
}

/// A re-INVITE from A with `held`, B answering `reply`: what B is offered, what A is answered.
fn hold_round(held: &SessionDescription, reply: &SessionDescription) -> (Direction, Direction) {
    let (mut leg_a, mut leg_b) = legs();
    let to_b = rewrite(held, &mut leg_b);
    let n = negotiate(held, reply, &mut leg_a).expect("negotiates");
    let stream = &n.streams[0];
    assert_eq!(stream.offerer_direction, held.direction_for(&held.media[0]));
    assert_eq!(
        stream.answerer_direction,
        reply.direction_for(&reply.media[0])
    );
    // The relay keeps running during hold: ports and address are the PBX's either way.
    assert_eq!(to_b.rtp_addr(&to_b.media[0]), Some((PBX, 20002).into()));
    assert_eq!(
        n.answer.rtp_addr(&n.answer.media[0]),
        Some((PBX, 20000).into())
    );
    (
        to_b.direction_for(&to_b.media[0]),
        n.answer.direction_for(&n.answer.media[0]),
    )
}

#[test]
fn sendonly_hold_and_recvonly_answer_pass_through() {
    let got = hold_round(&offer("127.0.0.20", "a=sendonly|"), &answer("a=recvonly|"));
    assert_eq!(got, (Direction::SendOnly, Direction::RecvOnly));
}

#[test]
fn inactive_passes_through() {
    let got = hold_round(&offer("127.0.0.20", "a=inactive|"), &answer("a=inactive|"));
    assert_eq!(got, (Direction::Inactive, Direction::Inactive));
}

#[test]
fn session_level_direction_passes_through() {
    let held = sdp(
        "v=0|o=- 1 2 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|a=sendonly|\
m=audio 4000 RTP/AVP 0|",
    );
    let got = hold_round(&held, &answer("a=recvonly|"));
    assert_eq!(got, (Direction::SendOnly, Direction::RecvOnly));
}

#[test]
fn rfc2543_hold_becomes_sendonly_towards_the_other_leg() {
    let held = offer("0.0.0.0", "");
    assert!(held.is_legacy_hold(&held.media[0]));
    let got = hold_round(&held, &answer("a=recvonly|"));
    assert_eq!(got, (Direction::SendOnly, Direction::RecvOnly));
    let (_, mut leg_b) = legs();
    let text = rewrite(&held, &mut leg_b).to_string();
    assert!(
        text.contains("c=IN IP4 127.0.0.1\r\n") && !text.contains("0.0.0.0"),
        "{text}"
    );
    assert!(text.ends_with("a=sendonly\r\n"), "{text}");
}

#[test]
fn rfc2543_hold_with_recvonly_becomes_inactive() {
    let got = hold_round(&offer("0.0.0.0", "a=recvonly|"), &answer("a=inactive|"));
    assert_eq!(got, (Direction::Inactive, Direction::Inactive));
}

#[test]
fn resume_goes_back_to_sendrecv_and_raises_the_version() {
    let (mut leg_a, mut leg_b) = legs();
    let call = rewrite(&offer("127.0.0.20", "a=sendrecv|"), &mut leg_b);
    let hold = rewrite(&offer("127.0.0.20", "a=sendonly|"), &mut leg_b);
    let resume = rewrite(&offer("127.0.0.20", "a=sendrecv|"), &mut leg_b);
    let dirs: Vec<Direction> = [&call, &hold, &resume]
        .iter()
        .map(|s| s.direction_for(&s.media[0]))
        .collect();
    assert_eq!(
        dirs,
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::SendRecv
        ]
    );
    let versions: Vec<Option<u64>> = [&call, &hold, &resume]
        .iter()
        .map(|s| s.origin.version())
        .collect();
    assert_eq!(versions, [Some(1), Some(2), Some(3)]);

    let n = negotiate(
        &offer("127.0.0.20", "a=sendrecv|"),
        &answer("a=sendrecv|"),
        &mut leg_a,
    )
    .expect("resumed");
    assert_eq!(
        n.answer.direction_for(&n.answer.media[0]),
        Direction::SendRecv
    );
}

#[test]
fn hold_from_the_callee_side_uses_the_same_calls() {
    // B puts A on hold: B is the offerer of this re-INVITE.
    let (mut leg_a, mut leg_b) = legs();
    let b_hold = answer("a=sendonly|");
    let to_a = rewrite(&b_hold, &mut leg_a);
    assert_eq!(to_a.direction_for(&to_a.media[0]), Direction::SendOnly);
    let a_reply = sdp(
        "v=0|o=- 1 3 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 4000 RTP/AVP 0|a=recvonly|",
    );
    let n = negotiate(&b_hold, &a_reply, &mut leg_b).expect("negotiates");
    assert_eq!(
        n.answer.direction_for(&n.answer.media[0]),
        Direction::RecvOnly
    );
    assert_eq!(n.answer.media[0].port, 20002);
}
