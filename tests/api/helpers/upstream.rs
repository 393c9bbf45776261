//! A real API behind the gateway, started by the test on a free port: it echoes what it
//! received (method, raw path, query, headers, body size) and can stream a large body, delay,
//! set cookies and hop-by-hop headers, and refuse chosen access tokens.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::data::ToByteUnit;
use rocket::futures::stream;
use rocket::http::{Method, Status};
use rocket::route::{Handler, Outcome, Route};
use rocket::tokio::io::AsyncReadExt;
use rocket::{Data, Request, Response};
use serde_json::{json, Map, Value};

use super::free_port;

/// What the API received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body_bytes: u64,
    /// Whether the whole body arrived (false: the sender broke off).
    pub body_complete: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct UpstreamState {
    pub seen: Mutex<Vec<Seen>>,
    /// Access tokens answered with 401 `invalid_token`.
    pub rejected_tokens: Mutex<HashSet<String>>,
    /// Access tokens from a strong enough sign-in for paths ending in `/stepup`; any other
    /// token gets the RFC 9470 challenge there.
    pub strong_tokens: Mutex<HashSet<String>>,
}

pub struct Upstream {
    pub url: String,
    pub state: Arc<UpstreamState>,
    _shutdown: rocket::Shutdown,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self._shutdown.clone().notify();
    }
}

impl Upstream {
    pub async fn start() -> Self {
        let port = free_port();
        let state = Arc::new(UpstreamState::default());
        let config = rocket::Config {
            port,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            log_level: rocket::config::LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        let routes: Vec<Route> = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
            Method::Options,
        ]
        .into_iter()
        .map(|m| Route::new(m, "/<_..>", Echo(state.clone())))
        .collect();
        let rocket = rocket::custom(config)
            .mount("/", routes)
            .ignite()
            .await
            .expect("upstream ignites");
        let shutdown = rocket.shutdown();
        tokio::spawn(rocket.launch());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "upstream did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Upstream {
            url: format!("http://127.0.0.1:{port}"),
            state,
            _shutdown: shutdown,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received a request")
    }

    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Accepts `token` at the `/stepup` paths from now on.
    pub fn accept_as_strong(&self, token: &str) {
        self.state
            .strong_tokens
            .lock()
            .unwrap()
            .insert(token.to_string());
    }

    pub fn reject_token(&self, token: &str) {
        self.state
            .rejected_tokens
            .lock()
            .unwrap()
            .insert(token.to_string());
    }
}

#[derive(Clone)]
struct Echo(Arc<UpstreamState>);

fn query_param(req: &Request<'_>, name: &str) -> Option<u64> {
    req.query_value::<u64>(name).and_then(Result::ok)
}

#[rocket::async_trait]
impl Handler for Echo {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let mut reader = data.open(1.gibibytes());
        let mut body_bytes = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut body_complete = true;
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => body_bytes += n as u64,
                Err(_) => {
                    body_complete = false;
                    break;
                }
            }
        }
        let path = req.uri().path().as_str().to_string();
        let seen = Seen {
            method: req.method().as_str().to_string(),
            path: path.clone(),
            query: req.uri().query().map(|q| q.as_str().to_string()),
            headers: req
                .headers()
                .iter()
                .map(|h| (h.name().to_string(), h.value().to_string()))
                .collect(),
            body_bytes,
            body_complete,
        };
        self.0.seen.lock().unwrap().push(seen.clone());

        if let Some(ms) = query_param(req, "delay_ms") {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let token = seen
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        if let Some(token) = &token {
            if self.0.rejected_tokens.lock().unwrap().contains(token) {
                let mut response = Response::build();
                response.status(Status::Unauthorized);
                response.raw_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
                return Outcome::Success(response.finalize());
            }
        }
        // A DPoP API that wants its nonce (RFC 9449 §9) in the proof.
        if path.ends_with("/dpop-nonce")
            && seen
                .header("dpop")
                .map(super::back_channel::proof_claims)
                .is_none_or(|claims| claims["nonce"] != "api-nonce")
        {
            let mut response = Response::build();
            response.status(Status::Unauthorized);
            response.raw_header("WWW-Authenticate", r#"DPoP error="use_dpop_nonce""#);
            response.raw_header("DPoP-Nonce", "api-nonce");
            return Outcome::Success(response.finalize());
        }
        if path.ends_with("/stepup")
            && !token
                .as_ref()
                .is_some_and(|t| self.0.strong_tokens.lock().unwrap().contains(t))
        {
            let mut response = Response::build();
            response.status(Status::Unauthorized);
            response.raw_header(
                "WWW-Authenticate",
                r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="mfa", max_age=60"#,
            );
            return Outcome::Success(response.finalize());
        }
        if path.ends_with("/big") {
            let size = query_param(req, "size").unwrap_or(1024);
            let chunk = vec![b'x'; 64 * 1024];
            let chunks = size.div_ceil(chunk.len() as u64);
            let last = size - (chunks.saturating_sub(1)) * chunk.len() as u64;
            let body = stream::iter((0..chunks).map(move |i| {
                let len = if i + 1 == chunks {
                    last as usize
                } else {
                    chunk.len()
                };
                Ok::<_, io::Error>(io::Cursor::new(chunk[..len].to_vec()))
            }));
            let reader = tokio_util::io::StreamReader::new(rocket::futures::TryStreamExt::map_ok(
                body,
                |cursor| bytes::Bytes::from(cursor.into_inner()),
            ));
            let mut response = Response::build();
            response.raw_header("Content-Type", "application/octet-stream");
            response.streamed_body(reader);
            return Outcome::Success(response.finalize());
        }
        let mut headers = Map::new();
        for (name, value) in &seen.headers {
            headers.insert(name.to_ascii_lowercase(), Value::String(value.clone()));
        }
        let body = json!({
            "method": seen.method,
            "path": seen.path,
            "query": seen.query,
            "headers": headers,
            "body_bytes": body_bytes,
        })
        .to_string();
        let mut response = Response::build();
        if path.ends_with("/dangerous") {
            // Everything an API must not say for the BFF's origin, and an HTML body.
            for (name, value) in [
                ("Access-Control-Allow-Origin", "https://evil.example"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Refresh", "0; url=https://evil.example"),
                ("Clear-Site-Data", "\"cookies\""),
                ("Strict-Transport-Security", "max-age=0"),
                ("Alt-Svc", "h2=\"evil.example:443\""),
                ("Content-Security-Policy", "script-src *"),
                ("Set-Cookie", "upstream=1; Path=/"),
                ("X-Kept", "yes"),
            ] {
                response.raw_header(name, value);
            }
            let html = "<script>alert(document.cookie)</script>";
            response.raw_header("Content-Type", "text/html");
            response.sized_body(html.len(), io::Cursor::new(html));
            return Outcome::Success(response.finalize());
        }
        response.raw_header("Content-Type", "application/json");
        if path.ends_with("/cookies") {
            response.raw_header("Set-Cookie", "upstream=1; Path=/");
            response.raw_header("Connection", "x-hop");
            response.raw_header("X-Hop", "1");
            response.raw_header("X-Kept", "yes");
        }
        response.sized_body(body.len(), io::Cursor::new(body));
        Outcome::Success(response.finalize())
    }
}
