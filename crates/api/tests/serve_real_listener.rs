//! Over a real TCP listener on loopback: a 1 MiB body is accepted, a body over the limit gets
//! a JSON 413 (whether its length is declared or streamed), and `serve` returns once the
//! shutdown future completes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use api::Api;
use pbx::{Metrics, State, Store};
use store::SqliteStore;

/// A `PUT /dir` body of at least `size` bytes: many users.
fn big_body(size: usize) -> String {
    let mut body = String::from(r#"{"control": "http://127.0.0.1:9001", "users": ["#);
    let mut n = 0;
    while body.len() < size {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"username": "user{n:06}", "secret": "a-long-enough-secret-for-user-{n:06}-padding-padding"}}"#
        ));
        n += 1;
    }
    body.push_str("]}");
    body
}

#[tokio::test]
async fn one_mib_accepted_larger_refused_then_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let state = Arc::new(State::default());
    let api = Api::new(
        Arc::clone(&state),
        Arc::clone(&store),
        Arc::new(Metrics::default()),
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, api::router(api), async {
        let _ = stop_rx.await;
    }));

    api::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // 1 MiB: accepted, every user stored.
    let body = big_body(1024 * 1024);
    let users = body.matches("username").count();
    let response = client
        .put(format!("{base}/dir/big.example.com"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["users"].as_array().unwrap().len(), users);
    let snapshot = store.load().await.unwrap();
    assert_eq!(snapshot.domains[0].1.len(), users);

    // Over the limit, with a Content-Length: 413 JSON.
    let response = client
        .put(format!("{base}/dir/big.example.com"))
        .header("content-type", "application/json")
        .body(big_body(api::BODY_LIMIT + 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.unwrap();
    assert!(json["error"].is_string());

    // Over the limit, streamed (chunked, no Content-Length): 413 JSON too.
    if let Some(head) = chunked_put(addr, &big_body(api::BODY_LIMIT + 1024)).await {
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(head.contains(r#"{"error":"#), "{head}");
    }
    // What was refused changed nothing.
    assert_eq!(store.load().await.unwrap().domains[0].1.len(), users);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Sends `body` chunked and returns what came back, if anything: the server may answer and
/// close before taking the whole body, and then the connection may be reset before the
/// answer is read, which is a refusal too.
async fn chunked_put(addr: std::net::SocketAddr, body: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let body = body.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        let head = "PUT /dir/big.example.com HTTP/1.1\r\nHost: localhost\r\n\
                    Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        write.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(chunk).await?;
            write.write_all(b"\r\n").await?;
        }
        write.write_all(b"0\r\n\r\n").await?;
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    // A reset ends the read with an error; what was read before it still counts.
    let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .expect("the server answers or closes");
    let _ = writer.await;
    (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}
