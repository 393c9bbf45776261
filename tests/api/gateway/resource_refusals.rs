//! An API's own token against the in-process IdP, which rotates the refresh token at every
//! refresh and can be told to refuse: the rotated refresh token serves the session's token and
//! every API's, and an IdP refusing an API's audience is an honest 502 that sends nothing
//! upstream, never another token in its place, and leaves the session.

use super::{fetch, gateway_app_with, json, log_in};
use crate::helpers;

use helpers::upstream::Upstream;
use rocket::http::Status;
use serde_json::json;

const ORDERS: &str = "https://orders.example";

async fn app(upstream: &Upstream, margin: u64) -> helpers::TestApp {
    let url = upstream.url.clone();
    gateway_app_with(upstream, move |f| {
        f.merge(("oidc.remote_apis.orders.url", format!("{url}/orders")))
            .merge(("oidc.remote_apis.orders.resource", ORDERS))
            .merge(("oidc.remote_apis.stock.url", format!("{url}/stock")))
            .merge(("oidc.remote_apis.stock.scopes", "stock:read"))
            .merge(("oidc.refresh_margin_secs", margin))
    })
    .await
}

fn bearer(upstream: &Upstream) -> String {
    upstream
        .last()
        .header("authorization")
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_rotated_refresh_token_serves_the_session_and_each_api_in_turn() {
    let upstream = Upstream::start().await;
    // A margin longer than any token lives: every call obtains its token anew.
    let app = app(&upstream, 1_000_000).await;
    log_in(&app).await;
    let mut seen = Vec::new();
    for api in ["orders", "echo", "stock", "orders", "echo"] {
        let response = fetch(&app, &format!("/api/{api}/x")).await;
        assert_eq!(response.status(), Status::Ok, "{api}");
        seen.push(bearer(&upstream));
    }
    let requests = app.idp.back.requests.lock().unwrap().clone();
    let refreshes: Vec<_> = requests
        .iter()
        .filter(|r| r.grant_type == "refresh_token")
        .map(|r| (r.resource.as_deref(), r.scope.as_deref()))
        .collect();
    assert_eq!(
        refreshes,
        [
            (Some(ORDERS), None),
            (None, None),
            (None, Some("stock:read")),
            (Some(ORDERS), None),
            (None, None),
        ]
    );
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "a new token each time");
}

#[tokio::test]
async fn an_audience_the_idp_refuses_answers_502_sends_nothing_and_keeps_the_session() {
    let upstream = Upstream::start().await;
    let app = app(&upstream, 60).await;
    log_in(&app).await;
    *app.idp.back.error.lock().unwrap() = Some(json!({"error": "invalid_target"}));
    let refused = fetch(&app, "/api/orders/x").await;
    assert_eq!(refused.status(), Status::BadGateway);
    assert_eq!(json(refused).await["error"], "temporarily_unavailable");
    assert_eq!(upstream.count(), 0, "nothing went upstream");
    // The session stays, with its own token for the API that takes it.
    let general = fetch(&app, "/api/echo/x").await;
    assert_eq!(general.status(), Status::Ok);
    assert_eq!(upstream.count(), 1);
    // Once the IdP gives the audience's token, the API gets it (not the session's).
    *app.idp.back.error.lock().unwrap() = None;
    assert_eq!(fetch(&app, "/api/orders/x").await.status(), Status::Ok);
    let session_token = bearer_of(&upstream, "/base/");
    assert_ne!(bearer(&upstream), session_token);
}

/// The bearer token of the last call whose path starts with `prefix`.
fn bearer_of(upstream: &Upstream, prefix: &str) -> String {
    let seen = upstream.seen();
    let call = seen.iter().rev().find(|s| s.path.starts_with(prefix));
    let call = call.expect("a call");
    call.header("authorization").unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_dead_refresh_token_ends_the_session_at_an_apis_call() {
    let upstream = Upstream::start().await;
    let app = app(&upstream, 60).await;
    log_in(&app).await;
    app.idp
        .back
        .refresh_fails
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = fetch(&app, "/api/orders/x").await;
    assert_eq!(refused.status(), Status::Unauthorized);
    assert_eq!(json(refused).await["error"], "login_required");
    assert_eq!(upstream.count(), 0);
    assert_eq!(
        fetch(&app, "/api/echo/x").await.status(),
        Status::Unauthorized,
        "the session ended"
    );
}

#[tokio::test]
async fn an_apis_own_token_refused_by_the_api_is_replaced_by_one_for_the_same_audience() {
    let upstream = Upstream::start().await;
    let app = app(&upstream, 60).await;
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/orders/x").await.status(), Status::Ok);
    let first = bearer(&upstream);
    upstream.reject_token(first.trim_start_matches("Bearer "));
    let before = upstream.count();
    assert_eq!(fetch(&app, "/api/orders/x").await.status(), Status::Ok);
    let seen = upstream.seen();
    assert_eq!(seen.len(), before + 2, "refused once, repeated once");
    let second = bearer(&upstream);
    assert_ne!(second, first);
    let last_request = app.idp.back.requests.lock().unwrap().last().cloned();
    let last_request = last_request.expect("a token request");
    assert_eq!(last_request.grant_type, "refresh_token");
    assert_eq!(
        last_request.resource.as_deref(),
        Some(ORDERS),
        "for its audience"
    );
    // The session's own token was not touched: the general API still gets a token of its own.
    assert_eq!(fetch(&app, "/api/echo/x").await.status(), Status::Ok);
    assert_ne!(bearer(&upstream), second);
}
