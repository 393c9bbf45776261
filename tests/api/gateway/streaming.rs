//! Bodies are streamed both ways: a 100 MB download and a 50 MB upload pass through the app
//! binary with its peak memory growing by far less than the body; a body over the limit is
//! refused with 413, early when it is declared, mid-way when it is not.

use std::time::Duration;

use rocket::futures::{stream, StreamExt};

use crate::helpers::app_process::{http, log_in, AppProcess};
use crate::helpers::idp::TestIdp;
use crate::helpers::upstream::Upstream;

const MB: u64 = 1024 * 1024;

/// Peak resident memory of the process so far (VmHWM), in bytes.
fn peak_rss(app: &AppProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", app.child.id())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM")
}

async fn app_in_front_of(upstream: &Upstream, idp: &TestIdp) -> (AppProcess, String) {
    let apis = format!("echo={}/base", upstream.url);
    let app = AppProcess::start(
        idp,
        "code",
        &[
            ("REMOTE_APIS", &apis),
            ("GATEWAY_BODY_LIMIT_BYTES", "62914560"),
        ],
    );
    let session = log_in(idp, &app, None).await;
    (app, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_download_streams_through_with_flat_memory() {
    let upstream = Upstream::start().await;
    let idp = TestIdp::start().await;
    let (app, session) = app_in_front_of(&upstream, &idp).await;
    let before = peak_rss(&app);
    let response = http()
        .get(format!("{}/api/echo/big?size={}", app.url, 100 * MB))
        .header("cookie", &session)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        received += chunk.unwrap().len() as u64;
    }
    assert_eq!(received, 100 * MB);
    let grown = peak_rss(&app).saturating_sub(before);
    assert!(grown < 30 * MB, "peak memory grew by {} MB", grown / MB);
}

/// A body of `size` bytes sent in 64 KiB chunks, without a declared length.
fn chunked(size: u64) -> openidconnect::reqwest::Body {
    let chunk = vec![b'u'; 64 * 1024];
    let count = size / chunk.len() as u64;
    openidconnect::reqwest::Body::wrap_stream(stream::iter(
        (0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_upload_streams_through_with_flat_memory() {
    let upstream = Upstream::start().await;
    let idp = TestIdp::start().await;
    let (app, session) = app_in_front_of(&upstream, &idp).await;
    let before = peak_rss(&app);
    let response = http()
        .post(format!("{}/api/echo/upload", app.url))
        .header("cookie", &session)
        .header("x-csrf", "1")
        .body(chunked(50 * MB))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.body_bytes, 50 * MB);
    let grown = peak_rss(&app).saturating_sub(before);
    assert!(grown < 30 * MB, "peak memory grew by {} MB", grown / MB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_the_limit_is_refused_before_anything_is_sent() {
    let upstream = Upstream::start().await;
    let idp = TestIdp::start().await;
    let (app, session) = app_in_front_of(&upstream, &idp).await;
    let response = http()
        .post(format!("{}/api/echo/upload", app.url))
        .header("cookie", &session)
        .header("x-csrf", "1")
        .header("content-length", (61 * MB).to_string())
        .body(vec![0u8; 16])
        .send()
        .await;
    // The app answers 413 at once (the client may see the connection close instead).
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    assert_eq!(upstream.count(), 0);
    // So that the answer is always seen, on a bare connection: the request's head and the
    // first 16 KiB of the declared 61 MB (the server reads a first piece of a body before it
    // routes the request), then nothing more. The app must answer from the declared length,
    // without waiting for the rest (a client library would insist on sending it all).
    let mut head = format!(
        "POST /api/echo/upload HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {session}\r\n\
         X-CSRF: 1\r\nContent-Length: {}\r\n\r\n",
        app.port,
        61 * MB
    );
    head.push_str(&"u".repeat(16 * 1024));
    let answer = head_answer(app.port, &head).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a declared body over the limit is refused at once: {answer}"
    );
    assert_eq!(upstream.count(), 0);
}

/// Sends `head` (a request's head, and maybe the start of its body) on a fresh connection
/// and reads the answer's head; fails when none comes within 10 s.
async fn head_answer(port: u16, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the app accepts a connection");
    stream.write_all(head.as_bytes()).await.expect("head sent");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    read.expect("an answer without the body")
        .expect("the answer can be read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_body_over_the_limit_is_cut_off_with_413() {
    let upstream = Upstream::start().await;
    let idp = TestIdp::start().await;
    let (app, session) = app_in_front_of(&upstream, &idp).await;
    let response = http()
        .post(format!("{}/api/echo/upload", app.url))
        .header("cookie", &session)
        .header("x-csrf", "1")
        .body(chunked(70 * MB))
        .timeout(Duration::from_secs(120))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 413),
        // The app answers 413 and closes while the client is still writing; the client may
        // then fail on the write before it reads the answer. The cut-off happened all the same.
        Err(error) => assert!(
            format!("{error:?}").contains("BrokenPipe")
                || format!("{error:?}").contains("ConnectionReset"),
            "{error:?}"
        ),
    }
    // Whatever reached the API was incomplete: it never saw the whole body.
    assert!(upstream.seen().iter().all(|seen| seen.body_bytes < 70 * MB));
}
