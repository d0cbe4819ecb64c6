//! The 9P benchmarks' load generator (run by `bench/ninep.sh` and `bench/mux.sh`, which start
//! the servers).
//!
//! For each operation and each number of clients N: N threads, each with its own connection
//! logged in with the afid exchange, run the operation back to back for a warm-up and then a
//! measured window against switchboard's 9P server (`--ninep`); then, in the same run, the same
//! N against what it is compared with:
//! - `--plain ADDR` (bench/ninep.sh): the plain TCP server (`plain`) replaying the exchanges of
//!   that operation at the same sizes (recorded from one 9P run of it), the physical limit;
//! - `--mux ADDR` (bench/mux.sh): the same 9P operation, each client its own connection to a
//!   `switchboard mux` in front of the same server; and then, with `--hop NAME=ADDR` (any
//!   number), through each floor hop (bench/ninep's `hop`: no 9P work, one upstream
//!   connection per client, bytes copied both ways), the floor of any userspace intermediary.
//!
//! Prints ops/s, p50/p99 latency, the processes' CPU per operation (the load generator's own
//! too), and the ratios.
//!
//! Operations:
//! - `read` = walk+open+read+clunk of a file (`--file`, from each extension's root, each client
//!   its own extension);
//! - `metadata` = walk+open+read+clunk of `ongoing/<call>/metadata` of a live call, client i
//!   logged in as the call's party `--call-users`[i mod 2] (the call is found under that
//!   extension's `ongoing/` when the client logs in);
//! - `stat` = one Tstat of the admin's root (the domain directory: one entry per extension);
//! - `dirread` = a whole read of that directory (walk to a new fid, open, Tread until empty,
//!   clunk);
//! - `fread` = one Tread at offset 0 of `--file`, opened once per client before the clock
//!   starts (count `--count`, default the most msize allows);
//! - `dread` = one Tread at offset 0 of the admin's root directory, opened once per client
//!   (count `--count`).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use ninep::msg::{DirEntries, Fid};
use ninep_bench::{BenchError, Exchange, NinepConn, PlainConn, Summary, Target, cpu_ticks};

const USAGE: &str = "usage: load --ninep ADDR (--plain ADDR | --mux ADDR) [--clients 1,4,16]
    [--seconds 5] [--warmup 1] [--ops read,metadata,stat,dirread,fread,dread]
    [--domain D --user-prefix user --secret-prefix pw] [--file presence] [--count BYTES]
    [--call-domain D --call-users user0,user1 --call-secrets pw0,pw1]
    [--admin-domain D --admin-secret S] [--msize 65536]
    [--server-pid PID] [--plain-pid PID] [--mux-pid PID] [--clk-tck 100]
    [--hop NAME=ADDR [--hop-pid NAME=PID]]...   (with --mux: floor hops, measured after it)
ADDR: HOST:PORT, tcp!HOST!PORT or unix!PATH (--plain: TCP only)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Metadata,
    Stat,
    DirRead,
    FRead,
    DRead,
}

impl Op {
    const ALL: [Op; 6] = [
        Op::Read,
        Op::Metadata,
        Op::Stat,
        Op::DirRead,
        Op::FRead,
        Op::DRead,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Metadata => "metadata",
            Op::Stat => "stat",
            Op::DirRead => "dirread",
            Op::FRead => "fread",
            Op::DRead => "dread",
        }
    }
}

/// What the 9P server is compared with.
enum Versus {
    /// The plain TCP request/response server.
    Plain(std::net::SocketAddr),
    /// A multiplexer in front of the same server.
    Mux(Target),
}

struct Args {
    ninep: Target,
    versus: Versus,
    clients: Vec<usize>,
    seconds: f64,
    warmup: f64,
    ops: Vec<Op>,
    domain: String,
    user_prefix: String,
    secret_prefix: String,
    file: String,
    count: Option<u32>,
    call_domain: String,
    call_users: Vec<String>,
    call_secrets: Vec<String>,
    admin_domain: String,
    admin_secret: String,
    msize: u32,
    server_pid: Option<u32>,
    plain_pid: Option<u32>,
    mux_pid: Option<u32>,
    /// Floor hops (name, address, pid), measured after the mux.
    hops: Vec<(String, Target, Option<u32>)>,
    clk_tck: f64,
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_owned()).collect()
}

