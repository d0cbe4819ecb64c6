//! `switchboard`: the soft PBX binary. Parses the command line and the config file, sets up
//! logging, binds the listeners and runs until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use rand::SeedableRng;
use tokio::sync::watch;

mod config;
mod mux_cli;
mod ninep_cli;
mod state;
mod tree_backend;

use config::{Config, PortRange};

/// The 9P Unix socket, in the data directory (DESIGN.md section 15).
const NINEP_SOCKET: &str = "switchboard.9p";

/// A soft PBX: SIP phones register and call through it, and its service can be driven over
/// HTTP and browsed as a 9P2000 file tree.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the PBX: SIP signalling (UDP and TCP), with its configuration from
    /// ./switchboard.toml when present.
    Serve(ServeArgs),
    /// A 9P2000 client for the PBX's file tree: ls, cat, write (stdin), stat, rm, mkdir.
    /// The secret for -u comes from SWITCHBOARD_SECRET.
    #[command(name = "9p")]
    Ninep(ninep_cli::NinepArgs),
    /// A 9P2000 multiplexer: many clients over one upstream connection, and the peer's
    /// sessions the other way to --export.
    Mux(mux_cli::MuxArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Config file (TOML). Default: ./switchboard.toml if it exists, else built-in defaults.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// SIP address, for UDP and TCP on the same port [default: 0.0.0.0:5060]. Port 0 picks a
    /// free port; a `listening sip/udp ADDR` line on stdout says which.
    #[arg(long, value_name = "ADDR:PORT", env = "SWITCHBOARD_SIP")]
    sip: Option<SocketAddr>,
    /// HTTP API address [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR:PORT", env = "SWITCHBOARD_HTTP")]
    http: Option<SocketAddr>,
    /// 9P2000 file service address [default: 127.0.0.1:5640].
    #[arg(long, value_name = "ADDR:PORT", env = "SWITCHBOARD_NINEP")]
    ninep: Option<SocketAddr>,
    /// Data directory: database, recordings, local 9P socket [default: ./data].
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_DATA")]
    data: Option<PathBuf>,
    /// UDP port range for media, LO-HI [default: 10000-20000].
    #[arg(long, value_name = "LO-HI", env = "SWITCHBOARD_RTP_PORTS")]
    rtp_ports: Option<PortRange>,
    /// Address written into Via, Contact and SDP when listening on 0.0.0.0 or behind a 1:1
    /// NAT [default: the listening address].
    #[arg(long, value_name = "ADDR", env = "SWITCHBOARD_ADVERTISE")]
    advertise: Option<IpAddr>,
    /// Homer collector to send HEP3 capture to [default: none].
    #[arg(long, value_name = "ADDR:PORT", env = "SWITCHBOARD_HEP")]
    hep: Option<SocketAddr>,
}

