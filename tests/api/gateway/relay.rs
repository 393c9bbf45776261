//! Tokens by policy, what crosses in each direction, errors, refresh and retry.

use std::sync::atomic::Ordering;

use rocket::http::{Header, Status};

use super::{access_token, fetch, gateway_app, gateway_app_with, json, log_in, post};
use crate::helpers::upstream::Upstream;

#[tokio::test]
async fn the_users_access_token_is_attached_and_path_and_query_are_forwarded() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let response = fetch(&app, "/api/echo/items/42?x=1&y=a%20b").await;
    assert_eq!(response.status(), Status::Ok);
    let seen = upstream.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/base/items/42");
    assert_eq!(seen.query.as_deref(), Some("x=1&y=a%20b"));
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {}", access_token(&app)).as_str())
    );
    let body = json(response).await;
    assert_eq!(body["path"], "/base/items/42");
}

#[tokio::test]
async fn without_a_session_a_user_api_answers_401_json_and_nothing_is_sent() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    let response = fetch(&app, "/api/echo/items").await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(json(response).await["error"], "login_required");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn without_a_session_a_navigation_to_a_user_api_is_sent_to_log_in() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    let response = app
        .client
        .get("/api/echo/items")
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .header(Header::new("Sec-Fetch-Dest", "document"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Found);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn user_or_none_goes_without_a_token_when_there_is_no_session() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    assert_eq!(fetch(&app, "/api/maybe/x").await.status(), Status::Ok);
    assert_eq!(upstream.last().header("authorization"), None);
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/maybe/x").await.status(), Status::Ok);
    assert!(upstream.last().header("authorization").is_some());
}

#[tokio::test]
async fn a_public_api_never_gets_the_users_token() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/public/x").await.status(), Status::Ok);
    let seen = upstream.last();
    assert_eq!(seen.path, "/public/x");
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn cookies_credentials_and_hop_by_hop_headers_are_not_forwarded() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let response = app
        .client
        .get("/api/public/x")
        .header(Header::new("Authorization", "Bearer from-the-browser"))
        .header(Header::new("Connection", "X-Private"))
        .header(Header::new("X-Private", "1"))
        .header(Header::new("Keep-Alive", "timeout=5"))
        .header(Header::new("Proxy-Authorization", "Basic eA=="))
        .header(Header::new("X-Forwarded-For", "6.6.6.6"))
        .header(Header::new("X-Custom", "kept"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let seen = upstream.last();
    for name in [
        "cookie",
        "authorization",
        "x-private",
        "keep-alive",
        "proxy-authorization",
    ] {
        assert_eq!(seen.header(name), None, "{name} was forwarded");
    }
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert_ne!(seen.header("x-forwarded-for"), Some("6.6.6.6"));
    assert!(seen
        .header("forwarded")
        .is_some_and(|f| f.contains("proto=")));
}

#[tokio::test]
async fn the_apis_set_cookie_and_hop_by_hop_headers_do_not_reach_the_browser() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    let response = fetch(&app, "/api/public/cookies").await;
    assert_eq!(response.status(), Status::Ok);
    let headers = response.headers();
    assert!(headers
        .get("Set-Cookie")
        .all(|c| !c.starts_with("upstream=")));
    assert_eq!(headers.get_one("X-Hop"), None);
    assert_eq!(headers.get_one("X-Kept"), Some("yes"));
}

#[tokio::test]
async fn an_unknown_api_name_is_not_found_and_nothing_is_sent() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/nope/x").await.status(), Status::NotFound);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn the_apps_own_apis_keep_their_routes() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/hello").await.status(), Status::Ok);
    assert_eq!(fetch(&app, "/api/upstream").await.status(), Status::Ok);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn an_unreachable_api_answers_502_json() {
    let upstream = Upstream::start().await;
    let dead = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let app = gateway_app_with(&upstream, move |f| {
        f.merge(("oidc.remote_apis.dead.url", dead))
    })
    .await;
    log_in(&app).await;
    let response = fetch(&app, "/api/dead/x").await;
    assert_eq!(response.status(), Status::BadGateway);
    assert_eq!(json(response).await["error"], "bad_gateway");
}

#[tokio::test]
async fn a_slow_api_answers_504_json_after_the_timeout() {
    let upstream = Upstream::start().await;
    let app = gateway_app_with(&upstream, |f| f.merge(("oidc.gateway_timeout_secs", 1))).await;
    log_in(&app).await;
    let started = std::time::Instant::now();
    let response = fetch(&app, "/api/echo/x?delay_ms=3000").await;
    assert_eq!(response.status(), Status::GatewayTimeout);
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    assert_eq!(json(response).await["error"], "gateway_timeout");
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_get_retried() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let first = access_token(&app);
    upstream.reject_token(&first);
    let response = fetch(&app, "/api/echo/x").await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 1);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "one call, one retry");
    assert_ne!(
        seen[1].header("authorization"),
        seen[0].header("authorization")
    );
}

#[tokio::test]
async fn a_post_refused_for_its_token_is_not_retried() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    upstream.reject_token(&access_token(&app));
    let response = post(&app, "/api/echo/orders", r#"{"item":1}"#).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(upstream.count(), 1);
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_access_token_due_is_refreshed_before_the_call() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    app.idp.back.access_ttl.store(30, Ordering::SeqCst); // inside the 60 s margin
    log_in(&app).await;
    let due = access_token(&app);
    assert_eq!(fetch(&app, "/api/echo/x").await.status(), Status::Ok);
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 1);
    assert_ne!(
        upstream.last().header("authorization"),
        Some(format!("Bearer {due}").as_str())
    );
}
