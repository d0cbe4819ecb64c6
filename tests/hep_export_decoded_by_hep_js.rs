//! `switchboard serve --hep ADDR:PORT` sends a call's SIP, both ways, and its RTCP to a Homer
//! collector as HEP3 over UDP, one frame per datagram, and an independent decoder (the npm
//! package hep-js, driven by `tests/peers/hep_decode.js`) reads every frame: the INVITE the
//! caller sent and the INVITE the PBX sent to the callee, both 200s, each with its real
//! addresses and ports, UDP, type 1 and its Call-ID as correlation id; and the callee's RTCP
//! (sent by the test toward the PBX's RTCP port of the callee's leg) as type 5 JSON with the
//! caller's Call-ID as correlation id, the test's socket as source and that port as
//! destination.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Json;

const RTP_LO: u16 = 26500;
const RTP_HI: u16 = 26599;

/// The UDP collector: every datagram, in arrival order, until stopped.
struct Collector {
    addr: SocketAddr,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Collector {
    fn start() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("collector");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (frames.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    f.lock().expect("frames").push(buf[..n].to_vec());
                }
            }
        });
        Self {
            addr,
            frames,
            stop,
            thread,
        }
    }

    fn snapshot(&self) -> Vec<Vec<u8>> {
        self.frames.lock().expect("frames").clone()
    }

    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("collector thread");
        Arc::try_unwrap(self.frames)
            .expect("one owner")
            .into_inner()
            .expect("frames")
    }
}

/// The relay port the PBX offered the callee: the `m=audio` port, within the test's range,
/// of the INVITE the PBX sent (found in the raw frames, before any decoding).
fn callee_relay_port(frames: &[Vec<u8>]) -> Option<u16> {
    frames.iter().find_map(|f| {
        let text = String::from_utf8_lossy(f);
        let invite = text.find("INVITE sip:")?;
        text[invite..].lines().find_map(|l| {
            let port: u16 = l
                .strip_prefix("m=audio ")?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            (RTP_LO..=RTP_HI).contains(&port).then_some(port)
        })
    })
}

/// An RTCP receiver report with no report blocks.
fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// One frame as hep-js decoded it.
struct Decoded(Json);

