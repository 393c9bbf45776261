//! Which headers cross the gateway. Towards the API: never the browser's `Cookie` or an
//! `Authorization` it sent (the BFF sets its own), nor hop-by-hop headers (RFC 9110 §7.6.1:
//! `Connection` and every header it names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`,
//! `Upgrade`, `Proxy-*`), nor forwarding headers the client made up: the BFF writes
//! `Forwarded` (RFC 7239) and `X-Forwarded-For/Host/Proto` itself. Back to the browser: the
//! API's headers minus hop-by-hop ones and those that would speak for the BFF's whole origin
//! ([`SPEAKING_FOR_THE_ORIGIN`]), and with [`SANDBOX`] as the content security policy: an
//! API's HTML or SVG answer runs no script on the BFF's origin.

use std::fmt::Write;
use std::net::IpAddr;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};

/// Hop-by-hop headers (RFC 9110 §7.6.1), plus `Host` and `Content-Length`, which the client
/// library sets for the outgoing request.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Headers of the browser's request the API never sees.
const PRIVATE_TO_THE_BFF: &[&str] = &[
    "cookie",
    "authorization",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-csrf",
    // A browser's own proof of possession: the BFF sends the proof for its own token.
    "dpop",
];

/// Headers of an API's answer that would act for the BFF's whole origin, never relayed:
/// cookies (the browser's only cookie is the BFF's session), CORS grants (the BFF sends none),
/// `Refresh` and `Clear-Site-Data`, HSTS and `Alt-Svc` (the origin's transport is the BFF's),
/// and the API's own content security policy (replaced by [`SANDBOX`]).
const SPEAKING_FOR_THE_ORIGIN: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "refresh",
    "clear-site-data",
    "strict-transport-security",
    "alt-svc",
    "content-security-policy",
    "content-security-policy-report-only",
];

/// The content security policy of every relayed answer: no script, no plugin, no resource,
/// whatever the API sent.
pub const SANDBOX: &str = "sandbox; default-src 'none'";

/// The headers named by `Connection` (lowercase).
fn named_by_connection<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    headers
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn hop_by_hop(name: &str, connection_named: &[String]) -> bool {
    NOT_FORWARDED.contains(&name)
        || name.starts_with("proxy-")
        || connection_named.iter().any(|named| named == name)
}

/// Where the browser's request came from and how it reached the BFF.
pub struct ForwardedFor<'a> {
    /// The client's address, when known.
    pub client: Option<IpAddr>,
    /// The host the browser asked for.
    pub host: Option<&'a str>,
    /// `https` or `http`.
    pub proto: &'a str,
}

/// The headers for the API: the browser's, filtered, plus the forwarding headers. One pass
/// over the browser's headers, without copies of them: this runs on every call.
pub fn upstream_request<N: AsRef<str>, V: AsRef<str>>(
    incoming: impl IntoIterator<Item = (N, V)>,
    forwarded: &ForwardedFor<'_>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut connection_named: Vec<HeaderName> = Vec::new();
    for (name, value) in incoming {
        let value = value.as_ref();
        // Lowercased by the parser; a name it refuses could not be sent anyway.
        let Ok(name) = HeaderName::from_bytes(name.as_ref().as_bytes()) else {
            continue;
        };
        if name == CONNECTION {
            let named = value.split(',').map(str::trim).filter(|n| !n.is_empty());
            connection_named
                .extend(named.filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok()));
            continue;
        }
        let lower = name.as_str();
        if hop_by_hop(lower, &[]) || PRIVATE_TO_THE_BFF.contains(&lower) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    // Removed once all are in: `Connection` may come after the headers it names.
    for name in &connection_named {
        headers.remove(name);
    }
    let mut forwarded_value = String::with_capacity(64);
    if let Some(client) = forwarded.client {
        let address = client.to_string();
        // Writing to a String cannot fail.
        let _ = match client {
            IpAddr::V4(_) => write!(forwarded_value, "for={address};"),
            IpAddr::V6(_) => write!(forwarded_value, "for=\"[{address}]\";"),
        };
        set(&mut headers, "x-forwarded-for", &address);
    }
    if let Some(host) = forwarded
        .host
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
    {
        let _ = write!(forwarded_value, "host=\"{}\";", host.replace('"', ""));
        set(&mut headers, "x-forwarded-host", host);
    }
    forwarded_value.push_str("proto=");
    forwarded_value.push_str(forwarded.proto);
    set(&mut headers, "x-forwarded-proto", forwarded.proto);
    set(&mut headers, "forwarded", &forwarded_value);
    headers
}

/// The API's response headers that go back to the browser.
pub fn downstream_response(upstream: &HeaderMap) -> Vec<(String, String)> {
    let connection_named = named_by_connection(
        upstream
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    upstream
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !hop_by_hop(name, &connection_named)
                && !SPEAKING_FOR_THE_ORIGIN.contains(&name)
                && !name.starts_with("access-control-")
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &HeaderMap) -> Vec<String> {
        headers.keys().map(|k| k.as_str().to_string()).collect()
    }

    #[test]
    fn cookies_credentials_and_hop_by_hop_headers_never_go_upstream() {
        let incoming = [
            ("Cookie", "bff_session=secret"),
            ("Authorization", "Bearer stolen"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "x"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic x"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-CSRF", "1"),
            ("Accept", "application/json"),
            ("X-Custom", "kept"),
        ];
        let forwarded = ForwardedFor {
            client: Some("127.0.0.1".parse().unwrap()),
            host: Some("app.example"),
            proto: "https",
        };
        let headers = upstream_request(incoming, &forwarded);
        let mut got = names(&headers);
        got.sort();
        assert_eq!(
            got,
            [
                "accept",
                "forwarded",
                "x-custom",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto"
            ]
        );
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(
            headers["forwarded"],
            "for=127.0.0.1;host=\"app.example\";proto=https"
        );
    }

    #[test]
    fn a_header_named_by_a_later_connection_header_stays_behind_too() {
        let incoming = [("X-Hop", "1"), ("Accept", "*/*"), ("Connection", "x-hop")];
        let forwarded = ForwardedFor {
            client: Some("::1".parse().unwrap()),
            host: None,
            proto: "http",
        };
        let headers = upstream_request(incoming, &forwarded);
        assert!(headers.get("x-hop").is_none());
        assert_eq!(headers["accept"], "*/*");
        assert_eq!(headers["forwarded"], "for=\"[::1]\";proto=http");
        assert_eq!(headers["x-forwarded-for"], "::1");
    }

    #[test]
    fn set_cookie_and_hop_by_hop_headers_never_come_back() {
        let mut upstream = HeaderMap::new();
        upstream.insert("set-cookie", HeaderValue::from_static("evil=1"));
        upstream.insert("connection", HeaderValue::from_static("x-hop"));
        upstream.insert("x-hop", HeaderValue::from_static("1"));
        upstream.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        upstream.insert("content-type", HeaderValue::from_static("application/json"));
        let back = downstream_response(&upstream);
        assert_eq!(
            back,
            [("content-type".to_string(), "application/json".to_string())]
        );
    }
}
