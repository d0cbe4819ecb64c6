//! A tiny client of rtpengine's ng control protocol (bencode over UDP): one offer and one
//! answer per call of a phones file, with plain RTP/AVP PCMU SDP naming each phone's
//! address; writes the ports file (where each phone must send, read from the SDP rtpengine
//! returns). `--delete` deletes the calls instead.
//!
//! `--query` sets nothing up: it reads the calls that already run in rtpengine (set up by
//! someone else, e.g. SIPp through Kamailio: `bench/calls.sh`) with `list` and `query`, and
//! writes a ports file with one line per call: the port facing the caller (the monologue
//! whose tag contains `--caller-mark`), then the port facing the callee (the other one).
//!
//! ```text
//! ng --ng 127.0.0.1:PORT --phones FILE (--ports-out FILE | --delete) [--prefix run1]
//! ng --ng 127.0.0.1:PORT --query --ports-out FILE [--caller-mark caller] [--calls N]
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use media_bench::{Args, read_pairs, write_pairs};

/// A bencode value.
#[derive(Debug, Clone)]
enum Value {
    Bytes(Vec<u8>),
    Int(i64),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Bytes(b) => {
            out.extend_from_slice(format!("{}:", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
        Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Value::List(l) => {
            out.push(b'l');
            l.iter().for_each(|v| encode(v, out));
            out.push(b'e');
        }
        Value::Dict(d) => {
            out.push(b'd');
            for (k, v) in d {
                encode(&Value::Bytes(k.clone()), out);
                encode(v, out);
            }
            out.push(b'e');
        }
    }
}

fn decode(input: &[u8]) -> Option<(Value, &[u8])> {
    match *input.first()? {
        b'i' => {
            let end = input.iter().position(|&c| c == b'e')?;
            let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
            Some((Value::Int(n), &input[end + 1..]))
        }
        b'l' => {
            let mut rest = &input[1..];
            let mut items = Vec::new();
            while *rest.first()? != b'e' {
                let (v, r) = decode(rest)?;
                items.push(v);
                rest = r;
            }
            Some((Value::List(items), &rest[1..]))
        }
        b'd' => {
            let mut rest = &input[1..];
            let mut map = BTreeMap::new();
            while *rest.first()? != b'e' {
                let (Value::Bytes(k), r) = decode(rest)? else {
                    return None;
                };
                let (v, r) = decode(r)?;
                map.insert(k, v);
                rest = r;
            }
            Some((Value::Dict(map), &rest[1..]))
        }
        b'0'..=b'9' => {
            let colon = input.iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
            let body = input.get(colon + 1..colon + 1 + len)?;
            Some((Value::Bytes(body.to_vec()), &input[colon + 1 + len..]))
        }
        _ => None,
    }
}

fn dict(pairs: &[(&str, &str)]) -> Value {
    Value::Dict(
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::Bytes(v.as_bytes().to_vec())))
            .collect(),
    )
}

/// Sends one command and returns the reply dictionary (3 tries, 2 s each).
fn call(sock: &UdpSocket, ng: SocketAddr, cookie: &str, msg: &Value) -> BTreeMap<Vec<u8>, Value> {
    let mut out = format!("{cookie} ").into_bytes();
    encode(msg, &mut out);
    let mut buf = vec![0u8; 65536];
    for _ in 0..3 {
        sock.send_to(&out, ng).expect("send to rtpengine");
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let reply = &buf[..n];
        let Some(space) = reply.iter().position(|&c| c == b' ') else {
            continue;
        };
        if &reply[..space] != cookie.as_bytes() {
            continue;
        }
        if let Some((Value::Dict(d), _)) = decode(&reply[space + 1..]) {
            return d;
        }
    }
    panic!("no answer from rtpengine at {ng} for {cookie}");
}