fn parse_args() -> Result<Args, String> {
    let mut ninep = None;
    let mut plain = None;
    let mut mux = None;
    let mut a = Args {
        ninep: Target::Tcp(([127, 0, 0, 1], 0).into()),
        versus: Versus::Mux(Target::Tcp(([127, 0, 0, 1], 0).into())),
        clients: vec![1, 4, 16],
        seconds: 5.0,
        warmup: 1.0,
        ops: vec![Op::Read, Op::Stat, Op::DirRead],
        domain: "bench.local".into(),
        user_prefix: "user".into(),
        secret_prefix: "pw".into(),
        file: "presence".into(),
        count: None,
        call_domain: "127.0.0.1".into(),
        call_users: vec!["user0".into(), "user1".into()],
        call_secrets: vec!["pw0".into(), "pw1".into()],
        admin_domain: "big.local".into(),
        admin_secret: "adminpw".into(),
        msize: 65536,
        server_pid: None,
        plain_pid: None,
        mux_pid: None,
        hops: Vec::new(),
        clk_tck: 100.0,
    };
    let mut hop_pids: Vec<(String, u32)> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {v}: {what}");
        match flag.as_str() {
            "--ninep" => ninep = Some(v.parse::<Target>()?),
            "--plain" => plain = Some(v.parse().map_err(|_| bad("an ADDR:PORT"))?),
            "--mux" => mux = Some(v.parse::<Target>()?),
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
                    .map(|o| {
                        Op::ALL
                            .into_iter()
                            .find(|op| op.name() == o.trim())
                            .ok_or_else(|| bad("read, metadata, stat, dirread, fread or dread"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--domain" => a.domain = v,
            "--user-prefix" => a.user_prefix = v,
            "--secret-prefix" => a.secret_prefix = v,
            "--file" => a.file = v,
            "--count" => a.count = Some(v.parse().map_err(|_| bad("bytes"))?),
            "--call-domain" => a.call_domain = v,
            "--call-users" => a.call_users = list(&v),
            "--call-secrets" => a.call_secrets = list(&v),
            "--admin-domain" => a.admin_domain = v,
            "--admin-secret" => a.admin_secret = v,
            "--msize" => a.msize = v.parse().map_err(|_| bad("bytes"))?,
            "--server-pid" => a.server_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--plain-pid" => a.plain_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--mux-pid" => a.mux_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--clk-tck" => a.clk_tck = v.parse().map_err(|_| bad("ticks per second"))?,
            "--hop" => {
                let (name, addr) = v.split_once('=').ok_or_else(|| bad("NAME=ADDR"))?;
                a.hops
                    .push((name.to_owned(), addr.parse::<Target>()?, None));
            }
            "--hop-pid" => {
                let (name, pid) = v.split_once('=').ok_or_else(|| bad("NAME=PID"))?;
                hop_pids.push((name.to_owned(), pid.parse().map_err(|_| bad("NAME=PID"))?));
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    a.ninep = ninep.ok_or("--ninep is required")?;
    for (name, pid) in hop_pids {
        let hop = a.hops.iter_mut().find(|h| h.0 == name);
        hop.ok_or_else(|| format!("--hop-pid {name}: no --hop {name}"))?
            .2 = Some(pid);
    }
    if !a.hops.is_empty() && mux.is_none() {
        return Err("--hop goes with --mux".into());
    }
    a.versus = match (plain, mux) {
        (Some(p), None) => Versus::Plain(p),
        (None, Some(m)) => Versus::Mux(m),
        _ => return Err("give one of --plain and --mux".into()),
    };
    if a.clients.contains(&0) || a.seconds <= 0.0 || a.warmup < 0.0 {
        return Err("clients and seconds must be positive".into());
    }
    if a.call_users.is_empty() || a.call_users.len() != a.call_secrets.len() {
        return Err("--call-users and --call-secrets: as many of each".into());
    }
    Ok(a)
}

/// One 9P client: its connection, its attach's root, and what the operation reads (the walk
/// from the root for `read`/`metadata`, the fid opened once for `fread`/`dread`).
struct Worker {
    conn: NinepConn,
    root: Fid,
    path: Vec<String>,
    open: Option<Fid>,
}

impl Args {
    /// Client `i` of `op` on `target`, connected and logged in: extension `<prefix><i>` for
    /// `read` and `fread`, a party of the call for `metadata`, the domain admin for the
    /// directory operations.
    fn worker(&self, target: &Target, op: Op, i: usize) -> Result<Worker, BenchError> {
        let mut conn = NinepConn::connect(target, self.msize)?;
        let mut path = Vec::new();
        let mut open = None;
        let root = match op {
            Op::Read | Op::FRead => conn.login(
                &format!("{}{i}@{}", self.user_prefix, self.domain),
                &format!("{}{i}", self.secret_prefix),
            )?,
            Op::Metadata => {
                let k = i % self.call_users.len();
                conn.login(
                    &format!("{}@{}", self.call_users[k], self.call_domain),
                    &self.call_secrets[k],
                )?
            }
            Op::Stat | Op::DirRead | Op::DRead => {
                conn.login(&format!("admin@{}", self.admin_domain), &self.admin_secret)?
            }
        };
        match op {
            Op::Read => path.push(self.file.clone()),
            Op::Metadata => {
                let calls = conn.list(root, &["ongoing"])?;
                let [call] = &calls[..] else {
                    return Err(BenchError::Unexpected(format!(
                        "ongoing/ holds {calls:?}, not one call"
                    )));
                };
                path = vec!["ongoing".into(), call.clone(), "metadata".into()];
            }
            Op::FRead => {
                let fid = conn.walk(root, &[&self.file])?;
                conn.open_read(fid)?;
                open = Some(fid);
            }
            Op::DRead => {
                let fid = conn.walk(root, &[])?;
                conn.open_read(fid)?;
                open = Some(fid);
            }
            Op::Stat | Op::DirRead => {}
        }
        Ok(Worker {
            conn,
            root,
            path,
            open,
        })
    }

    /// One operation; the data go to `keep` if given.
    fn run(&self, op: Op, w: &mut Worker, keep: Option<&mut Vec<u8>>) -> Result<(), BenchError> {
        match op {
            Op::Read | Op::Metadata => {
                let names: Vec<&str> = w.path.iter().map(String::as_str).collect();
                if w.conn.read_file(w.root, &names, keep)? == 0 {
                    return Err(BenchError::Unexpected(format!(
                        "{} is empty",
                        names.join("/")
                    )));
                }
            }
            Op::Stat => {
                w.conn.stat(w.root)?;
            }
            Op::DirRead => {
                w.conn.read_dir(w.root, keep)?;
            }
            Op::FRead | Op::DRead => {
                let fid = w
                    .open
                    .ok_or_else(|| BenchError::Unexpected("nothing open".into()))?;
                let count = self.count.unwrap_or(u32::MAX).min(w.conn.max_io());
                if w.conn.read_count(fid, 0, count, keep)? == 0 {
                    return Err(BenchError::Unexpected("a read returned nothing".into()));
                }
            }
        }
        Ok(())
    }

    /// Runs `op` once to check what it returns and once more recording its exchanges.
    fn probe(&self, op: Op) -> Result<(Vec<Exchange>, String), BenchError> {
        let mut w = self.worker(&self.ninep, op, 0)?;
        let mut data = Vec::new();
        self.run(op, &mut w, Some(&mut data))?;
        let lines = data.iter().filter(|b| **b == b'\n').count();
        let entries = || {
            DirEntries::new(&data)
                .collect::<Result<Vec<_>, _>>()
                .map(|e| e.len())
                .map_err(|e| BenchError::Unexpected(format!("directory entry: {e}")))
        };
        let what = match op {
            Op::Read | Op::FRead => format!("{}: {} bytes, {lines} lines", self.file, data.len()),
            Op::Metadata => {
                let text = String::from_utf8_lossy(&data);
                if !text.trim_start().starts_with('{') {
                    return Err(BenchError::Unexpected(format!("metadata {text:?}")));
                }
                format!("{}: {} bytes of JSON", w.path.join("/"), data.len())
            }
            Op::Stat => format!("stat of {:?}", w.conn.stat(w.root)?),
            Op::DirRead | Op::DRead => format!(
                "admin@{} root: {} entries, {} bytes",
                self.admin_domain,
                entries()?,
                data.len()
            ),
        };
        w.conn.record();
        self.run(op, &mut w, None)?;
        Ok((w.conn.take_log(), what))
    }
}

/// What one run of N clients measured.
struct Measured {
    summary: Summary,
    /// Server CPU seconds in the window, if its pid was given.
    cpu_s: Option<f64>,
    /// The same for the other processes asked for (the mux), in order.
    other_cpu_s: Vec<Option<f64>>,
    /// The load generator's own CPU seconds in the window (all its client threads).
    load_cpu_s: Option<f64>,
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
    others: &[Option<u32>],
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
        let pids: Vec<Option<u32>> = std::iter::once(pid)
            .chain(others.iter().copied())
            .chain(std::iter::once(Some(std::process::id())))
            .collect();
        let before: Vec<Option<u64>> = pids.iter().map(|p| p.and_then(cpu_ticks)).collect();
        std::thread::sleep(window);
        let after = pids.iter().map(|p| p.and_then(cpu_ticks));
        let cpu: Vec<Option<f64>> = before
            .into_iter()
            .zip(after)
            .map(|(b, a)| b.zip(a).map(|(b, a)| a.saturating_sub(b) as f64 / clk_tck))
            .collect();
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
        cpu_s: cpu[0],
        other_cpu_s: cpu[1..cpu.len() - 1].to_vec(),
        load_cpu_s: cpu[cpu.len() - 1],
    })
}

fn line(kind: &str, op: Op, n: usize, m: &Measured, extra: &[(&str, Option<f64>)]) -> String {
    let per_op = |c: f64| c * 1e6 / m.summary.ops.max(1) as f64;
    let mut cpu = String::new();
    let load = [("load", m.load_cpu_s)];
    for (name, c) in std::iter::once(&("server", m.cpu_s))
        .chain(extra)
        .chain(&load)
    {
        if let Some(c) = c {
            cpu += &format!(" {name}_cpu_us_per_op={:.1}", per_op(*c));
        }
    }
    format!(
        "{kind:6} op={} clients={n} ops={} ops_per_s={:.0} p50_us={:.1} p99_us={:.1}{cpu}",
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
    match &args.versus {
        Versus::Plain(p) => println!(
            "# 9p: switchboard {}; tcp: the plain request/response server {p} (same exchanges, same sizes)",
            args.ninep
        ),
        Versus::Mux(m) => {
            println!(
                "# direct: each client its own connection to switchboard {}; mux: each client its own connection to switchboard mux {m}, one upstream connection",
                args.ninep
            );
            for (name, target, _) in &args.hops {
                println!(
                    "# hop-{name}: each client its own connection to {target} (a floor hop: its own upstream connection per client, no 9P work, no batching; or what the script says)"
                );
            }
            if !args.hops.is_empty() {
                println!(
                    "# floor: with 1 client a hop is a true lower bound on what any intermediary (the mux too) adds; with more it is an approximate one, as the mux can batch many clients' messages in one write on its one upstream connection and a hop cannot"
                );
            }
        }
    }
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
            let ninep_op = |w: &mut Worker| args.run(op, w, None).map_err(|e| e.to_string());
            let workers = |target: &Target| {
                (0..n)
                    .map(|i| args.worker(target, op, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{} clients={n}: login via {target}: {e}", op.name()))
            };
            let m9 = measure(
                workers(&args.ninep)?,
                &ninep_op,
                warmup,
                window,
                args.server_pid,
                &[],
                args.clk_tck,
            )
            .map_err(|e| format!("9p {} clients={n}: {e}", op.name()))?;
            match &args.versus {
                Versus::Plain(plain) => {
                    println!("{}", line("9p", op, n, &m9, &[]));
                    let conns = (0..n)
                        .map(|_| PlainConn::connect(*plain))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("plain connect: {e}"))?;
                    let plain_op = |c: &mut PlainConn| c.run(&script).map_err(|e| e.to_string());
                    let mt = measure(
                        conns,
                        &plain_op,
                        warmup,
                        window,
                        args.plain_pid,
                        &[],
                        args.clk_tck,
                    )
                    .map_err(|e| format!("tcp {} clients={n}: {e}", op.name()))?;
                    println!("{}", line("tcp", op, n, &mt, &[]));

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
                Versus::Mux(mux) => {
                    println!("{}", line("direct", op, n, &m9, &[]));
                    let mm = measure(
                        workers(mux)?,
                        &ninep_op,
                        warmup,
                        window,
                        args.server_pid,
                        &[args.mux_pid],
                        args.clk_tck,
                    )
                    .map_err(|e| format!("mux {} clients={n}: {e}", op.name()))?;
                    let mux_cpu = mm.other_cpu_s.first().copied().flatten();
                    println!("{}", line("mux", op, n, &mm, &[("mux", mux_cpu)]));

                    let (d, m) = (&m9.summary, &mm.summary);
                    let thr = m.ops_per_s / d.ops_per_s;
                    let p50 = m.p50_us / d.p50_us;
                    let p99 = m.p99_us / d.p99_us;
                    let ok = thr >= 0.9;
                    within &= ok;
                    println!(
                        "ratio  op={} clients={n} ops_per_s(mux/direct)={thr:.2} \
                         p50(mux/direct)={p50:.2} p99(mux/direct)={p99:.2} at_least_90pct={}",
                        op.name(),
                        if ok { "yes" } else { "no" }
                    );
                    for (name, target, pid) in &args.hops {
                        let mh = measure(
                            workers(target)?,
                            &ninep_op,
                            warmup,
                            window,
                            args.server_pid,
                            &[*pid],
                            args.clk_tck,
                        )
                        .map_err(|e| format!("hop {name} {} clients={n}: {e}", op.name()))?;
                        let hop_cpu = mh.other_cpu_s.first().copied().flatten();
                        let kind = format!("hop-{name}");
                        println!("{}", line(&kind, op, n, &mh, &[("hop", hop_cpu)]));
                        let h = &mh.summary;
                        let thr = h.ops_per_s / d.ops_per_s;
                        println!(
                            "floor  op={} clients={n} hop={name} ops_per_s({name}/direct)={thr:.2} \
                             ops_per_s(mux/{name})={:.2} p50({name}/direct)={:.2} \
                             p99({name}/direct)={:.2} at_least_90pct={}",
                            op.name(),
                            m.ops_per_s / h.ops_per_s,
                            h.p50_us / d.p50_us,
                            h.p99_us / d.p99_us,
                            if thr >= 0.9 { "yes" } else { "no" }
                        );
                    }
                }
            }
        }
    }
    match args.versus {
        Versus::Plain(_) => println!(
            "# target (issue 5): 9P within 2x of the plain TCP limit in ops/s and p99: {}",
            if within {
                "met in every run"
            } else {
                "NOT met in every run"
            }
        ),
        Versus::Mux(_) => println!(
            "# target (issue 6): through the mux at least 90% of direct throughput: {}",
            if within {
                "met in every run"
            } else {
                "NOT met in every run"
            }
        ),
    }
    Ok(())
}
