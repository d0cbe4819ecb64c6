//! The 9P benchmark's load generator (run by `bench/ninep.sh`, which starts the servers).
//!
//! For each operation and each number of clients N: N threads, each with its own TCP
//! connection logged in with the afid exchange, run the operation back to back for a warm-up
//! and then a measured window; then the same N against the plain TCP server (`plain`) with the
//! exchanges of that operation at the same sizes (recorded from one 9P run of it). Prints ops/s,
//! p50/p99 latency, the servers' CPU per operation, and the ratios.
//!
//! Operations: `read` = walk+open+read+clunk of a file (`--file`, from each extension's root,
//! each client its own extension); `stat` = one Tstat of the admin's root (the domain
//! directory: one entry per extension); `dirread` = a whole read of that directory (walk to a
//! new fid, open, Tread until empty, clunk).

use std::net::SocketAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ninep::msg::{DirEntries, Fid};
use ninep_bench::{BenchError, Exchange, NinepConn, PlainConn, Summary, cpu_ticks};

const USAGE: &str = "usage: load --ninep ADDR --plain ADDR [--clients 1,4,16] [--seconds 5]
    [--warmup 1] [--ops read,stat,dirread] [--domain D --user-prefix user --secret-prefix pw]
    [--file presence] [--admin-domain D --admin-secret S] [--msize 65536]
    [--server-pid PID] [--plain-pid PID] [--clk-tck 100]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Stat,
    DirRead,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Stat => "stat",
            Op::DirRead => "dirread",
        }
    }
}

