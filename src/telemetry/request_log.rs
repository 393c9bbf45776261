//! One log line per request (request id, method, route template, status, duration) and the
//! `X-Request-Id` header on every response.
//!
//! The id is the caller's `X-Request-Id` when it is a plausible id (so a proxy's id follows
//! the request through), otherwise a fresh random one. Only the route's template is logged
//! (`/api/<path..>`), never the requested path or query, which may carry codes or tokens.

use std::time::Instant;

use rand::RngCore;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::request::{self, FromRequest, Request};
use rocket::{Data, Response};

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// Longest incoming id that is kept; a longer one is replaced.
const MAX_ID_LEN: usize = 128;

/// The id of the request being served (a request guard for handlers that log).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A request's id as the request keeps it: a fresh id is 32 hex digits held inline (no
/// allocation, no formatting), the caller's is copied once. The response's header and the log
/// line borrow it.
enum Id {
    Fresh([u8; 32]),
    Given(Box<str>),
}

impl Id {
    /// The caller's id when it is 1–128 characters of letters, digits and `-_.:`; anything
    /// else (which could forge log lines or smuggle data) gets a fresh random id.
    fn from_header(value: Option<&str>) -> Self {
        match value {
            Some(id)
                if !id.is_empty()
                    && id.len() <= MAX_ID_LEN
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
            {
                Self::Given(id.into())
            }
            _ => Self::random(),
        }
    }

    /// 16 random bytes in lowercase hex.
    fn random() -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let mut hex = [0u8; 32];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        Self::Fresh(hex)
    }

    fn as_str(&self) -> &str {
        match self {
            // Always ASCII hex digits, so never the empty fallback.
            Self::Fresh(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            Self::Given(id) => id,
        }
    }
}

/// When the request arrived and its id, kept in the request's local cache.
struct Started {
    at: Instant,
    id: Id,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestId {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(RequestId(request_id(request)))
    }
}

/// This request's id: the one sent back in `X-Request-Id` and written in its log lines.
pub fn request_id(request: &Request<'_>) -> String {
    started(request).id.as_str().to_owned()
}

fn started<'r>(request: &'r Request<'_>) -> &'r Started {
    request.local_cache(|| Started {
        at: Instant::now(),
        id: Id::from_header(crate::header_lookup::first(
            request.headers(),
            REQUEST_ID_HEADER,
        )),
    })
}

/// The fairing that assigns request ids and writes the request log (target `request`, level
/// `info`: on by default in JSON mode; `RUST_LOG=info,request=off` silences it,
/// `RUST_LOG=info` turns it on in text mode).
pub struct RequestLog;

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        started(request);
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let started = started(request);
        let id = started.id.as_str();
        response.set_header(Header::new(REQUEST_ID_HEADER, id));
        let route = request
            .route()
            .and_then(|route| route.uri.as_str().split('?').next())
            .unwrap_or("-");
        let took = started.at.elapsed();
        crate::metrics::http_request(
            route,
            request.method().as_str(),
            response.status().code,
            took,
        );
        tracing::info!(
            target: "request",
            request_id = %id,
            method = %request.method(),
            route,
            status = response.status().code,
            duration_ms = took.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plausible_incoming_id_is_kept() {
        assert_eq!(
            Id::from_header(Some("abc-123_x.y:z")).as_str(),
            "abc-123_x.y:z"
        );
    }

    #[test]
    fn an_id_that_could_forge_log_lines_is_replaced() {
        for bad in ["a\nb", "a b", "\"x\"", "", &"a".repeat(129), "é"] {
            let id = Id::from_header(Some(bad));
            let id = id.as_str();
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32, "a fresh id replaces {bad:?}");
        }
    }

    #[test]
    fn fresh_ids_differ() {
        let (a, b) = (Id::from_header(None), Id::from_header(None));
        assert_ne!(a.as_str(), b.as_str());
        assert!(a
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}
