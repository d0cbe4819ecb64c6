//! RTP generator and sink: N calls, each with two phones (caller, callee) that send one
//! 172-byte G.711 packet every 20 ms to their relay port and receive the other phone's
//! packets. Each packet carries its stream, sequence number and send time; the sink counts
//! loss, misrouted packets and one-way latency (send to receive, both in this process).
//!
//! ```text
//! gen --calls N --phones-out FILE (--ports-in FILE | --direct) [--warmup S] [--seconds S]
//!     [--relay-pid-file FILE] [--also-pids "PID PID..."] [--clk-tck 100] [--bind 127.0.0.1]
//!     [--label NAME] [--senders 2] [--early-us 1000]
//! ```
//!
//! `--also-pids`: other processes whose CPU time (summed) is read at the same edges and
//! printed as `also_cpu_s`, e.g. Kamailio's, beside rtpengine as the relay.
//!
//! Each sender thread sends, at each wake-up, every packet due within the next `--early-us`
//! (1 ms), so a stream's packets leave up to 1 ms early but keep their 20 ms spacing on
//! average; the send time stamped is the real one.
//!
//! It binds 2N sockets, writes the phones file, waits for the ports file (any relay that
//! wrote it: our harness, the rtpengine ng client, SIPp-driven calls), then sends for
//! `warmup + seconds`. Only packets sent inside the measured window count; the relay's CPU
//! time (`/proc/PID/stat`, all its threads) is read at the window's edges. Everything is
//! bounded: the run lasts warmup + seconds + 1 s, the files are waited for at most 120 s.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use media_bench::{
    Args, Histogram, PACKET_LEN, build_packet, cpu_ticks, parse_packet, read_pairs, wait_for,
    write_pairs,
};
use mio::{Events, Interest, Poll, Token};

const PERIOD: Duration = Duration::from_millis(20);