fn text(d: &BTreeMap<Vec<u8>, Value>, key: &str) -> String {
    match d.get(key.as_bytes()) {
        Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn sdp(phone: SocketAddr, version: u32) -> String {
    format!(
        "v=0\r\no=- {version} {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        ip = phone.ip(),
        port = phone.port()
    )
}

/// The `c=` address and `m=audio` port of an SDP.
fn media_addr(sdp: &str) -> SocketAddr {
    let mut ip = None;
    let mut port = None;
    for line in sdp.lines() {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip = Some(c.trim().to_owned());
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next().map(str::to_owned);
        }
    }
    format!("{}:{}", ip.expect("c= in SDP"), port.expect("m= in SDP"))
        .parse()
        .expect("address in SDP")
}

/// The RTP `local address`/`local port` of the first stream of a monologue (a `tags` entry
/// of a `query` reply): where that party sends.
fn local_rtp(monologue: &Value) -> Option<SocketAddr> {
    let Value::Dict(m) = monologue else {
        return None;
    };
    let Some(Value::List(medias)) = m.get(&b"medias"[..]) else {
        return None;
    };
    let Some(Value::Dict(media)) = medias.first() else {
        return None;
    };
    let Some(Value::List(streams)) = media.get(&b"streams"[..]) else {
        return None;
    };
    // The RTP stream comes first, then RTCP; take the one flagged RTP.
    streams.iter().find_map(|s| {
        let Value::Dict(s) = s else { return None };
        let rtp = matches!(s.get(&b"flags"[..]), Some(Value::List(f))
            if f.iter().any(|f| matches!(f, Value::Bytes(b) if b == b"RTP")));
        let (Some(Value::Int(port)), addr) = (s.get(&b"local port"[..]), text(s, "local address"))
        else {
            return None;
        };
        if !rtp {
            return None;
        }
        format!("{addr}:{port}").parse().ok()
    })
}

/// `--query`: the ports file of the calls rtpengine holds.
fn query(args: &Args, sock: &UdpSocket, ng: SocketAddr, run: &str) {
    let ports_out = PathBuf::from(args.required("ports-out"));
    let mark = args.value("caller-mark").unwrap_or("caller").to_owned();
    let list = call(
        sock,
        ng,
        &format!("{run}-list"),
        &Value::Dict(BTreeMap::from([
            (b"command".to_vec(), Value::Bytes(b"list".to_vec())),
            (b"limit".to_vec(), Value::Int(1_000_000)),
        ])),
    );
    let Some(Value::List(ids)) = list.get(&b"calls"[..]) else {
        panic!("list: {list:?}");
    };
    let mut ports = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let Value::Bytes(id) = id else { continue };
        let id = String::from_utf8_lossy(id).into_owned();
        let q = call(
            sock,
            ng,
            &format!("{run}-q{i}"),
            &dict(&[("command", "query"), ("call-id", &id)]),
        );
        let Some(Value::Dict(tags)) = q.get(&b"tags"[..]) else {
            eprintln!("ng: call {id}: no tags in the query reply, skipped");
            continue;
        };
        let (callers, callees): (Vec<_>, Vec<_>) = tags
            .iter()
            .partition(|(tag, _)| String::from_utf8_lossy(tag).contains(&mark));
        match (&callers[..], &callees[..]) {
            ([(_, a)], [(_, b)]) => match (local_rtp(a), local_rtp(b)) {
                (Some(a), Some(b)) => ports.push((a, b)),
                _ => eprintln!("ng: call {id}: no RTP stream on a side, skipped"),
            },
            _ => eprintln!(
                "ng: call {id}: {} tags with {mark:?}, {} without: not one caller and one callee, skipped",
                callers.len(),
                callees.len()
            ),
        }
    }
    if let Some(want) = args.value("calls").and_then(|n| n.parse::<usize>().ok())
        && want != ports.len()
    {
        eprintln!("ng: {} calls with both sides, expected {want}", ports.len());
        std::process::exit(1);
    }
    write_pairs(&ports_out, &ports).expect("write ports file");
}

fn main() {
    let args = Args::from_env();
    let ng: SocketAddr = args.required("ng").parse().expect("--ng ADDR:PORT");
    if args.flag("query") {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // rtpengine answers a cookie it has seen with its cached reply: unique per invocation.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        query(
            &args,
            &sock,
            ng,
            &format!("query-{}-{nanos}", std::process::id()),
        );
        return;
    }
    let phones = read_pairs(&PathBuf::from(args.required("phones"))).expect("phones file");
    let prefix = args.value("prefix").unwrap_or("bench").to_owned();
    // rtpengine answers a cookie it has seen with its cached reply: cookies must be unique
    // across runs, not only within one.
    let run = format!("{prefix}-{}", std::process::id());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if args.flag("delete") {
        for i in 0..phones.len() {
            let (cid, ft) = (format!("{prefix}-{i}"), format!("a{i}"));
            call(
                &sock,
                ng,
                &format!("{run}-d{i}"),
                &dict(&[("command", "delete"), ("call-id", &cid), ("from-tag", &ft)]),
            );
        }
        return;
    }
    let ports_out = PathBuf::from(args.required("ports-out"));
    let mut ports = Vec::with_capacity(phones.len());
    for (i, &(a, b)) in phones.iter().enumerate() {
        let (cid, ft, tt) = (format!("{prefix}-{i}"), format!("a{i}"), format!("b{i}"));
        let offer = call(
            &sock,
            ng,
            &format!("{run}-o{i}"),
            &dict(&[
                ("command", "offer"),
                ("call-id", &cid),
                ("from-tag", &ft),
                ("sdp", &sdp(a, 1)),
                ("ICE", "remove"),
            ]),
        );
        assert_eq!(text(&offer, "result"), "ok", "offer: {offer:?}");
        // The offer rtpengine passes on to the callee names where the callee sends.
        let to_b = media_addr(&text(&offer, "sdp"));
        let answer = call(
            &sock,
            ng,
            &format!("{run}-a{i}"),
            &dict(&[
                ("command", "answer"),
                ("call-id", &cid),
                ("from-tag", &ft),
                ("to-tag", &tt),
                ("sdp", &sdp(b, 1)),
                ("ICE", "remove"),
            ]),
        );
        assert_eq!(text(&answer, "result"), "ok", "answer: {answer:?}");
        let to_a = media_addr(&text(&answer, "sdp"));
        ports.push((to_a, to_b));
    }
    write_pairs(&ports_out, &ports).expect("write ports file");
}
