//! The interception pipeline (DESIGN.md section 3, layer 3): every SIP message in and out,
//! parsed or not, passes each interceptor in order. Logging is the first; HEP capture,
//! digest authentication and flood control join later without touching the transport or the
//! applications.

use std::net::SocketAddr;

use sip::{Message, ParseError, Transport};

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the network.
    Inbound,
    /// About to be sent.
    Outbound,
}

/// One message as an interceptor sees it.
#[derive(Debug)]
pub struct Observed<'a> {
    /// In or out.
    pub direction: Direction,
    /// The transport it travels on.
    pub transport: Transport,
    /// The far end's address.
    pub remote: SocketAddr,
    /// Our address on that transport: where an inbound message arrived, where an outbound
    /// one leaves from (the listening address, or the advertised IP when the PBX listens on
    /// an unspecified one).
    pub local: SocketAddr,
    /// The bytes exactly as on the wire.
    pub raw: &'a [u8],
    /// The parsed message, or why it could not be parsed (inbound only; outbound messages are
    /// always well formed and are passed parsed when the sender had them parsed).
    pub parsed: Option<Result<&'a Message, &'a ParseError>>,
    /// When the driver saw it: interceptors read no clock of their own.
    pub now: std::time::Instant,
}

/// What an interceptor decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the message go on to the next interceptor and then its destination.
    Continue,
    /// Stop the message here, silently.
    Drop,
}

/// A stage of the pipeline.
pub trait Interceptor: Send {
    /// Looks at one message. Must be cheap: it runs for every message.
    fn inspect(&mut self, msg: &Observed<'_>) -> Verdict;
}

/// The interceptors, in order.
#[derive(Default)]
pub struct Pipeline {
    stages: Vec<Box<dyn Interceptor>>,
}

impl Pipeline {
    /// An empty pipeline: everything passes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a stage.
    pub fn push(&mut self, stage: impl Interceptor + 'static) {
        self.stages.push(Box::new(stage));
    }

    /// Runs the message through every stage until one drops it.
    pub fn inspect(&mut self, msg: &Observed<'_>) -> Verdict {
        for stage in &mut self.stages {
            if stage.inspect(msg) == Verdict::Drop {
                return Verdict::Drop;
            }
        }
        Verdict::Continue
    }
}

/// Logs every SIP message at debug level (target `sip`), and refused input with its reason.
#[derive(Debug, Default)]
pub struct SipLog;

impl Interceptor for SipLog {
    fn inspect(&mut self, m: &Observed<'_>) -> Verdict {
        // Formatting a message costs more than answering it: only when someone listens.
        if tracing::enabled!(target: "sip", tracing::Level::DEBUG) {
            let arrow = match m.direction {
                Direction::Inbound => "<-",
                Direction::Outbound => "->",
            };
            let text = String::from_utf8_lossy(m.raw);
            match m.parsed {
                Some(Err(e)) => tracing::debug!(
                    target: "sip", transport = %m.transport, remote = %m.remote, error = %e,
                    "{arrow} refused {} bytes\n{text}", m.raw.len()
                ),
                _ => tracing::debug!(
                    target: "sip", transport = %m.transport, remote = %m.remote,
                    "{arrow} {} bytes\n{text}", m.raw.len()
                ),
            }
        }
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>, Verdict);

    impl Interceptor for Count {
        fn inspect(&mut self, _: &Observed<'_>) -> Verdict {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.1
        }
    }

    #[test]
    fn a_drop_stops_the_pipeline() {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut p = Pipeline::new();
        p.push(SipLog);
        p.push(Count(seen.clone(), Verdict::Drop));
        p.push(Count(seen.clone(), Verdict::Continue));
        let m = Observed {
            direction: Direction::Inbound,
            transport: Transport::Udp,
            remote: "127.0.0.1:5060".parse().expect("addr"),
            local: "127.0.0.1:5070".parse().expect("addr"),
            raw: b"x",
            parsed: None,
            now: std::time::Instant::now(),
        };
        assert_eq!(p.inspect(&m), Verdict::Drop);
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