impl Decoded {
    fn info(&self, key: &str) -> Option<&Json> {
        self.0.get("rcinfo")?.get(key)
    }
    fn num(&self, key: &str) -> u64 {
        self.info(key).and_then(Json::as_u64).unwrap_or(u64::MAX)
    }
    fn text(&self, key: &str) -> String {
        self.info(key).and_then(Json::as_str).unwrap_or_default()
    }
    fn payload(&self) -> String {
        self.0
            .get("payload")
            .and_then(Json::as_str)
            .unwrap_or_default()
    }
    fn src(&self) -> (String, u64) {
        (self.text("srcIp"), self.num("srcPort"))
    }
    fn dst(&self) -> (String, u64) {
        (self.text("dstIp"), self.num("dstPort"))
    }
    fn header(&self, name: &str) -> Option<String> {
        let payload = self.payload();
        payload.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

#[test]
fn hep_export_decoded_by_hep_js() {
    let Some(script) = common::hep_js() else {
        return;
    };
    if common::peer("sipp").is_none() {
        return;
    }
    let collector = Collector::start();
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let hep_flag = collector.addr.to_string();
    let server = common::Server::start_with_config(&config, &["--hep", &hep_flag]);
    let pbx = server.sip.port();

    // user0 registers from the port its UAS then listens on; its media is a socket of ours.
    let callee_port = common::free_udp_port();
    common::sipp_register_from(server.sip, "users.csv", callee_port);
    let callee_media = common::RtpSocket::start(false);
    let callee_rtp = callee_media.addr.port().to_string();
    let callee_sipp_media = common::free_udp_ports(4).to_string();
    let uas = common::sipp_spawn(
        "call_uas_answer.xml",
        server.sip,
        callee_port,
        &["-key", "rtp_port", &callee_rtp, "-mp", &callee_sipp_media],
    );

    // While the call lasts, the callee's "phone" sends RTCP to the PBX's RTCP port of its
    // leg, as soon as the INVITE the PBX sent to it shows that port.
    let rtcp_sock = UdpSocket::bind("127.0.0.1:0").expect("rtcp socket");
    let rtcp_from = rtcp_sock.local_addr().expect("rtcp addr");
    let stop_rtcp = Arc::new(AtomicBool::new(false));
    let frames_seen = collector.frames.clone();
    let stop = stop_rtcp.clone();
    let rtcp_thread = std::thread::spawn(move || {
        let mut sent_to = None;
        while !stop.load(Ordering::Relaxed) {
            let port = callee_relay_port(&frames_seen.lock().expect("frames"));
            if let Some(port) = port {
                let to = SocketAddr::from(([127, 0, 0, 1], port + 1));
                let _ = rtcp_sock.send_to(&rtcp_rr(0x5eed_0001), to);
                sent_to = Some(to);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        sent_to
    });

    let caller_media = common::free_udp_ports(4);
    let uac = common::sipp_with(
        "call_uac_rtp.xml",
        server.sip,
        false,
        1,
        &[
            "-inf",
            "call_user1.csv",
            "-s",
            "user0",
            "-mp",
            &caller_media.to_string(),
        ],
    );
    let uas = common::sipp_join(uas);
    stop_rtcp.store(true, Ordering::Relaxed);
    let rtcp_to = rtcp_thread.join().expect("rtcp thread");
    callee_media.finish();
    assert!(uac.success, "caller:\n{}", uac.output);
    assert!(uas.success, "callee:\n{}", uas.output);
    let rtcp_to = rtcp_to.expect("the PBX's INVITE to the callee was captured during the call");

    // The last frames (BYE, 200) may still be on their way: wait for the BYE's 200.
    for _ in 0..100 {
        let done = collector
            .snapshot()
            .iter()
            .filter(|f| {
                let t = String::from_utf8_lossy(f);
                t.contains("SIP/2.0 200") && t.contains(" BYE\r\n")
            })
            .count();
        if done >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let frames = collector.finish();
    assert!(!frames.is_empty(), "no HEP frame reached the collector");
    // The export's counters reach /metrics (copied once a second): at least what arrived.
    (0..50)
        .find_map(|_| {
            let (_, text) = common::http(server.http, "GET", "/metrics", None);
            let sent: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("switchboard_hep_frames_sent_total "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if sent >= frames.len() as u64 {
                return Some(sent);
            }
            std::thread::sleep(Duration::from_millis(100));
            None
        })
        .expect("switchboard_hep_frames_sent_total below the frames received");

    // Decode with hep-js.
    let decoded: Vec<Decoded> = common::hep_js_decode(&script, &frames)
        .into_iter()
        .map(Decoded)
        .collect();
    assert_eq!(decoded.len(), frames.len());
    for d in &decoded {
        assert_eq!(
            d.0.get("ok"),
            Some(&Json::Bool(true)),
            "hep-js refused a frame"
        );
        assert_eq!(d.num("protocolFamily"), 2);
        assert_eq!(d.num("protocol"), 17);
        assert_eq!(d.num("captureId"), 1);
        assert!(d.num("timeSeconds") > 1_600_000_000);
        assert!(d.num("timeUseconds") < 1_000_000);
    }
    let sip: Vec<&Decoded> = decoded
        .iter()
        .filter(|d| d.num("payloadType") == 1)
        .collect();
    let local = ("127.0.0.1".to_owned(), u64::from(pbx));
    // Every SIP frame carries its own Call-ID as correlation id.
    for d in &sip {
        assert_eq!(
            Some(d.text("correlation_id")),
            d.header("Call-ID"),
            "{}",
            d.payload()
        );
    }
    let first_line = |d: &&Decoded| d.payload().lines().next().unwrap_or_default().to_owned();
    let cseq_invite = |d: &&&Decoded| d.header("CSeq").is_some_and(|c| c.ends_with("INVITE"));

    // The caller's INVITE, received (the authenticated one: the last INVITE to arrive).
    let received = sip
        .iter()
        .rfind(|d| first_line(d).starts_with("INVITE sip:user0@") && d.dst() == local)
        .expect("the caller's INVITE was captured");
    let caller = received.src();
    assert_eq!(caller.0, "127.0.0.1");
    assert_ne!(caller.1, u64::from(callee_port));
    let a_call_id = received.text("correlation_id");
    // The INVITE the PBX sent the callee: from the PBX's port to the callee's.
    let sent = sip
        .iter()
        .find(|d| first_line(d).starts_with("INVITE ") && d.src() == local)
        .expect("the INVITE to the callee was captured");
    assert_eq!(sent.dst(), ("127.0.0.1".to_owned(), u64::from(callee_port)));
    let b_call_id = sent.text("correlation_id");
    assert!(!b_call_id.is_empty() && b_call_id != a_call_id);
    // Their 200s: the callee's, received, and ours to the caller.
    assert!(
        sip.iter().filter(cseq_invite).any(|d| {
            first_line(d).starts_with("SIP/2.0 200")
                && d.src() == ("127.0.0.1".to_owned(), u64::from(callee_port))
                && d.dst() == local
                && d.text("correlation_id") == b_call_id
        }),
        "the callee's 200 was not captured"
    );
    assert!(
        sip.iter().filter(cseq_invite).any(|d| {
            first_line(d).starts_with("SIP/2.0 200")
                && d.src() == local
                && d.dst() == caller
                && d.text("correlation_id") == a_call_id
        }),
        "the 200 to the caller was not captured"
    );

    // RTCP: type 5, the caller's Call-ID, from the test's socket to the PBX's RTCP port.
    let rtcp: Vec<&Decoded> = decoded
        .iter()
        .filter(|d| d.num("payloadType") == 5)
        .collect();
    assert!(!rtcp.is_empty(), "no RTCP frame");
    for d in &rtcp {
        assert_eq!(d.text("correlation_id"), a_call_id);
        assert_eq!(
            d.src(),
            ("127.0.0.1".to_owned(), u64::from(rtcp_from.port()))
        );
        assert_eq!(d.dst(), ("127.0.0.1".to_owned(), u64::from(rtcp_to.port())));
        let report = Json::parse(&d.payload()).expect("RTCP as JSON");
        assert_eq!(report.get("type").and_then(Json::as_u64), Some(201));
        assert_eq!(report.get("ssrc").and_then(Json::as_u64), Some(0x5eed_0001));
    }
}
