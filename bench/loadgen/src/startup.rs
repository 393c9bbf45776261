//! `loadgen startup --url URL --log FILE -- command args…`: spawns the server, polls `URL` every
//! millisecond until it answers 200, prints the time from spawn to that answer and the pid,
//! and leaves the server running (the caller stops it by that pid).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::Args;

pub fn run(args: &Args) -> Result<(), String> {
    let url = url::Url::parse(&args.text("url")?).map_err(|e| e.to_string())?;
    let log = args.text("log")?;
    let timeout = Duration::from_secs_f64(args.or("timeout-secs", 60.0)?);
    let host = match url.host_str() {
        Some("localhost") | None => "127.0.0.1".to_string(),
        Some(h) => h.to_string(),
    };
    let addr: SocketAddr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80))
        .parse()
        .map_err(|e| format!("{url}: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        &url[url::Position::BeforePath..],
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    );
    let (program, rest) = args.rest.split_first().ok_or("no command after --")?;
    let out = std::fs::File::create(&log).map_err(|e| format!("{log}: {e}"))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;

    let spawned = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let pid = child.id();
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        if probe(addr, &request) == Some(200) {
            let ms = spawned.elapsed().as_secs_f64() * 1000.0;
            println!("startup_ms={ms:.1}");
            println!("pid={pid}");
            println!("probes={attempts}");
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{program} exited ({status}) before answering; see {log}"));
        }
        if spawned.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no 200 from {url} within {timeout:?}; see {log}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The status code of one request on a fresh connection, or `None`.
fn probe(addr: SocketAddr, request: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 16];
    let mut filled = 0;
    while filled < 12 {
        let n = stream.read(&mut head[filled..]).ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
    }
    // "HTTP/1.1 200 "
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