fn main() {
    let args = Args::from_env();
    let calls: usize = args.get("calls", 100);
    let warmup = Duration::from_secs_f64(args.get("warmup", 3.0));
    let measured = Duration::from_secs_f64(args.get("seconds", 10.0));
    let bind: IpAddr = args.get("bind", IpAddr::from([127, 0, 0, 1]));
    let clk_tck: f64 = args.get("clk-tck", 100.0);
    let label = args.value("label").unwrap_or("relay").to_owned();
    let phones_out = PathBuf::from(args.required("phones-out"));
    let direct = args.flag("direct");

    // Phone 2i is call i's caller, 2i+1 its callee.
    let sockets: Vec<UdpSocket> = (0..2 * calls)
        .map(|_| UdpSocket::bind(SocketAddr::new(bind, 0)).expect("bind phone"))
        .collect();
    let phones: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let pairs: Vec<_> = phones.chunks(2).map(|c| (c[0], c[1])).collect();
    write_pairs(&phones_out, &pairs).expect("write phones file");

    let ports = if direct {
        // Baseline: each phone sends straight to the other.
        pairs.iter().map(|&(a, b)| (b, a)).collect()
    } else {
        let ports_in = PathBuf::from(args.required("ports-in"));
        wait_for(&ports_in, Duration::from_secs(120)).expect("ports file");
        read_pairs(&ports_in).expect("read ports file")
    };
    assert_eq!(ports.len(), calls, "one line per call in the ports file");
    let relay_pid: Option<u32> = args.value("relay-pid-file").map(|f| {
        let f = PathBuf::from(f);
        wait_for(&f, Duration::from_secs(120)).expect("relay pid file");
        std::fs::read_to_string(&f)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    });
    let also_pids: Vec<u32> = args
        .value("also-pids")
        .map(|p| {
            p.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let show_also = args.value("also-pids").is_some();
    // Stream 2i: caller to its relay port; 2i+1: callee to its relay port.
    let dests: Vec<SocketAddr> = ports.iter().flat_map(|&(a, b)| [a, b]).collect();

    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(200);
    let window_start = start + warmup;
    let window_end = window_start + measured;
    let stop = Arc::new(AtomicBool::new(false));
    let sent_in_window = Arc::new(AtomicU64::new(0));

    // The sink: every phone's socket, cloned, on one poller.
    let receivers: Vec<mio::net::UdpSocket> = sockets
        .iter()
        .map(|s| {
            let c = s.try_clone().unwrap();
            c.set_nonblocking(true).unwrap();
            mio::net::UdpSocket::from_std(c)
        })
        .collect();
    let sink = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || sink(receivers, epoch, window_start, window_end, &stop))
    };

    // CPU of the relay at the window's edges.
    let cpu = std::thread::spawn(move || {
        let read = || relay_pid.and_then(cpu_ticks);
        let own = || cpu_ticks(std::process::id());
        // A process that has gone counts as nothing.
        let also = || -> u64 { also_pids.iter().filter_map(|&p| cpu_ticks(p)).sum() };
        std::thread::sleep(window_start.saturating_duration_since(Instant::now()));
        let (r0, g0, a0) = (read(), own(), also());
        std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
        let (r1, g1, a1) = (read(), own(), also());
        (
            r0.zip(r1).map(|(a, b)| b - a),
            g0.zip(g1).map(|(a, b)| b - a),
            a1.saturating_sub(a0),
        )
    });

    // The senders: stream s sends at start + s * PERIOD / streams + k * PERIOD; sender t of
    // `senders` threads takes the streams with s % senders == t.
    let streams = dests.len();
    let senders: usize = args.get("senders", 2).max(1);
    let early = Duration::from_micros(args.get("early-us", 1000));
    let sockets = Arc::new(sockets);
    let dests = Arc::new(dests);
    let threads: Vec<_> = (0..senders)
        .map(|t| {
            let (sockets, dests, sent_in_window) = (
                Arc::clone(&sockets),
                Arc::clone(&dests),
                Arc::clone(&sent_in_window),
            );
            std::thread::spawn(move || {
                let mut packet = [0u8; PACKET_LEN];
                let mut k: u64 = 0;
                'rounds: loop {
                    let round = start + PERIOD * k as u32;
                    for s in (t..streams).step_by(senders) {
                        let due = round + PERIOD * s as u32 / streams as u32;
                        if due >= window_end {
                            break 'rounds;
                        }
                        // Packets due within `early` are sent at once: one wake-up per
                        // `early` instead of one per packet keeps the generator light.
                        let now = Instant::now();
                        if due > now + early {
                            std::thread::sleep(due - now - early);
                        }
                        let sent = Instant::now();
                        let sent_ns = (sent - epoch).as_nanos() as u64;
                        build_packet(&mut packet, s as u32, k, sent_ns);
                        if sockets[s].send_to(&packet, dests[s]).is_ok()
                            && sent >= window_start
                            && sent < window_end
                        {
                            sent_in_window.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    k += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Let the last packets arrive.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let result = sink.join().unwrap();
    let (relay_ticks, gen_ticks, also_ticks) = cpu.join().unwrap();
    let sent = sent_in_window.load(Ordering::Relaxed);
    let lost = sent.saturating_sub(result.received);
    let secs = measured.as_secs_f64();
    let relay_cpu = relay_ticks.map(|t| t as f64 / clk_tck);
    let per_1000 = relay_cpu.map(|c| c / (result.received as f64 / 1000.0));
    print!(
        "label={label} calls={calls} streams={streams} seconds={secs} sent={sent} received={} lost={lost} \
         loss_pct={:.4} misrouted={} pps={:.0} relay_cpu_s={} cpu_ms_per_1000={} cpu_us_per_pkt={} \
         lat_p50_us={:.0} lat_p99_us={:.0} lat_p999_us={:.0} lat_max_us={:.0} gen_cpu_s={}",
        result.received,
        100.0 * lost as f64 / sent.max(1) as f64,
        result.misrouted,
        result.received as f64 / secs,
        relay_cpu.map_or("na".into(), |c| format!("{c:.2}")),
        per_1000.map_or("na".into(), |c| format!("{:.3}", c * 1000.0)),
        per_1000.map_or("na".into(), |c| format!("{:.2}", c * 1000.0)),
        result.latency.quantile_us(0.5),
        result.latency.quantile_us(0.99),
        result.latency.quantile_us(0.999),
        result.latency.max_us(),
        gen_ticks.map_or("na".into(), |t| format!("{:.2}", t as f64 / clk_tck)),
    );
    // One result line either way.
    if show_also {
        println!(" also_cpu_s={:.2}", also_ticks as f64 / clk_tck);
    } else {
        println!();
    }
}

struct SinkResult {
    received: u64,
    misrouted: u64,
    latency: Histogram,
}

fn sink(
    mut sockets: Vec<mio::net::UdpSocket>,
    epoch: Instant,
    window_start: Instant,
    window_end: Instant,
    stop: &AtomicBool,
) -> SinkResult {
    let poll_ = Poll::new().unwrap();
    for (i, s) in sockets.iter_mut().enumerate() {
        poll_
            .registry()
            .register(s, Token(i), Interest::READABLE)
            .unwrap();
    }
    let mut poll = poll_;
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let from_ns = (window_start - epoch).as_nanos() as u64;
    let to_ns = (window_end - epoch).as_nanos() as u64;
    let mut result = SinkResult {
        received: 0,
        misrouted: 0,
        latency: Histogram::new(),
    };
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        for e in events.iter() {
            let phone = e.token().0;
            while let Ok((n, _)) = sockets[phone].recv_from(&mut buf) {
                let now_ns = epoch.elapsed().as_nanos() as u64;
                let Some((stream, _seq, sent_ns)) = parse_packet(&buf[..n]) else {
                    continue;
                };
                // Phone 2i hears stream 2i+1 and the other way round.
                if stream as usize != phone ^ 1 {
                    result.misrouted += 1;
                    continue;
                }
                if sent_ns >= from_ns && sent_ns < to_ns {
                    result.received += 1;
                    result.latency.record(now_ns.saturating_sub(sent_ns));
                }
            }
        }
    }
    result
}
