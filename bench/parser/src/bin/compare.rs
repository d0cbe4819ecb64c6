//! Quick mode, no criterion: checks that both parsers agree on every message, then times
//! parse + extract with `std::time::Instant`, interleaving the two parsers round by round,
//! and prints ns/message for both and the ratio (rsip / sip).
//!
//! ```text
//! cargo run --release --bin compare -- [--runs 3] [--rounds 51] [--iters N] [--batch-ms 2]
//! ```
//!
//! One run is `--rounds` rounds; in each round every message (and the whole set) is timed
//! for a batch of iterations with `sip` and then with `rsip`, or the other way round on odd
//! rounds, so that load from other processes falls on both alike. A run reports the median
//! batch of each. The program makes `--runs` runs and ends with the median over the runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sip_parser_bench::{
    Sample, checked_set, load_messages, ours_parse_extract, rsip_parse_extract,
};

struct Opts {
    runs: usize,
    rounds: usize,
    iters: Option<u64>,
    batch: Duration,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        runs: 3,
        rounds: 51,
        iters: None,
        batch: Duration::from_millis(2),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--runs" => o.runs = num("--runs").max(1) as usize,
            "--rounds" => o.rounds = num("--rounds").max(1) as usize,
            "--iters" => o.iters = Some(num("--iters").max(1)),
            "--batch-ms" => o.batch = Duration::from_millis(num("--batch-ms").max(1)),
            "-h" | "--help" => {
                println!(
                    "compare [--runs 3] [--rounds 51] [--iters N] [--batch-ms 2]\n\
                     --iters N   iterations per batch (default: sized to --batch-ms for each parser)"
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// One timed entry: a single message, or the whole set (one iteration parses every message).
struct Entry {
    name: String,
    bytes: usize,
    msgs: Vec<Vec<u8>>,
}

type ParseFn = fn(&[u8]) -> usize;

/// Runs `iters` iterations of `f` over the entry's messages; returns ns per message.
fn batch(f: ParseFn, e: &Entry, iters: u64) -> f64 {
    let start = Instant::now();
    let mut acc = 0usize;
    for _ in 0..iters {
        for m in &e.msgs {
            acc = acc.wrapping_add(f(black_box(m.as_slice())));
        }
    }
    let el = start.elapsed();
    black_box(acc);
    el.as_nanos() as f64 / (iters as f64 * e.msgs.len() as f64)
}

/// Iterations that make a batch of about `target`. The time per iteration is the fastest of
/// several short trials, so that a trial preempted by another process does not shrink the
/// batch (the machine is shared; a wrong estimate would give one parser tiny batches that
/// escape preemption while the other's long ones do not).
fn calibrate(f: ParseFn, e: &Entry, target: Duration) -> u64 {
    let msgs = e.msgs.len() as f64;
    let mut n = 1u64;
    while batch(f, e, n) * msgs * (n as f64) < 200_000.0 && n < 1 << 24 {
        n *= 2;
    }
    let per_iter = (0..7)
        .map(|_| batch(f, e, n) * msgs)
        .fold(f64::INFINITY, f64::min);
    ((target.as_nanos() as f64 / per_iter).round() as u64).max(1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// (sip ns/message, rsip ns/message) for each entry, one run.
fn run(entries: &[Entry], o: &Opts) -> Vec<(f64, f64, u64, u64)> {
    let iters: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| match o.iters {
            Some(n) => (n, n),
            None => (
                calibrate(ours_parse_extract, e, o.batch),
                calibrate(rsip_parse_extract, e, o.batch),
            ),
        })
        .collect();
    let mut samples: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); entries.len()];
    for round in 0..o.rounds {
        for (i, e) in entries.iter().enumerate() {
            let (ni, nr) = iters[i];
            if round % 2 == 0 {
                samples[i].0.push(batch(ours_parse_extract, e, ni));
                samples[i].1.push(batch(rsip_parse_extract, e, nr));
            } else {
                samples[i].1.push(batch(rsip_parse_extract, e, nr));
                samples[i].0.push(batch(ours_parse_extract, e, ni));
            }
        }
    }
    samples
        .iter_mut()
        .zip(&iters)
        .map(|((a, b), &(ni, nr))| (median(a), median(b), ni, nr))
        .collect()
}

fn print_table(entries: &[Entry], rows: &[(f64, f64)]) {
    println!("| message | bytes | sip ns/msg | rsip ns/msg | ratio rsip/sip |");
    println!("|---|---:|---:|---:|---:|");
    for (e, (a, b)) in entries.iter().zip(rows) {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} |",
            e.name,
            e.bytes,
            a,
            b,
            b / a
        );
    }
}

fn main() {
    let o = parse_opts();
    let all = load_messages();
    println!(
        "checking {} messages from {} ...",
        all.len(),
        sip_parser_bench::messages_dir().display()
    );
    let timed: Vec<Sample> = checked_set(&all);
    println!(
        "{} of {} messages agree on every compared field and are timed",
        timed.len(),
        all.len()
    );
    if timed.is_empty() {
        eprintln!("nothing to time");
        std::process::exit(1);
    }
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; use `cargo run --release --bin compare`");
    }

    let mut entries: Vec<Entry> = timed
        .iter()
        .map(|s| Entry {
            name: s.name.clone(),
            bytes: s.bytes.len(),
            msgs: vec![s.bytes.clone()],
        })
        .collect();
    entries.push(Entry {
        name: format!("whole set ({} msgs, mean per msg)", timed.len()),
        bytes: timed.iter().map(|s| s.bytes.len()).sum::<usize>() / timed.len(),
        msgs: timed.iter().map(|s| s.bytes.clone()).collect(),
    });

    // Warm up caches, branch predictors and the CPU clock.
    for e in &entries {
        batch(ours_parse_extract, e, 200);
        batch(rsip_parse_extract, e, 200);
    }

    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    for r in 1..=o.runs {
        let t = Instant::now();
        let res = run(&entries, &o);
        println!(
            "\n### run {r} of {} ({} rounds, {:.1} s; iterations per batch sip/rsip: {})",
            o.runs,
            o.rounds,
            t.elapsed().as_secs_f64(),
            res.iter()
                .map(|x| format!("{}/{}", x.2, x.3))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let rows: Vec<(f64, f64)> = res.iter().map(|x| (x.0, x.1)).collect();
        print_table(&entries, &rows);
        runs.push(rows);
    }

    println!(
        "\n### median of {} runs (ns/msg: median over runs; ratio: median of the runs' ratios)",
        o.runs
    );
    println!("| message | bytes | sip ns/msg | rsip ns/msg | ratio rsip/sip | ratios per run |");
    println!("|---|---:|---:|---:|---:|---|");
    for (i, e) in entries.iter().enumerate() {
        let mut a: Vec<f64> = runs.iter().map(|r| r[i].0).collect();
        let mut b: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
        let ratios: Vec<f64> = runs.iter().map(|r| r[i].1 / r[i].0).collect();
        let mut rs = ratios.clone();
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {} |",
            e.name,
            e.bytes,
            median(&mut a),
            median(&mut b),
            median(&mut rs),
            ratios
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let slower: Vec<&str> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let mut rs: Vec<f64> = runs.iter().map(|r| r[*i].1 / r[*i].0).collect();
            median(&mut rs) < 1.0
        })
        .map(|(_, e)| e.name.as_str())
        .collect();
    if slower.is_empty() {
        println!("\nsip is faster than rsip on every timed message");
    } else {
        println!("\nsip is SLOWER than rsip on: {}", slower.join(", "));
    }
}
