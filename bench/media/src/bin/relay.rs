//! Relay harness: opens one session per call of a phones file on a media engine, points
//! each leg at its phone (signalling IP and SDP address = the phone's), writes the ports
//! file for `gen`, and relays until a stop file appears (at most `--max-seconds`).
//!
//! ```text
//! relay --phones FILE --ports-out FILE --stop-file FILE [--engine switchboard|tokio|floor...]
//!       [--workers 1] [--range 10000-19999] [--bind 127.0.0.1] [--max-seconds 600]
//!       [--realtime PRIORITY]
//! ```
//!
//! `--engine switchboard` is `net::media::MediaEngine` (dedicated relay threads on epoll);
//! `--realtime N` runs its threads under `SCHED_FIFO` at priority N (`realtime_priority`).
//! `--engine floor`, `floor-conn`, `floor-et`, `floor-mmsg`, `floor-mmsg-conn`: the least a
//! userspace relay can do per packet (`media_bench::floor`: one receive and one send, nothing
//! else), in several ways of calling the kernel.
//! `--engine tokio` is the design it was measured against: the same `media::Session` core
//! and the same sockets, but one tokio task per session on a multi-threaded runtime with
//! `--workers` threads, waking on socket readiness.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use media::{
    Component, Leg, LegRemote, MediaControl, PortAllocator, PortRange, Session, SessionOptions,
    Verdict,
};
use media_bench::{Args, read_pairs, wait_for, write_pairs};
use net::media::{MediaConfig, MediaEngine};

fn main() {
    let args = Args::from_env();
    let phones = read_pairs(&PathBuf::from(args.required("phones"))).expect("phones file");
    let ports_out = PathBuf::from(args.required("ports-out"));
    let stop_file = PathBuf::from(args.required("stop-file"));
    let workers: usize = args.get("workers", 1);
    let range: PortRange = args.get("range", PortRange::new(10000, 19999).unwrap());
    let bind: IpAddr = args.get("bind", IpAddr::from([127, 0, 0, 1]));
    let max = Duration::from_secs(args.get("max-seconds", 600));
    let engine = args.value("engine").unwrap_or("switchboard").to_owned();
    let remote = |phone: SocketAddr| LegRemote::new(phone.ip(), phone);

    match engine.as_str() {
        "switchboard" => {
            let IpAddr::V4(v4) = bind else {
                panic!("IPv4 bind address expected")
            };
            let engine = MediaEngine::start(MediaConfig {
                bind_v4: Some(v4),
                ports: range,
                workers,
                max_sessions: phones.len().max(1),
                realtime_priority: args
                    .value("realtime")
                    .map(|p| p.parse().expect("--realtime 1-99")),
                ..MediaConfig::default()
            })
            .expect("start engine");
            eprintln!(
                "relay switchboard: real-time scheduling {:?}",
                engine.realtime()
            );
            let mut ports = Vec::with_capacity(phones.len());
            for &(a, b) in &phones {
                let info = engine.open(SessionOptions::new()).expect("open session");
                engine.set_remote(info.id, Leg::A, remote(a)).unwrap();
                engine.set_remote(info.id, Leg::B, remote(b)).unwrap();
                ports.push((info.leg(Leg::A).rtp, info.leg(Leg::B).rtp));
            }
            write_pairs(&ports_out, &ports).expect("write ports file");
            let _ = wait_for(&stop_file, max);
            eprintln!(
                "relay switchboard: sessions={} relayed={} dropped={}",
                engine.active_sessions(),
                engine.packets_relayed(),
                engine.packets_dropped()
            );
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .unwrap();
            let mut allocator = PortAllocator::new(range, Duration::ZERO);
            let now = Instant::now();
            let mut ports = Vec::with_capacity(phones.len());
            rt.block_on(async {
                for &(a, b) in &phones {
                    let mut session = Session::new(SessionOptions::new().core);
                    session.set_remote(Leg::A, remote(a));
                    session.set_remote(Leg::B, remote(b));
                    let mut legs = Vec::new();
                    for _ in 0..2 {
                        let pair = allocator.allocate(now).expect("ports");
                        let rtp = tokio::net::UdpSocket::bind(SocketAddr::new(bind, pair.rtp()))
                            .await
                            .expect("bind");
                        let rtcp = tokio::net::UdpSocket::bind(SocketAddr::new(bind, pair.rtcp()))
                            .await
                            .expect("bind");
                        legs.push((rtp, rtcp));
                    }
                    ports.push((
                        legs[0].0.local_addr().unwrap(),
                        legs[1].0.local_addr().unwrap(),
                    ));
                    let (b_rtp, b_rtcp) = legs.pop().unwrap();
                    let (a_rtp, a_rtcp) = legs.pop().unwrap();
                    tokio::spawn(session_task([[a_rtp, a_rtcp], [b_rtp, b_rtcp]], session));
                }
            });
            write_pairs(&ports_out, &ports).expect("write ports file");
            let _ = wait_for(&stop_file, max);
            eprintln!("relay tokio: sessions={}", phones.len());
            rt.shutdown_background();
        }
        floor => {
            let mode = media_bench::floor::Mode::from_engine(floor)
                .unwrap_or_else(|| panic!("unknown engine {floor}"));
            let relay = media_bench::floor::Floor::start(mode, &phones, bind, workers)
                .expect("start floor relay");
            write_pairs(&ports_out, &relay.ports).expect("write ports file");
            let _ = wait_for(&stop_file, max);
            eprintln!("relay {floor}: relayed={}", relay.stop());
        }
    }
}

/// One session's relay as a tokio task: wait for any of the four sockets, drain it.
async fn session_task(sockets: [[tokio::net::UdpSocket; 2]; 2], mut session: Session) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (leg, component) = tokio::select! {
            r = sockets[0][0].readable() => { if r.is_err() { return; } (Leg::A, Component::Rtp) }
            r = sockets[0][1].readable() => { if r.is_err() { return; } (Leg::A, Component::Rtcp) }
            r = sockets[1][0].readable() => { if r.is_err() { return; } (Leg::B, Component::Rtp) }
            r = sockets[1][1].readable() => { if r.is_err() { return; } (Leg::B, Component::Rtcp) }
        };
        let socket = &sockets[leg.index()][component.index()];
        for _ in 0..32 {
            let (n, source) = match socket.try_recv_from(&mut buf) {
                Ok(got) => got,
                Err(_) => break,
            };
            let now = Instant::now();
            if let Verdict::Forward {
                via,
                component: out,
                to,
                ..
            } = session.on_packet(leg, component, source, now, &mut buf[..n])
            {
                let _ = sockets[via.index()][out.index()].try_send_to(&buf[..n], to);
            }
        }
    }
}