struct Args {
    ninep: SocketAddr,
    plain: SocketAddr,
    clients: Vec<usize>,
    seconds: f64,
    warmup: f64,
    ops: Vec<Op>,
    domain: String,
    user_prefix: String,
    secret_prefix: String,
    file: String,
    admin_domain: String,
    admin_secret: String,
    msize: u32,
    server_pid: Option<u32>,
    plain_pid: Option<u32>,
    clk_tck: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut ninep = None;
    let mut plain = None;
    let mut a = Args {
        ninep: SocketAddr::from(([127, 0, 0, 1], 0)),
        plain: SocketAddr::from(([127, 0, 0, 1], 0)),
        clients: vec![1, 4, 16],
        seconds: 5.0,
        warmup: 1.0,
        ops: vec![Op::Read, Op::Stat, Op::DirRead],
        domain: "bench.local".into(),
        user_prefix: "user".into(),
        secret_prefix: "pw".into(),
        file: "presence".into(),
        admin_domain: "big.local".into(),
        admin_secret: "adminpw".into(),
        msize: 65536,
        server_pid: None,
        plain_pid: None,
        clk_tck: 100.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {v}: {what}");
        match flag.as_str() {
            "--ninep" => ninep = Some(v.parse().map_err(|_| bad("an ADDR:PORT"))?),
            "--plain" => plain = Some(v.parse().map_err(|_| bad("an ADDR:PORT"))?),
            "--clients" => {
                a.clients = v
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("numbers, comma separated"))?
            }
            "--seconds" => a.seconds = v.parse().map_err(|_| bad("seconds"))?,
            "--warmup" => a.warmup = v.parse().map_err(|_| bad("seconds"))?,
            "--ops" => {
                a.ops = v
                    .split(',')
                    .map(|o| match o.trim() {
                        "read" => Ok(Op::Read),
                        "stat" => Ok(Op::Stat),
                        "dirread" => Ok(Op::DirRead),
                        _ => Err(bad("read, stat or dirread")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--domain" => a.domain = v,
            "--user-prefix" => a.user_prefix = v,
            "--secret-prefix" => a.secret_prefix = v,
            "--file" => a.file = v,
            "--admin-domain" => a.admin_domain = v,
            "--admin-secret" => a.admin_secret = v,
            "--msize" => a.msize = v.parse().map_err(|_| bad("bytes"))?,
            "--server-pid" => a.server_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--plain-pid" => a.plain_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--clk-tck" => a.clk_tck = v.parse().map_err(|_| bad("ticks per second"))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    a.ninep = ninep.ok_or("--ninep is required")?;
    a.plain = plain.ok_or("--plain is required")?;
    if a.clients.contains(&0) || a.seconds <= 0.0 || a.warmup < 0.0 {
        return Err("clients and seconds must be positive".into());
    }
    Ok(a)
}

/// One 9P client: its connection and its attach's root.
struct Worker {
    conn: NinepConn,
    root: Fid,
}

impl Args {
    /// Client `i` of `op`, connected and logged in: extension `<prefix><i>` for `read`, the
    /// domain admin for the directory operations.
    fn worker(&self, op: Op, i: usize) -> Result<Worker, BenchError> {
        let mut conn = NinepConn::connect(self.ninep, self.msize)?;
        let root = match op {
            Op::Read => conn.login(
                &format!("{}{i}@{}", self.user_prefix, self.domain),
                &format!("{}{i}", self.secret_prefix),
            )?,
            Op::Stat | Op::DirRead => {
                conn.login(&format!("admin@{}", self.admin_domain), &self.admin_secret)?
            }
        };
        Ok(Worker { conn, root })
    }

    /// One operation.
    fn run(&self, op: Op, w: &mut Worker) -> Result<(), BenchError> {
        match op {
            Op::Read => {
                if w.conn.read_file(w.root, &[&self.file], None)? == 0 {
                    return Err(BenchError::Unexpected(format!("{} is empty", self.file)));
                }
            }
            Op::Stat => {
                w.conn.stat(w.root)?;
            }
            Op::DirRead => {
                w.conn.read_dir(w.root, None)?;
            }
        }
        Ok(())
    }

    /// Runs `op` once to check what it returns and once more recording its exchanges.
    fn probe(&self, op: Op) -> Result<(Vec<Exchange>, String), BenchError> {
        let mut w = self.worker(op, 0)?;
        let what = match op {
            Op::Read => {
                let mut data = Vec::new();
                w.conn.read_file(w.root, &[&self.file], Some(&mut data))?;
                format!(
                    "{}: {} bytes, {} lines",
                    self.file,
                    data.len(),
                    data.iter().filter(|b| **b == b'\n').count()
                )
            }
            Op::Stat => format!("stat of {:?}", w.conn.stat(w.root)?),
            Op::DirRead => {
                let mut data = Vec::new();
                w.conn.read_dir(w.root, Some(&mut data))?;
                let entries = DirEntries::new(&data)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| BenchError::Unexpected(format!("directory entry: {e}")))?;
                format!(
                    "admin@{} root: {} entries, {} bytes",
                    self.admin_domain,
                    entries.len(),
                    data.len()
                )
            }
        };
        w.conn.record();
        self.run(op, &mut w)?;
        Ok((w.conn.take_log(), what))
    }
}

/// What one run of N clients measured.
struct Measured {
    summary: Summary,
    /// Server CPU seconds in the window, if its pid was given.
    cpu_s: Option<f64>,
}

/// N workers (made first, so that connecting and logging in is not timed) run `op` back to
/// back: `warmup` unrecorded, then `window` recorded. The server's CPU time is read at the
/// window's edges.
fn measure<W: Send>(
    workers: Vec<W>,
    op: &(dyn Fn(&mut W) -> Result<(), String> + Sync),
    warmup: Duration,
    window: Duration,
    pid: Option<u32>,
    clk_tck: f64,
) -> Result<Measured, String> {
    let barrier = Barrier::new(workers.len() + 1);
    let (results, cpu) = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|mut w| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Vec<u32>, String> {
                    let mut latencies = Vec::with_capacity(1 << 16);
                    barrier.wait();
                    let record_from = Instant::now() + warmup;
                    let end = record_from + window;
                    loop {
                        let start = Instant::now();
                        if start >= end {
                            return Ok(latencies);
                        }
                        op(&mut w)?;
                        if start >= record_from {
                            let ns = start.elapsed().as_nanos();
                            latencies.push(u32::try_from(ns).unwrap_or(u32::MAX));
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(warmup);
        let before = pid.and_then(cpu_ticks);
        std::thread::sleep(window);
        let after = pid.and_then(cpu_ticks);
        let cpu = before
            .zip(after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / clk_tck);
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect();
        (results, cpu)
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(Measured {
        summary: Summary::of(&mut all, window.as_secs_f64()),
        cpu_s: cpu,
    })
}

fn line(kind: &str, op: Op, n: usize, m: &Measured) -> String {
    let cpu = m
        .cpu_s
        .map(|c| {
            format!(
                " server_cpu_us_per_op={:.1}",
                c * 1e6 / m.summary.ops.max(1) as f64
            )
        })
        .unwrap_or_default();
    format!(
        "{kind:5} op={} clients={n} ops={} ops_per_s={:.0} p50_us={:.1} p99_us={:.1}{cpu}",
        op.name(),
        m.summary.ops,
        m.summary.ops_per_s,
        m.summary.p50_us,
        m.summary.p99_us
    )
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.seconds);
    println!(
        "# {}s measured after {}s warm-up per run; msize {}; clients {:?}",
        args.seconds, args.warmup, args.msize, args.clients
    );
    println!(
        "# 9p: switchboard {}; tcp: the plain request/response server {} (same exchanges, same sizes)",
        args.ninep, args.plain
    );
    let mut within = true;
    for &op in &args.ops {
        let (script, what) = args.probe(op).map_err(|e| format!("{}: {e}", op.name()))?;
        let req: u32 = script.iter().map(|e| e.request).sum();
        let resp: u32 = script.iter().map(|e| e.response).sum();
        let sizes: Vec<String> = script
            .iter()
            .map(|e| format!("{}/{}", e.request, e.response))
            .collect();
        println!(
            "# op={} ({what}): {} round trips, request/response bytes {} = {req}/{resp}",
            op.name(),
            script.len(),
            sizes.join(" ")
        );
        for &n in &args.clients {
            let workers = (0..n)
                .map(|i| args.worker(op, i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{} clients={n}: login: {e}", op.name()))?;
            let ninep_op = |w: &mut Worker| args.run(op, w).map_err(|e| e.to_string());
            let m9 = measure(
                workers,
                &ninep_op,
                warmup,
                window,
                args.server_pid,
                args.clk_tck,
            )
            .map_err(|e| format!("9p {} clients={n}: {e}", op.name()))?;
            println!("{}", line("9p", op, n, &m9));

            let conns = (0..n)
                .map(|_| PlainConn::connect(args.plain))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("plain connect: {e}"))?;
            let plain_op = |c: &mut PlainConn| c.run(&script).map_err(|e| e.to_string());
            let mt = measure(
                conns,
                &plain_op,
                warmup,
                window,
                args.plain_pid,
                args.clk_tck,
            )
            .map_err(|e| format!("tcp {} clients={n}: {e}", op.name()))?;
            println!("{}", line("tcp", op, n, &mt));

            let (a, b) = (&m9.summary, &mt.summary);
            let thr = b.ops_per_s / a.ops_per_s;
            let p50 = a.p50_us / b.p50_us;
            let p99 = a.p99_us / b.p99_us;
            let cpu = match (m9.cpu_s, mt.cpu_s) {
                (Some(c9), Some(ct)) if ct > 0.0 => format!(
                    " server_cpu_per_op(9p/tcp)={:.2}",
                    (c9 / a.ops.max(1) as f64) / (ct / b.ops.max(1) as f64)
                ),
                _ => String::new(),
            };
            let ok = thr <= 2.0 && p99 <= 2.0;
            within &= ok;
            println!(
                "ratio op={} clients={n} ops_per_s(tcp/9p)={thr:.2} p50(9p/tcp)={p50:.2} \
                 p99(9p/tcp)={p99:.2}{cpu} within_2x={}",
                op.name(),
                if ok { "yes" } else { "no" }
            );
        }
    }
    println!(
        "# target (issue 5): 9P within 2x of the plain TCP limit in ops/s and p99: {}",
        if within {
            "met in every run"
        } else {
            "NOT met in every run"
        }
    );
    Ok(())
}
