//! One call through the gateway: the CSRF and path checks, the token, the browser's request
//! streamed to the API, and the API's answer streamed back.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use rocket::data::ToByteUnit;
use rocket::futures::{stream, StreamExt, TryStreamExt};
use rocket::http::Status;
use rocket::route::Outcome;
use rocket::serde::json::{json, Json};
use rocket::tokio::io::AsyncReadExt;
use rocket::{Data, Request, Response};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;
use url::Url;

use super::answer::answer;
use super::apis::Gateway;
use super::credentials::{access_token, check_caller, replace_rejected};
use super::headers::{self, ForwardedFor};
use super::{path, step_up};
use crate::config::{RemoteApi, Settings};
use crate::csrf;
use crate::metrics;
use crate::oidc::dpop::resource_wants_nonce;
use crate::oidc::provider::Provider;
use crate::oidc::token_endpoint::Credential;
use crate::telemetry::request_id;

/// How much of a request body is read at once; also the granularity of the back-pressure.
const CHUNK: usize = 64 * 1024;

/// How the request body went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    Done,
    TooLarge,
    Failed,
}

pub(super) async fn relay<'r>(
    gateway: &Gateway,
    api: &RemoteApi,
    rest: &str,
    req: &'r Request<'_>,
    data: Data<'r>,
) -> Outcome<'r> {
    if let Some(reason) = csrf::refusal(req) {
        metrics::csrf_refusal("/api/<name>/<rest..>");
        tracing::warn!(request_id = %request_id(req), api = %api.name, "cross-site API call refused");
        return answer(req, Status::Forbidden, "csrf_check_failed", reason);
    }
    let url = match upstream_url(api, rest, req) {
        Ok(url) => url,
        Err(message) => return answer(req, Status::BadRequest, "invalid_path", &message),
    };
    let declared_length = req
        .headers()
        .get_one("Content-Length")
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > gateway.body_limit) {
        return too_large(req, gateway);
    }
    let has_body = declared_length.is_some_and(|length| length > 0)
        || req.headers().contains("Transfer-Encoding");

    if let Err(outcome) = check_caller(api, req).await {
        return outcome;
    }
    let token = match access_token(api, req).await {
        Ok(token) => token,
        Err(outcome) => return outcome,
    };
    let settings = req.rocket().state::<Settings>();
    let forwarded = ForwardedFor {
        client: crate::client_ip::client_address(req, settings),
        host: gateway.forwarded_host.as_deref(),
        proto: gateway.forwarded_proto,
    };
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return answer(
            req,
            Status::MethodNotAllowed,
            "method_not_allowed",
            "this method is not relayed",
        );
    };
    // The token as Bearer, or as DPoP with a fresh proof for this method and URL.
    let provider = req.rocket().state::<Arc<Provider>>();
    // The headers are made again for a repeat rather than copied for a first call that is
    // rarely repeated.
    let build = |credential: Option<&Credential>| -> Result<reqwest::Request, String> {
        let mut request = reqwest::Request::new(method.clone(), url.clone());
        let incoming = req.headers().iter().map(|h| (h.name, h.value));
        *request.headers_mut() = headers::upstream_request(incoming, &forwarded);
        if let (Some(credential), Some(provider)) = (credential, provider) {
            let presented = provider
                .resource_headers(method.as_str(), &url, credential)
                .map_err(|e| e.to_string())?;
            for (name, value) in presented {
                let value = HeaderValue::try_from(value).map_err(|e| e.to_string())?;
                request.headers_mut().append(name, value);
            }
        }
        Ok(request)
    };
    let unsigned = |error: String| {
        tracing::error!(%error, api = %api.name, "the API call could not be prepared");
        answer(
            req,
            Status::BadGateway,
            "bad_gateway",
            "the call to the API could not be prepared",
        )
    };

    let started = Instant::now();
    let first = match build(token.as_ref().map(|t| &t.credential)) {
        Ok(request) => request,
        Err(error) => return unsigned(error),
    };
    let (pumped, sent) = if has_body {
        let (body, pump) = streamed_body(data, gateway.body_limit);
        let mut request = first;
        *request.body_mut() = Some(body);
        let sent = gateway.http.execute(request);
        tokio::join!(pump, tokio::time::timeout(gateway.timeout, sent))
    } else {
        let sent = gateway.http.execute(first);
        (
            Pumped::Done,
            tokio::time::timeout(gateway.timeout, sent).await,
        )
    };
    let mut response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(_)) if pumped == Pumped::TooLarge => return too_large(req, gateway),
        Ok(Err(error)) => return failed(req, api, started, pumped, &error),
        Err(_) => return timed_out(req, api, started),
    };
    // RFC 6750 §3.1: a token refused before its expiry (revoked) is refreshed once and the
    // call repeated, when repeating is safe: an idempotent method without a body.
    let idempotent = matches!(
        method,
        reqwest::Method::GET
            | reqwest::Method::HEAD
            | reqwest::Method::OPTIONS
            | reqwest::Method::PUT
            | reqwest::Method::DELETE
    );
    // RFC 9449 §9: a DPoP API that asks for a nonce gets the call again with it, once.
    if let (Some(credential), Some(provider)) = (token.as_ref().map(|t| &t.credential), provider) {
        let fresh_nonce =
            credential.dpop.is_some() && provider.dpop_nonces().remember(&url, response.headers());
        if fresh_nonce
            && resource_wants_nonce(response.status().as_u16(), response.headers())
            && idempotent
            && !has_body
        {
            response = match build(Some(credential)) {
                Ok(again) => match send_again(req, gateway, api, started, again).await {
                    Ok(response) => response,
                    Err(outcome) => return outcome,
                },
                Err(error) => return unsigned(error),
            };
        }
    }
    if response.status() == reqwest::StatusCode::UNAUTHORIZED
        && invalid_token(&response)
        && idempotent
        && !has_body
    {
        // Only a user's token is refreshed; the app's own answers as it is.
        if let Some(rejected) = token.as_ref().filter(|t| t.of_user) {
            match replace_rejected(api, req, &rejected.credential.token).await {
                Ok(fresh) => {
                    response = match build(Some(&fresh)) {
                        Ok(again) => match send_again(req, gateway, api, started, again).await {
                            Ok(response) => response,
                            Err(outcome) => return outcome,
                        },
                        Err(error) => return unsigned(error),
                    };
                }
                Err(outcome) => return outcome,
            }
        }
    }
    metrics::upstream_call(&api.name, response.status().as_u16(), started.elapsed());
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        let challenges: Vec<&str> = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        if let Some(step_up) = step_up::requested(&challenges) {
            let body = Json(json!({
                "error": "step_up_required",
                "message": format!("the API `{}` needs a stronger sign-in", api.name),
                "login_url": step_up::login_url(&step_up),
            }));
            return Outcome::from(req, (Status::Unauthorized, body));
        }
    }
    Outcome::Success(relayed(response))
}

