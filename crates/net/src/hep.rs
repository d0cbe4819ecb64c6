//! The `--hep` export: HEP3 frames to a Homer collector over UDP, one frame per datagram.
//!
//! Producers (the SIP capture interceptor in the endpoint task, the media relay threads for
//! RTCP) push frames into one bounded [`PacketQueue`] and never wait: when the collector is
//! slow or absent the queue drops its oldest frames and counts them. This task takes the
//! frames out and sends them; it is the only thing that waits on the collector.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use media::PacketQueue;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, watch};

/// Frames waiting for the collector before the oldest are dropped: about a second of SIP at
/// a few thousand messages per second.
pub const EXPORT_QUEUE: usize = 4096;

/// Counters of the export.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Frames sent to the collector.
    pub sent: AtomicU64,
    /// Frames the socket refused (the collector unreachable, buffers full).
    pub failed: AtomicU64,
}

/// The exporter: its queue (for the producers) and its socket. Run it with
/// [`HepExporter::run`].
#[derive(Debug)]
pub struct HepExporter {
    queue: PacketQueue,
    notify: Arc<Notify>,
    socket: UdpSocket,
    collector: SocketAddr,
    stats: Arc<ExportStats>,
}

impl HepExporter {
    /// A UDP socket (an ephemeral port of the collector's family) and a queue of `capacity`
    /// frames.
    pub async fn bind(collector: SocketAddr, capacity: usize) -> io::Result<Self> {
        let any: SocketAddr = match collector {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any).await?;
        let notify = Arc::new(Notify::new());
        let wake = Arc::clone(&notify);
        let queue = PacketQueue::new(capacity, Arc::new(move || wake.notify_one()));
        Ok(Self {
            queue,
            notify,
            socket,
            collector,
            stats: Arc::default(),
        })
    }

    /// The queue producers push frames into (clones of one queue).
    pub fn queue(&self) -> PacketQueue {
        self.queue.clone()
    }

    /// Where frames go.
    pub fn collector(&self) -> SocketAddr {
        self.collector
    }

    /// Sent and failed counts; dropped frames are [`PacketQueue::dropped`] of the queue.
    pub fn stats(&self) -> Arc<ExportStats> {
        Arc::clone(&self.stats)
    }

    /// Sends frames as they come until `shutdown` turns true, then sends what is left.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut frame = Vec::with_capacity(hep::MAX_FRAME);
        loop {
            self.flush(&mut frame).await;
            tokio::select! {
                // A push between the flush and this wait leaves a permit: nothing is missed.
                _ = self.notify.notified() => {}
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        self.flush(&mut frame).await;
        tracing::debug!(
            sent = self.stats.sent.load(Ordering::Relaxed),
            failed = self.stats.failed.load(Ordering::Relaxed),
            dropped = self.queue.dropped(),
            "hep export stopped"
        );
    }

    async fn flush(&self, frame: &mut Vec<u8>) {
        while self.queue.pop_into(frame) {
            match self.socket.send_to(frame, self.collector).await {
                Ok(_) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // Per frame, and a dead collector refuses every one: trace level.
                    tracing::trace!(error = %e, collector = %self.collector, "hep frame not sent");
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_the_collector_one_per_datagram() {
        let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let exporter = HepExporter::bind(collector.local_addr().unwrap(), 8)
            .await
            .unwrap();
        let queue = exporter.queue();
        let stats = exporter.stats();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(exporter.run(stopped));
        queue.push(b"HEP3 one");
        queue.push(b"HEP3 two");
        let mut buf = [0u8; 64];
        let (n, _) = collector.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"HEP3 one");
        let (n, _) = collector.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"HEP3 two");
        queue.push(b"last");
        stop.send(true).unwrap();
        task.await.unwrap();
        let (n, _) = collector.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"last");
        assert_eq!(stats.sent.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_without_waiting() {
        // No task runs: producers still never wait, and the queue stays bounded.
        let exporter = HepExporter::bind("127.0.0.1:9".parse().unwrap(), 4)
            .await
            .unwrap();
        let queue = exporter.queue();
        for i in 0..100u8 {
            queue.push(&[i]);
        }
        assert_eq!((queue.len(), queue.dropped()), (4, 96));
    }
}
