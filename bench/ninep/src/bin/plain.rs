//! The plain TCP request/response server of the 9P benchmark: one thread per connection,
//! each request answered with a response of the size it asks for and nothing else
//! (`ninep_bench::serve_plain`). The "physical limit" a 9P server of the same message sizes
//! is measured against.
//!
//! usage: plain [--listen ADDR] [--max-seconds S]    prints `listening ADDR`, serves until
//! killed or S seconds (default 3600) have passed.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut max_seconds = 3600u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--max-seconds", Some(v)) => max_seconds = v.parse().unwrap_or(max_seconds),
            _ => {
                eprintln!("usage: plain [--listen ADDR] [--max-seconds S]");
                std::process::exit(2);
            }
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("plain: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening {addr}"),
        Err(e) => {
            eprintln!("plain: {e}");
            std::process::exit(1);
        }
    }
    let _ = std::io::stdout().flush();
    // Bounded: the benchmark script kills it, and it also ends by itself.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_seconds));
        std::process::exit(0);
    });
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = ninep_bench::serve_plain(stream) {
                eprintln!("plain: connection: {e}");
            }
        });
    }
}
