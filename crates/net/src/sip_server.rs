//! Binding SIP's UDP socket and TCP listener on one port, and running them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::endpoint::{Endpoint, Inbound};
use crate::sip_sock::SipLinks;
use crate::tcp;

/// Messages waiting for the endpoint, from TCP connections and `sip.sock` files together.
const INBOUND_QUEUE: usize = 1024;

/// What the SIP driver needs to know.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Address for both UDP and TCP. Port 0 picks a free port, the same for both.
    pub listen: SocketAddr,
    /// Bounds on one message.
    pub limits: sip::Limits,
    /// Most TCP connections open at once; further ones are refused at accept.
    pub max_connections: usize,
    /// A TCP connection that carries nothing (not even a keepalive) for this long is closed.
    pub tcp_idle: Duration,
    /// Timers T1, T2, T4 and the bound on live server transactions.
    pub transactions: sip::transaction::LayerConfig,
    /// The address written in the Via of requests the PBX sends (keepalives) when it listens
    /// on an unspecified address or sits behind a 1:1 NAT.
    pub advertise: Option<std::net::IpAddr>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            limits: sip::Limits::default(),
            max_connections: 4096,
            // RFC 5626 keepalives come every 2 minutes at most; registrations last an hour.
            tcp_idle: Duration::from_secs(3600),
            transactions: sip::transaction::LayerConfig::default(),
            advertise: None,
        }
    }
}

/// Errors starting the SIP listeners.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The UDP socket could not be bound.
    #[error("cannot listen for SIP on udp {addr}")]
    Udp {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The TCP listener could not be bound.
    #[error("cannot listen for SIP on tcp {addr}")]
    Tcp {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// The receive buffer asked for the UDP socket. The kernel's default (about 208 KiB) holds
/// only a few milliseconds of a burst at thousands of requests per second; the kernel caps the
/// request at `net.core.rmem_max` (4 MiB on Debian).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// Binds the SIP UDP socket with a large receive buffer, non-blocking, for tokio.
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer is still a working socket.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// SIP listeners that are bound and ready to run.
pub struct SipServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    local: SocketAddr,
    config: SipConfig,
    /// The endpoint's inbound queue: TCP connections and `sip.sock` files hand it complete
    /// messages; when it is full TCP readers wait (and TCP flow control pushes back on the
    /// peer) and `sip.sock` writes are refused for a retry.
    inbound: (mpsc::Sender<Inbound>, mpsc::Receiver<Inbound>),
}

impl SipServer {
    /// Binds UDP and TCP on the same address. With port 0 the kernel picks the UDP port and
    /// TCP takes the same one; if that TCP port is taken, another pair is tried.
    pub async fn bind(config: SipConfig) -> Result<Self, BindError> {
        let addr = config.listen;
        let attempts = if addr.port() == 0 { 16 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let udp = bind_udp(addr).map_err(|source| BindError::Udp { addr, source })?;
            let local = udp
                .local_addr()
                .map_err(|source| BindError::Udp { addr, source })?;
            match TcpListener::bind(local).await {
                Ok(tcp) => {
                    return Ok(Self {
                        udp: Arc::new(udp),
                        tcp,
                        local,
                        config,
                        inbound: mpsc::channel::<Inbound>(INBOUND_QUEUE),
                    });
                }
                Err(source) => {
                    last = Some(BindError::Tcp {
                        addr: local,
                        source,
                    })
                }
            }
        }
        Err(last.unwrap_or(BindError::Tcp {
            addr,
            source: io::ErrorKind::AddrInUse.into(),
        }))
    }

    /// The address both listeners are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The handle the 9P tree's `sip.sock` files open virtual connections with.
    pub fn sip_sockets(&self) -> SipLinks {
        SipLinks::new(self.inbound.0.clone(), self.config.limits)
    }

    /// Serves until `shutdown` turns true.
    pub async fn run(self, apps: crate::endpoint::Apps, mut shutdown: watch::Receiver<bool>) {
        let (tx, rx) = self.inbound;
        let accept = tokio::spawn(tcp::accept_loop(
            self.tcp,
            tx,
            self.config.clone(),
            shutdown.clone(),
        ));
        let endpoint = Endpoint::new(self.udp, self.local, apps, self.config);
        endpoint.run(rx, &mut shutdown).await;
        accept.abort();
    }
}
