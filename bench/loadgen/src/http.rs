//! One keep-alive HTTP/1.1 connection per worker (hyper), reopened after the server closes it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION, SET_COOKIE};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Everything the workloads look at in a response.
pub struct Reply {
    pub status: u16,
    /// `name=value` of each `Set-Cookie`, attributes dropped.
    pub set_cookies: Vec<(String, String)>,
    /// The `Set-Cookie` lines whole, attributes included (for [`crate::jar::Jar`]).
    pub set_cookie_lines: Vec<String>,
    pub location: Option<String>,
    /// `Content-Type`, to tell an error page from a JSON error.
    pub content_type: Option<String>,
    pub body: Bytes,
    pub elapsed: Duration,
}

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
    /// Connections opened, including the first.
    pub connects: u64,
}

impl Conn {
    /// `base` is `http://host:port` (the Host header keeps the name, e.g. `localhost:3000`).
    pub fn new(base: &str) -> Result<Self, String> {
        let url = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        let host = url.host_str().ok_or("base URL without host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let ip = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        let addr: SocketAddr = format!("{ip}:{port}")
            .parse()
            .map_err(|e| format!("{base}: only IP or localhost ({e})"))?;
        let host = HeaderValue::from_str(&format!("{host}:{port}")).map_err(|e| e.to_string())?;
        Ok(Self {
            addr,
            host,
            sender: None,
            timeout: Duration::from_secs(10),
            connects: 0,
        })
    }

    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if let Some(sender) = self.sender.as_mut() {
            if sender.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.connects += 1;
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| "no connection".to_string())
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.send(Method::GET, path, headers, None).await
    }

    pub async fn post_form(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<Reply, String> {
        self.send(Method::POST, path, headers, Some(body)).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Reply, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        let has_body = body.is_some();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if has_body && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, async {
            let sender = self.ready().await?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, headers, body))
        })
        .await;
        let (status, headers, body) = match result {
            Ok(Ok(parts)) => parts,
            Ok(Err(error)) => {
                self.sender = None;
                return Err(error);
            }
            Err(_) => {
                self.sender = None;
                return Err("timed out".into());
            }
        };
        let set_cookie_lines: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let set_cookies = set_cookie_lines
            .iter()
            .filter_map(|v| {
                let pair = v.split(';').next()?;
                let (name, value) = pair.split_once('=')?;
                Some((name.trim().to_string(), value.trim().to_string()))
            })
            .collect();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Reply {
            status,
            set_cookies,
            set_cookie_lines,
            location,
            content_type,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// A `Cookie` header value from `name=value` pairs (empty values, i.e. deletions, left out).
pub fn cookie_header(cookies: &[(String, String)]) -> String {
    cookies
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub const COOKIE_HEADER: &str = "cookie";