/// A repeat of a call without a body (after a refresh, or with a DPoP nonce): the API's
/// answer, or the gateway's 502/504.
async fn send_again<'r>(
    req: &'r Request<'_>,
    gateway: &Gateway,
    api: &RemoteApi,
    started: Instant,
    request: reqwest::Request,
) -> Result<reqwest::Response, Outcome<'r>> {
    match tokio::time::timeout(gateway.timeout, gateway.http.execute(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(failed(req, api, started, Pumped::Done, &error)),
        Err(_) => Err(timed_out(req, api, started)),
    }
}

/// `<api url>/<rest>?<query>`, after the path checks; the query goes as the browser sent it.
fn upstream_url(api: &RemoteApi, rest: &str, req: &Request<'_>) -> Result<Url, String> {
    let rest = path::checked_rest(rest).map_err(|error| error.to_string())?;
    let query = req.uri().query().map(|query| query.as_str());
    // The base (no query, no fragment, path ending in `/`) with its path and query set is
    // what parsing the joined text gives, without parsing its scheme and host again.
    let url = if rest.contains(['?', '#']) {
        let mut text = format!("{}{rest}", api.url);
        if let Some(query) = query {
            text.push('?');
            text.push_str(query);
        }
        Url::parse(&text).ok()
    } else {
        let mut url = api.url.clone();
        url.set_path(&format!("{}{rest}", api.url.path()));
        url.set_query(query);
        Some(url)
    };
    // Defence in depth: whatever the parser makes of it must stay under the base.
    url.filter(|url| url.as_str().starts_with(api.url.as_str()))
        .ok_or_else(|| "the path leaves the API's base URL".to_string())
}

