//! A live call's RTP as files, after Plan 9's `/net/udp` data files: py9p (an independent 9P
//! client) opens the caller's `rtp_src.sock` and each read returns exactly one whole RTP
//! packet, bare, the very packets the caller sent; a packet written to `rtp_dest.sock` arrives
//! at the callee's media address; `metadata` counts the open socket.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::Json;

/// An RTP packet as a G.711 phone sends it: version 2, PT 8, 160 bytes of payload.
fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rtp_sockets_read_whole_packets_and_inject() {
    if common::peer("sipp").is_none() || !common::py9p() {
        return;
    }
    let config = common::call_config(2, "25300-25399", "");
    let server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;
    let callee_sock = UdpSocket::bind("127.0.0.1:0").expect("callee media");
    let callee_port = callee_sock.local_addr().expect("addr").port().to_string();
    let callee = common::RtpSocket::start_on(callee_sock, false);
    let call = std::thread::spawn(move || {
        common::sipp_call(
            sip,
            "call_uas_answer.xml",
            &["-key", "rtp_port", &callee_port],
            "call_uac_hung_up.xml",
            &[],
        )
    });
    let addr = common::ninep_tcp(server.ninep);
    let caller = Some(("user1@127.0.0.1", "pw1"));
    let dir = "/ongoing/user1_user0";

    // The call is up: its relay port facing the caller.
    let end = Instant::now() + Duration::from_secs(20);
    let mut caller_port = None;
    while Instant::now() < end && caller_port.is_none() {
        let out = common::ninep_py(&addr, caller, &["cat", &format!("{dir}/metadata")]);
        caller_port = out[1]
            .get("data")
            .and_then(Json::as_str)
            .and_then(|d| Json::parse(&d))
            .filter(|m| m.get("state").and_then(Json::as_str).as_deref() == Some("up"))
            .and_then(|m| m.get("media")?.get("caller_port")?.as_u64());
        std::thread::sleep(Duration::from_millis(100));
    }
    let caller_port = u16::try_from(caller_port.expect("call up with media")).expect("port");

    // The caller's RTP, from 127.0.0.1 (its signalling address: the relay latches onto it),
    // 20 ms apart, for as long as the reads below may take.
    let sender = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("caller media");
        for seq in 1..=250u16 {
            let _ = sock.send_to(&rtp(seq), ("127.0.0.1", caller_port));
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    let injected = rtp(9000);
    let out = common::ninep_py(
        &addr,
        caller,
        &[
            "sockread",
            &format!("{dir}/rtp_src.sock"),
            "5",
            "cat",
            &format!("{dir}/metadata"),
            "sockwrite",
            &format!("{dir}/rtp_dest.sock"),
            &hex(&injected),
        ],
    );
    let packets: Vec<String> = match out[1].get("packets") {
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    };
    assert_eq!(packets.len(), 5, "{out:?}");
    let mut last_seq = 0u16;
    for p in &packets {
        // One whole packet per read, exactly as sent: 12 bytes of header and 160 of payload.
        assert_eq!(p.len(), 2 * 172, "{p}");
        let seq = u16::from_str_radix(&p[4..8], 16).expect("seq");
        assert_eq!(*p, hex(&rtp(seq)), "packet {seq} as the caller sent it");
        assert!(seq > last_seq, "in order: {packets:?}");
        last_seq = seq;
    }
    let meta = Json::parse(
        &out[2]
            .get("data")
            .and_then(Json::as_str)
            .unwrap_or_default(),
    )
    .expect("metadata");
    let sockets = match meta.get("sockets") {
        Some(Json::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    assert_eq!(sockets.len(), 1, "{meta:?}");
    assert_eq!(
        sockets[0].get("file").and_then(Json::as_str).as_deref(),
        Some("rtp_src.sock")
    );
    assert_eq!(
        out[3].get("count").and_then(Json::as_u64),
        Some(172),
        "{out:?}"
    );

    // A non-RTP write is refused.
    let out = common::ninep_py(
        &addr,
        caller,
        &["sockwrite", &format!("{dir}/rtp_dest.sock"), "00ff"],
    );
    assert_eq!(out[1].get("ok"), Some(&Json::Bool(false)), "{out:?}");

    let out = common::ninep_py(&addr, caller, &["write", &format!("{dir}/ctl"), "hangup"]);
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    sender.join().expect("sender");
    let seen = callee.finish();
    assert!(
        seen.seqs.contains(&9000),
        "the injected packet reached the callee's media address: {seen:?}"
    );
}