impl ServeArgs {
    /// The config file, then the flags (and their environment variables) on top.
    fn resolve(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => {
                let default = PathBuf::from("switchboard.toml");
                if default.exists() {
                    Config::load(&default)?
                } else {
                    Config::default()
                }
            }
        };
        if let Some(v) = self.sip {
            c.sip.listen = v;
        }
        if let Some(v) = self.http {
            c.http.listen = v;
        }
        if let Some(v) = self.ninep {
            c.ninep.listen = v;
        }
        if let Some(v) = self.data {
            c.data = v;
        }
        if let Some(v) = self.rtp_ports {
            c.rtp.ports = v;
        }
        if let Some(v) = self.advertise {
            c.advertise = Some(v);
        }
        if let Some(v) = self.hep {
            c.hep.collector = Some(v);
        }
        Ok(c)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args.resolve().and_then(serve),
        Command::Ninep(args) => ninep_cli::run(args),
        Command::Mux(args) => mux_cli::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole chain of causes, no backtrace.
            eprintln!("switchboard: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).context("invalid RUST_LOG")?,
        _ => EnvFilter::try_new(level).context("invalid [log] level")?,
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

/// The hosts that name this PBX: a request whose Request-URI host is one of them is
/// addressed to the PBX itself.
fn own_hosts(c: &Config, bound: SocketAddr) -> Vec<sip::Host> {
    let mut ips: Vec<IpAddr> = vec![bound.ip()];
    if bound.ip().is_unspecified() {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        ips.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
    }
    ips.extend(c.advertise);
    let mut hosts: Vec<sip::Host> = ips
        .into_iter()
        .filter(|ip| !ip.is_unspecified())
        .map(sip::Host::from)
        .collect();
    let names = c
        .sip
        .domains
        .iter()
        .chain(c.default_domain.iter())
        .map(String::as_str);
    hosts.extend(names.chain(["localhost"]).filter_map(sip::Host::parse));
    hosts
}

/// Wall-clock time since the Unix epoch.
fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Wall-clock time as Unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn listening(proto: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {proto} {addr}");
    let _ = out.flush();
}

fn serve(c: Config) -> anyhow::Result<()> {
    init_logging(&c.log.level)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // Watch the signals before announcing anything: a supervisor that reads the
        // `listening` lines may signal at once.
        let signals = Signals::new()?;
        let sip_config = net::SipConfig {
            listen: c.sip.listen,
            limits: sip::Limits {
                max_message: c.sip.max_message_bytes,
                max_headers: c.sip.max_headers,
            },
            max_connections: c.sip.max_tcp_connections,
            tcp_idle: std::time::Duration::from_secs(c.sip.tcp_idle_secs),
            transactions: c.sip.transactions()?,
            advertise: c.advertise,
        };
        let server = net::SipServer::bind(sip_config).await?;
        let local = server.local_addr();
        listening("sip/udp", local);
        listening("sip/tcp", local);

        let hosts = own_hosts(&c, local);
        let (store, state) = state::open(&c, unix_now()).await?;
        state::import_unwritten_cdrs(store.as_ref(), &c.data).await;
        let metrics = std::sync::Arc::new(pbx::Metrics::default());
        let identity = pbx::Identity {
            hosts,
            server: c.sip.server_header.clone(),
            allow: vec![
                sip::Method::Invite,
                sip::Method::Ack,
                sip::Method::Cancel,
                sip::Method::Bye,
                sip::Method::Options,
                sip::Method::Register,
                sip::Method::Update,
                sip::Method::Info,
                sip::Method::Prack,
            ],
        };
        let mut registrar = pbx::Registrar::new(
            c.registrar.config()?,
            state.clone(),
            rand::rngs::StdRng::from_os_rng(),
        );
        if let Some(d) = &c.default_domain {
            registrar = registrar.with_default_domain(d);
        }
        let guard = std::sync::Arc::new(std::sync::Mutex::new(pbx::Guard::new(
            c.guard.config()?,
            metrics.clone(),
        )));
        // HEP capture: SIP from the pipeline and RTCP from the relay, for the readers of a
        // call's hep.sock and, with --hep, for a Homer collector.
        let hep_agent = c.hep.agent();
        let hep_export = match c.hep.collector {
            Some(addr) => {
                let exporter = net::hep::HepExporter::bind(addr, net::hep::EXPORT_QUEUE)
                    .await
                    .with_context(|| format!("cannot send HEP to {addr}"))?;
                tracing::info!(collector = %addr, capture_id = hep_agent.capture_id, "hep export");
                Some(exporter)
            }
            None => None,
        };
        let hep_queue = hep_export.as_ref().map(net::hep::HepExporter::queue);
        let capture = pbx::CaptureHub::new();
        let mut pipeline = pbx::Pipeline::new();
        // The guard first: a blocked address costs nothing more than this lookup.
        pipeline.push(pbx::GuardInterceptor(guard.clone()));
        pipeline.push(pbx::SipLog);
        pipeline.push(pbx::Capture::new(
            capture.clone(),
            hep_agent.clone(),
            hep_queue.clone(),
            (std::time::Instant::now(), since_epoch()),
        ));
        // Registration and call events for webhooks; bounded, so a dead control server costs
        // nothing. Call events reach the webhooks through the CDR writer (below), which passes
        // a hang-up on only once its CDR is committed.
        let (events, events_rx) = tokio::sync::mpsc::channel(api::WEBHOOK_CHANNEL);
        let (call_hooks, call_hooks_rx) = tokio::sync::mpsc::channel(api::CALL_HOOK_CHANNEL);
        let webhooks = api::spawn_webhooks_with_calls(
            state.clone(),
            metrics.clone(),
            events_rx,
            call_hooks_rx,
            api::WebhookConfig::default(),
        )
        .context("cannot start webhooks")?;

        // The HTTP API: the same state and store as SIP.
        let token = std::env::var(api::TOKEN_ENV).ok().filter(|t| !t.is_empty());
        if api::token_required(c.http.listen) && token.is_none() {
            anyhow::bail!(
                "the HTTP API would listen on {} beyond loopback without a token: set {}",
                c.http.listen,
                api::TOKEN_ENV
            );
        }
        let http = tokio::net::TcpListener::bind(c.http.listen)
            .await
            .with_context(|| format!("cannot listen for HTTP on {}", c.http.listen))?;
        listening("http", http.local_addr().context("http listener address")?);
        // The media relay: its own threads, its own sockets.
        let media = std::sync::Arc::new(media_engine(&c, local, hep_agent, hep_queue)?);
        let sent_by = SocketAddr::new(
            c.advertise.unwrap_or(if local.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                local.ip()
            }),
            local.port(),
        );
        tokio::spawn(copy_counters(
            media.clone(),
            hep_export.as_ref().map(|e| (e.stats(), e.queue())),
            metrics.clone(),
        ));
        let calls = pbx::calls::Calls::new(
            c.calls.config(),
            state.clone(),
            media.clone(),
            sent_by,
            (std::time::Instant::now(), unix_now()),
            rand::rngs::StdRng::from_os_rng(),
        )
        .with_advertise(c.advertise);
        let (call_events, call_events_rx) = tokio::sync::mpsc::channel(api::CALL_EVENT_CHANNEL);
        let cdrs = api::spawn_call_events(
            store.clone(),
            call_events_rx,
            call_hooks,
            api::CallEventsConfig::default(),
        );
        let (commands_tx, commands) = tokio::sync::mpsc::channel(64);
        let http_api = api::Api::new(state.clone(), store.clone(), metrics.clone(), token)
            .with_calls(calls.live(), commands_tx.clone())
            .with_reg_events(events.clone());
        // The 9P tree: the same state, store and directory writer as the HTTP API.
        let tree = pbx::tree::Tree::new(
            state.clone(),
            calls.live(),
            std::sync::Arc::new(tree_backend::StoreBackend {
                writer: http_api.directory_writer(),
                store: store.clone(),
                commands: commands_tx,
                runtime: tokio::runtime::Handle::current(),
            }),
            std::sync::Arc::new(tree_backend::SystemEnv::default()),
            pbx::tree::Taps {
                media: media.clone(),
                capture: capture.clone(),
                // uacs/<name>/sip.sock: virtual connections of the SIP endpoint.
                sip: Some(std::sync::Arc::new(server.sip_sockets())),
            },
            c.guard.config()?,
        );
        let ninep = net::ninep::serve(
            net::ninep::NinepConfig {
                tcp: Some(c.ninep.listen),
                unix: Some(c.data.join(NINEP_SOCKET)),
                ..Default::default()
            },
            tree,
            metrics.clone(),
        )
        .await
        .context("cannot listen for 9P")?;
        if let Some(addr) = ninep.tcp {
            listening("9p/tcp", addr);
        }
        if let Some(path) = &ninep.unix {
            println!("listening 9p/unix {}", path.display());
        }
        let router = api::router(http_api);
        let apps = net::Apps {
            answers: pbx::Answers::new(identity, rand::rngs::StdRng::from_os_rng()),
            registrar,
            events,
            metrics,
            guard,
            pipeline,
            calls,
            call_events,
            commands,
        };

        let (stop_tx, stop_rx) = watch::channel(false);
        let hep_task = hep_export.map(|e| tokio::spawn(e.run(stop_rx.clone())));
        let run = tokio::spawn(server.run(apps, stop_rx.clone()));
        let mut http_stop = stop_rx.clone();
        let http = tokio::spawn(api::serve(http, router, async move {
            let _ = http_stop.changed().await;
        }));
        let checkpoints = tokio::spawn(state::checkpoint_loop(store, state, stop_rx));
        signals.wait().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        run.await.context("sip server task failed")?;
        if let Some(task) = hep_task {
            let _ = task.await;
        }
        // SIP has stopped and handed over every call event: the writer commits the last CDRs
        // and returns any the store would not take.
        match cdrs.await {
            Ok(unwritten) if unwritten.is_empty() => {}
            Ok(unwritten) => state::save_unwritten_cdrs(&c.data, unix_now(), &unwritten),
            Err(e) => tracing::error!(error = %e, "CDR writer task failed"),
        }
        // SIP has stopped and dropped its end of the event channel: the webhooks finish what
        // they hold, briefly.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), webhooks).await;
        match http.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "http server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "http server task failed"),
            Ok(Ok(())) => {}
        }
        // The last checkpoint runs after SIP has stopped, so no binding change is lost.
        checkpoints.await.context("checkpoint task failed")?;
        Ok(())
    })
}