/// Whether a 401 says the token itself was refused (`WWW-Authenticate: Bearer
/// error="invalid_token"`, RFC 6750 §3.1).
fn invalid_token(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("invalid_token"))
}

/// The browser's body as a stream for the API, and the pump that feeds it: at most a few
/// chunks are in memory at once, and more than `limit` bytes break the request off.
fn streamed_body<'r>(
    data: Data<'r>,
    limit: u64,
) -> (
    reqwest::Body,
    impl std::future::Future<Output = Pumped> + 'r,
) {
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(4);
    let chunks = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let pump = async move {
        let mut reader = data.open((limit + 1).bytes());
        let mut total = 0u64;
        loop {
            let mut chunk = vec![0u8; CHUNK];
            let read = match reader.read(&mut chunk).await {
                Ok(0) => return Pumped::Done,
                Ok(read) => read,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return Pumped::Failed;
                }
            };
            total += read as u64;
            if total > limit {
                let _ = sender
                    .send(Err(io::Error::other("the request body is over the limit")))
                    .await;
                return Pumped::TooLarge;
            }
            chunk.truncate(read);
            if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                // The API answered without reading the rest.
                return Pumped::Done;
            }
        }
    };
    (reqwest::Body::wrap_stream(chunks), pump)
}

/// The API's answer for the browser: its status, its headers minus those that stay behind,
/// and its body streamed as it arrives.
fn relayed<'r>(response: reqwest::Response) -> Response<'r> {
    let mut builder = Response::build();
    builder.status(Status::new(response.status().as_u16()));
    for (name, value) in headers::downstream_response(response.headers()) {
        builder.raw_header_adjoin(name, value);
    }
    builder.raw_header("Content-Security-Policy", headers::SANDBOX);
    builder.raw_header("X-Content-Type-Options", "nosniff");
    let body = response.bytes_stream().map_err(io::Error::other);
    builder.streamed_body(StreamReader::new(body.boxed()));
    builder.finalize()
}

fn too_large<'r>(req: &'r Request<'_>, gateway: &Gateway) -> Outcome<'r> {
    answer(
        req,
        Status::PayloadTooLarge,
        "request_too_large",
        &format!(
            "the request body is over the limit of {} bytes",
            gateway.body_limit
        ),
    )
}

fn failed<'r>(
    req: &'r Request<'_>,
    api: &RemoteApi,
    started: Instant,
    pumped: Pumped,
    error: &reqwest::Error,
) -> Outcome<'r> {
    if error.is_timeout() {
        return timed_out(req, api, started);
    }
    metrics::upstream_call(&api.name, 0, started.elapsed());
    tracing::warn!(request_id = %request_id(req), api = %api.name, ?pumped, error = %without_url(error), "remote API unreachable");
    answer(
        req,
        Status::BadGateway,
        "bad_gateway",
        &format!("the API `{}` could not be reached", api.name),
    )
}

fn timed_out<'r>(req: &'r Request<'_>, api: &RemoteApi, started: Instant) -> Outcome<'r> {
    metrics::upstream_call(&api.name, 0, started.elapsed());
    tracing::warn!(request_id = %request_id(req), api = %api.name, "remote API too slow");
    answer(
        req,
        Status::GatewayTimeout,
        "gateway_timeout",
        &format!("the API `{}` did not answer in time", api.name),
    )
}

/// The error without the URL it carries (the query could hold something personal).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        text = current.to_string();
        source = current.source();
    }
    text
}
