//! `switchboard mux`: the 9P2000 multiplexer (DESIGN.md sections 10 and 15):
//! `switchboard mux --listen unix!PATH|tcp!ADDR!PORT (--upstream tcp!HOST!PORT|unix!PATH |
//! --accept tcp!ADDR!PORT) [--export unix!PATH|tcp!HOST!PORT] [--max-queued BYTES]
//! [--max-outstanding N] [--spin-us MICROSECONDS]`. Prints `listening 9p-mux/unix PATH` or
//! `listening 9p-mux/tcp ADDR` (and `listening 9p-mux-peer/tcp ADDR` for `--accept`), runs
//! until SIGINT or SIGTERM, exits 0.

use anyhow::Context;
use clap::Args;
use net::mux::{Listening, MuxConfig, MuxServer, NinepAddr, UpstreamSource};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("up").required(true).args(["upstream", "accept"])))]
pub struct MuxArgs {
    /// Where clients connect: unix!PATH (made mode 0600) or tcp!ADDR!PORT.
    #[arg(long, value_name = "ADDR")]
    listen: NinepAddr,
    /// The 9P server (or peer multiplexer) to carry the clients to: tcp!HOST!PORT or
    /// unix!PATH.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<NinepAddr>,
    /// Wait for the peer multiplexer's connection here instead: tcp!ADDR!PORT.
    #[arg(long, value_name = "ADDR")]
    accept: Option<NinepAddr>,
    /// The local 9P server that serves the peer's sessions (the reverse direction).
    #[arg(long, value_name = "ADDR")]
    export: Option<NinepAddr>,
    /// Bytes of replies queued for a client that does not read before it is disconnected
    /// (at least one msize is always accepted).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    max_queued: usize,
    /// Outstanding requests per client.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_outstanding: usize,
    /// Microseconds the event loop keeps polling (yielding the CPU in between) after its
    /// last event before it sleeps: lower latency for a few busy clients, for some CPU.
    /// 0 sleeps at once. The default, 50, covers a server's round trip on loopback, so that
    /// a reply is taken without waking a sleeping thread (bench/mux.sh: 1.3-1.8x the reads/s
    /// of 0 with one client, 1.1-1.25x with four; no loss with sixteen).
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 50)]
    spin_us: u64,
    /// Log level (RUST_LOG wins).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

/// Runs the multiplexer until SIGINT or SIGTERM.
pub fn run(args: MuxArgs) -> anyhow::Result<()> {
    crate::init_logging(&args.log)?;
    let upstream = match (args.upstream, args.accept) {
        (Some(addr), None) => UpstreamSource::Dial(addr),
        (None, Some(addr)) => UpstreamSource::Accept(addr),
        _ => anyhow::bail!("give one of --upstream and --accept"),
    };
    let config = MuxConfig {
        listen: args.listen,
        upstream,
        export: args.export,
        mux: ninep::mux::Config {
            max_queued: args.max_queued,
            max_outstanding: args.max_outstanding.max(1),
            ..Default::default()
        },
        max_clients: 1024,
        spin: std::time::Duration::from_micros(args.spin_us),
    };
    // The multiplexer is one thread with its own event loop (net::mux); this thread only
    // waits for a signal, on a runtime that does nothing else, and then stops the loop. The
    // signals are watched before anything listens.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let signals = {
        let _entered = runtime.enter();
        crate::Signals::new()?
    };
    let server = MuxServer::bind(config.clone())
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    match &server.listening {
        Listening::Unix(path) => println!("listening 9p-mux/unix {}", path.display()),
        Listening::Tcp(addr) => crate::listening("9p-mux/tcp", *addr),
    }
    if let Some(addr) = server.accepting {
        crate::listening("9p-mux-peer/tcp", addr);
    }
    let stopper = server.stopper();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let mux = std::thread::Builder::new()
        .name("9p-mux".into())
        .spawn(move || {
            let result = server.run();
            drop(done_tx);
            result
        })
        .context("cannot start the multiplexer thread")?;
    runtime.block_on(async {
        tokio::select! {
            () = signals.wait() => {}
            _ = done_rx => {}
        }
    });
    stopper.stop();
    match mux.join() {
        Ok(result) => result.context("the multiplexer's event loop failed")?,
        Err(_) => anyhow::bail!("the multiplexer thread panicked"),
    }
    tracing::info!("shutting down");
    Ok(())
}
