//! The bench identity provider: discovery and JWKS for one RSA key, nothing else. Both apps
//! discover it once and fetch its keys once; tokens are minted by the load generator itself.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::args::Args;
use crate::token::SigningKey;

struct Documents {
    discovery: Bytes,
    jwks: Bytes,
}

pub fn discovery(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["id_token", "code", "code id_token"],
        "response_modes_supported": ["form_post", "query", "fragment"],
        "grant_types_supported": ["implicit", "authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "email", "email_verified"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    })
}

pub async fn run(args: &Args) -> Result<(), String> {
    let port: u16 = args.or("port", 4400)?;
    let key = SigningKey::load(&args.text("key")?, &args.or("kid", "key-a".to_string())?)?;
    let issuer = args.or("issuer", format!("http://127.0.0.1:{port}"))?;
    let docs = Arc::new(Documents {
        discovery: Bytes::from(discovery(&issuer).to_string()),
        jwks: Bytes::from(json!({ "keys": [key.jwk()] }).to_string()),
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!("bench idp listening on {issuer}");
    // Bounded life: the IdP stops by itself after --max-secs even if nobody stops it.
    let max_secs: u64 = args.or("max-secs", 3600)?;
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(max_secs));
    tokio::pin!(deadline);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            _ = &mut deadline => return Ok(()),
        };
        let docs = docs.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let docs = docs.clone();
                async move { Ok::<_, Infallible>(answer(&docs, req.uri().path())) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(docs: &Documents, path: &str) -> Response<Full<Bytes>> {
    let body = match path {
        "/.well-known/openid-configuration" => docs.discovery.clone(),
        "/jwks" => docs.jwks.clone(),
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::from_static(b"not found")))
                .unwrap_or_default()
        }
    };
    Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", "max-age=3600")
        .body(Full::new(body))
        .unwrap_or_default()
}