/// Starts the media relay on the SIP address's family, over the configured port range.
fn media_engine(
    c: &Config,
    sip: SocketAddr,
    hep_agent: hep::Agent,
    hep_export: Option<media::PacketQueue>,
) -> anyhow::Result<net::media::MediaEngine> {
    let ports =
        media::PortRange::new(c.rtp.ports.lo, c.rtp.ports.hi).context("invalid RTP port range")?;
    let mut config = net::media::MediaConfig {
        ports,
        hep_agent,
        hep_export,
        realtime_priority: c.rtp.realtime_priority,
        ..Default::default()
    };
    if let Some(n) = c.rtp.relay_threads {
        config.workers = n.get();
    }
    match (sip.ip(), c.advertise) {
        (IpAddr::V6(v6), adv) => {
            config.bind_v4 = None;
            config.bind_v6 = Some(v6);
            config.advertise_v6 = adv.and_then(|a| match a {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            });
        }
        (IpAddr::V4(v4), adv) => {
            config.bind_v4 = Some(v4);
            config.advertise_v4 = adv.and_then(|a| match a {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            });
        }
    }
    net::media::MediaEngine::start(config).context("cannot start the media relay")
}

/// Copies the relay's packet counters and the HEP export's into the metrics, once a second.
async fn copy_counters(
    media: std::sync::Arc<net::media::MediaEngine>,
    hep: Option<(std::sync::Arc<net::hep::ExportStats>, media::PacketQueue)>,
    metrics: std::sync::Arc<pbx::Metrics>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        metrics.rtp_relayed.store(media.packets_relayed(), Relaxed);
        metrics.rtp_dropped.store(media.packets_dropped(), Relaxed);
        if let Some((stats, queue)) = &hep {
            metrics.hep_sent.store(stats.sent.load(Relaxed), Relaxed);
            metrics
                .hep_failed
                .store(stats.failed.load(Relaxed), Relaxed);
            metrics.hep_dropped.store(queue.dropped(), Relaxed);
        }
    }
}

/// SIGTERM and SIGINT, both of which stop the server cleanly.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
