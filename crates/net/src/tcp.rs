//! SIP over TCP: one task per connection that frames the stream (RFC 3261 section 18.3),
//! answers keepalive pings (RFC 5626 section 4.4.1), and writes what the endpoint sends it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use sip::framing::{self, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::endpoint::{ConnId, Inbound};
use crate::sip_server::SipConfig;

/// What the endpoint tells a connection.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    /// Write these bytes.
    Send(Bytes),
    /// Write these bytes, then close (after refusing a stream that cannot be resynchronised).
    SendAndClose(Bytes),
}

/// Most messages queued for one connection's writer. A peer that does not read its socket
/// loses messages beyond this rather than growing our memory.
pub(crate) const CONN_QUEUE: usize = 256;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    endpoint: mpsc::Sender<Inbound>,
    config: SipConfig,
    shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut next_id: u64 = 0;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, "sip tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= config.max_connections {
            tracing::warn!(%remote, "sip tcp connection refused: limit reached");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = ConnId(next_id);
        open.fetch_add(1, Ordering::Relaxed);
        let (open, endpoint, config, shutdown) = (
            open.clone(),
            endpoint.clone(),
            config.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            connection(id, stream, remote, endpoint, &config, shutdown).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn connection(
    id: ConnId,
    mut stream: TcpStream,
    remote: SocketAddr,
    endpoint: mpsc::Sender<Inbound>,
    config: &SipConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::channel(CONN_QUEUE);
    if endpoint
        .send(Inbound::Opened { conn: id, tx })
        .await
        .is_err()
    {
        return;
    }
    tracing::debug!(%remote, conn = id.0, "sip tcp connection opened");
    let mut buf = BytesMut::with_capacity(4096);
    let limits = config.limits;
    'conn: loop {
        tokio::select! {
            read = tokio::time::timeout(config.tcp_idle, stream.read_buf(&mut buf)) => {
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break 'conn,
                    Err(_) => {
                        tracing::debug!(%remote, "sip tcp connection idle, closing");
                        break 'conn;
                    }
                    Ok(Ok(_)) => {}
                }
                loop {
                    match framing::check(&buf, &limits) {
                        Ok(Frame::Incomplete) => break,
                        Ok(Frame::Message(n)) => {
                            let bytes = buf.split_to(n).freeze();
                            let msg = Inbound::Stream { conn: id, remote, bytes, error: None };
                            if endpoint.send(msg).await.is_err() {
                                break 'conn;
                            }
                        }
                        //= https://www.rfc-editor.org/rfc/rfc5626#section-4.4.1
                        //# When a server receives a double CRLF ("ping") it MUST respond with a
                        //# single CRLF ("pong") if the flow is reliable.
                        Ok(Frame::Ping(n)) => {
                            let _ = buf.split_to(n);
                            if stream.write_all(b"\r\n").await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::Pong(n)) => {
                            let _ = buf.split_to(n);
                        }
                        Err(error) => {
                            // The stream cannot be resynchronised: the endpoint answers what
                            // it can from the head, then this connection closes.
                            let bytes = buf.split().freeze();
                            let msg =
                                Inbound::Stream { conn: id, remote, bytes, error: Some(error) };
                            let _ = endpoint.send(msg).await;
                            // Wait (briefly) for the refusal to be written.
                            if let Ok(Some(ConnCmd::SendAndClose(b) | ConnCmd::Send(b))) =
                                tokio::time::timeout(
                                    std::time::Duration::from_secs(1),
                                    rx.recv(),
                                ).await
                            {
                                let _ = stream.write_all(&b).await;
                            }
                            break 'conn;
                        }
                    }
                }
            }
            cmd = rx.recv() => match cmd {
                Some(ConnCmd::Send(b)) => {
                    if stream.write_all(&b).await.is_err() {
                        break 'conn;
                    }
                }
                Some(ConnCmd::SendAndClose(b)) => {
                    let _ = stream.write_all(&b).await;
                    break 'conn;
                }
                None => break 'conn,
            },
            _ = shutdown.changed() => break 'conn,
        }
    }
    let _ = stream.shutdown().await;
    let _ = endpoint.send(Inbound::Closed { conn: id }).await;
    tracing::debug!(%remote, conn = id.0, "sip tcp connection closed");
}
