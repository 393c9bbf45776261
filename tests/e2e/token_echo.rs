//! A stand-in API for the resource story: answers every request with the path it was called
//! at and the `Authorization` header it received, so the story can read which token each API
//! got (a test fixture: a real API never echoes its token). Plain HTTP/1.1 on a socket, one
//! request per connection: a second Rocket in the harness's process would log over its output.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::assert_port_free;

/// Where it listens (away from the app's 3000 and the IdP's 4000).
pub const PORT: u16 = 4310;

/// Request heads larger than this are not answered.
const MAX_HEAD: usize = 64 * 1024;

/// Serves until the returned task is aborted.
pub async fn start() -> tokio::task::JoinHandle<()> {
    assert_port_free(PORT, "the token echo API");
    let listener = TcpListener::bind(("127.0.0.1", PORT))
        .await
        .expect("the token echo API listens");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    })
}

async fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default();
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_string())
    });
    let body = json!({ "path": path, "authorization": authorization }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
