//! Shared pieces of the media relay benchmark: the files the programs exchange, the test
//! packet format, a latency histogram, and CPU time from `/proc`.
//!
//! Files (one call per line, two addresses separated by a space):
//!
//! - phones file (written by `gen`): `PHONE_A PHONE_B`, the generator's sockets for the
//!   caller and the callee of each call;
//! - ports file (written by `relay` or `ng`, or by hand): `RELAY_A RELAY_B`, where phone A
//!   sends (the relay's leg-A RTP port) and where phone B sends. With `gen --direct` the
//!   phones send straight to each other (the baseline without a relay).

pub mod floor;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Payload marker of our packets.
pub const MAGIC: [u8; 4] = *b"SBMB";
/// RTP header (12) + one 20 ms G.711 frame (160).
pub const PACKET_LEN: usize = 172;

/// Reads a file of address pairs.
pub fn read_pairs(path: &Path) -> Result<Vec<(SocketAddr, SocketAddr)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let a = it.next().ok_or("empty line")?;
            let b = it.next().ok_or("one address on a line")?;
            Ok((
                a.parse().map_err(|e| format!("{a}: {e}"))?,
                b.parse().map_err(|e| format!("{b}: {e}"))?,
            ))
        })
        .collect()
}

/// Writes a file of address pairs atomically (to a temporary name, then renamed), so a
/// reader that waits for the file never sees half of it.
pub fn write_pairs(path: &Path, pairs: &[(SocketAddr, SocketAddr)]) -> Result<(), String> {
    let mut text = String::with_capacity(pairs.len() * 40);
    for (a, b) in pairs {
        text.push_str(&format!("{a} {b}\n"));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Waits (at most `limit`) for a file to exist.
pub fn wait_for(path: &Path, limit: Duration) -> Result<(), String> {
    let end = Instant::now() + limit;
    while !path.exists() {
        if Instant::now() > end {
            return Err(format!(
                "{} did not appear within {limit:?}",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Builds a test packet: RTP PT 0, SSRC = stream + 1, then in the payload our marker, the
/// stream number, the sequence number and the send time in nanoseconds since the run's epoch.
pub fn build_packet(buf: &mut [u8; PACKET_LEN], stream: u32, seq: u64, sent_ns: u64) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&((seq as u32).wrapping_mul(160)).to_be_bytes());
    buf[8..12].copy_from_slice(&(stream + 1).to_be_bytes());
    buf[12..16].copy_from_slice(&MAGIC);
    buf[16..20].copy_from_slice(&stream.to_be_bytes());
    buf[20..28].copy_from_slice(&seq.to_be_bytes());
    buf[28..36].copy_from_slice(&sent_ns.to_be_bytes());
}

/// The stream, sequence number and send time of one of our packets.
pub fn parse_packet(buf: &[u8]) -> Option<(u32, u64, u64)> {
    if buf.len() != PACKET_LEN || buf[12..16] != MAGIC {
        return None;
    }
    let stream = u32::from_be_bytes(buf[16..20].try_into().ok()?);
    let seq = u64::from_be_bytes(buf[20..28].try_into().ok()?);
    let sent = u64::from_be_bytes(buf[28..36].try_into().ok()?);
    Some((stream, seq, sent))
}

/// Latencies in 1 µs buckets up to 100 ms, then one overflow bucket.
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    const BUCKETS: usize = 100_000;

    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: vec![0; Self::BUCKETS + 1],
            count: 0,
            max_ns: 0,
        }
    }

    /// Adds one latency.
    pub fn record(&mut self, ns: u64) {
        let us = (ns / 1000) as usize;
        self.buckets[us.min(Self::BUCKETS)] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency (µs, bucket upper edge) below which `q` of the samples fall.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return (us + 1) as f64;
            }
        }
        self.max_us()
    }

    /// The largest latency, µs.
    pub fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }
}

/// utime + stime of a process (all its threads), in clock ticks, from `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Simple `--flag value` argument parsing.
pub struct Args {
    args: Vec<String>,
}

impl Args {
    /// The process's arguments.
    pub fn from_env() -> Self {
        Self {
            args: std::env::args().skip(1).collect(),
        }
    }

    /// The value after `--name`, if present.
    pub fn value(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        let at = self.args.iter().position(|a| *a == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// A parsed value, or the default.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.value(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// A required value.
    pub fn required(&self, name: &str) -> String {
        match self.value(name) {
            Some(v) => v.to_owned(),
            None => {
                eprintln!("missing --{name}");
                std::process::exit(2);
            }
        }
    }

    /// True when `--name` is present.
    pub fn flag(&self, name: &str) -> bool {
        let flag = format!("--{name}");
        self.args.contains(&flag)
    }
}
