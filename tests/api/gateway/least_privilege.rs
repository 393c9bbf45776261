//! Least privilege at the gateway: an API with `allowed_groups` takes calls only from those
//! groups, and nothing an API answers may speak for the BFF's origin.

use super::{fetch, gateway_app, gateway_app_with, json, log_in};
use crate::helpers;

use helpers::upstream::Upstream;
use rocket::http::{Header, Status};

#[tokio::test]
async fn the_apis_dangerous_headers_never_reach_the_browser_and_its_answer_is_sandboxed() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    let response = fetch(&app, "/api/public/dangerous").await;
    assert_eq!(response.status(), Status::Ok);
    let headers = response.headers();
    for name in [
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Credentials",
        "Refresh",
        "Clear-Site-Data",
        "Strict-Transport-Security",
        "Alt-Svc",
    ] {
        assert_eq!(headers.get_one(name), None, "{name} was relayed");
    }
    assert!(headers
        .get("Set-Cookie")
        .all(|c| !c.starts_with("upstream=")));
    assert_eq!(
        headers.get("Content-Security-Policy").collect::<Vec<_>>(),
        ["sandbox; default-src 'none'"],
        "the API's policy is replaced by the sandbox"
    );
    assert_eq!(headers.get_one("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(
        headers.get_one("X-Kept"),
        Some("yes"),
        "control: others pass"
    );
    // The app's own pages keep their policy.
    let page = app.client.get("/").dispatch().await;
    let csp = page.headers().get_one("Content-Security-Policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

/// `staff` is the upstream under `allowed_groups`, read from the `email` claim (a string
/// claim the test IdP always sends: alice@example.com).
async fn app_with_staff_api(upstream: &Upstream, groups: &'static str) -> helpers::TestApp {
    let url = upstream.url.clone();
    gateway_app_with(upstream, move |f| {
        f.merge(("oidc.remote_apis.staff.url", format!("{url}/staff")))
            .merge(("oidc.remote_apis.staff.allowed_groups", vec![groups]))
            .merge(("oidc.groups_claim", "email"))
    })
    .await
}

#[tokio::test]
async fn an_api_with_allowed_groups_takes_calls_only_from_them() {
    let upstream = Upstream::start().await;
    let member = app_with_staff_api(&upstream, "alice@example.com").await;
    log_in(&member).await;
    assert_eq!(fetch(&member, "/api/staff/x").await.status(), Status::Ok);
    assert_eq!(
        upstream.count(),
        1,
        "control: a member's call goes upstream"
    );

    let outsider = app_with_staff_api(&upstream, "someone@example.com").await;
    log_in(&outsider).await;
    let refused = fetch(&outsider, "/api/staff/x").await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert_eq!(json(refused).await["error"], "forbidden");
    assert_eq!(upstream.count(), 1, "nothing was sent upstream");
}

#[tokio::test]
async fn without_a_session_an_api_with_allowed_groups_answers_401_and_sends_nothing() {
    let upstream = Upstream::start().await;
    let app = app_with_staff_api(&upstream, "alice@example.com").await;
    let response = fetch(&app, "/api/staff/x").await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(json(response).await["error"], "login_required");
    assert_eq!(upstream.count(), 0);
}

/// `GET /api/public/x` from the socket address `peer`, claiming to be 203.0.113.7 and to have
/// asked for another host: what the API was told.
async fn forwarded_for(app: &helpers::TestApp, upstream: &Upstream) -> (String, String) {
    let response = app
        .client
        .get("/api/public/x")
        .remote("127.0.0.1:40000".parse().unwrap())
        .header(Header::new("X-Real-IP", "203.0.113.7"))
        .header(Header::new("Host", "evil.example"))
        .header(Header::new("DPoP", "a-browser-proof"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let seen = upstream.last();
    assert_eq!(
        seen.header("dpop"),
        None,
        "the browser's DPoP header went upstream"
    );
    (
        seen.header("x-forwarded-for")
            .unwrap_or_default()
            .to_string(),
        seen.header("x-forwarded-host")
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn a_clients_x_real_ip_and_host_are_not_believed_without_trusted_proxies() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    let (client, host) = forwarded_for(&app, &upstream).await;
    assert_eq!(client, "127.0.0.1", "the socket's peer, not X-Real-IP");
    assert_eq!(host, "localhost:3000", "BASE_URL's host, not the request's");
}

#[tokio::test]
async fn behind_a_trusted_proxy_its_x_real_ip_names_the_client() {
    let upstream = Upstream::start().await;
    let app = gateway_app_with(&upstream, |f| {
        f.merge(("oidc.trusted_proxies", "127.0.0.0/8"))
    })
    .await;
    let (client, _) = forwarded_for(&app, &upstream).await;
    assert_eq!(client, "203.0.113.7");
}

/// `app`'s API `app` (the app's own token) and `either` (`user-or-client`).
async fn app_with_client_apis(upstream: &Upstream) -> helpers::TestApp {
    let url = upstream.url.clone();
    gateway_app_with(upstream, move |f| {
        f.merge(("oidc.remote_apis.app.url", format!("{url}/app")))
            .merge(("oidc.remote_apis.app.token", "client"))
            .merge(("oidc.remote_apis.either.url", format!("{url}/either")))
            .merge(("oidc.remote_apis.either.token", "user-or-client"))
    })
    .await
}

fn bearer_seen(upstream: &Upstream) -> String {
    let seen = upstream.last();
    seen.header("authorization").unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_client_api_gets_the_apps_own_token_fetched_once_and_never_the_users() {
    let upstream = Upstream::start().await;
    let app = app_with_client_apis(&upstream).await;
    // No session needed.
    assert_eq!(fetch(&app, "/api/app/x").await.status(), Status::Ok);
    let client_tokens = app.idp.back.client_tokens.lock().unwrap().clone();
    assert_eq!(client_tokens.len(), 1);
    assert_eq!(
        bearer_seen(&upstream),
        format!("Bearer {}", client_tokens[0])
    );
    // Logged in, the API still gets the app's token, the same one (cached).
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/app/y").await.status(), Status::Ok);
    assert_eq!(
        bearer_seen(&upstream),
        format!("Bearer {}", client_tokens[0])
    );
    assert_eq!(
        app.idp.back.client_tokens.lock().unwrap().len(),
        1,
        "one fetch"
    );
    let user_token = super::access_token(&app);
    assert_ne!(user_token, client_tokens[0]);
}

#[tokio::test]
async fn user_or_client_sends_the_users_token_with_a_session_and_the_apps_without() {
    let upstream = Upstream::start().await;
    let app = app_with_client_apis(&upstream).await;
    assert_eq!(fetch(&app, "/api/either/x").await.status(), Status::Ok);
    let client_token = app.idp.back.client_tokens.lock().unwrap()[0].clone();
    assert_eq!(bearer_seen(&upstream), format!("Bearer {client_token}"));
    log_in(&app).await;
    assert_eq!(fetch(&app, "/api/either/x").await.status(), Status::Ok);
    let user_token = super::access_token(&app);
    assert_eq!(bearer_seen(&upstream), format!("Bearer {user_token}"));
}

#[tokio::test]
async fn a_client_api_without_client_credentials_stops_the_start() {
    let figment = helpers::figment("https://idp.example")
        .merge(("oidc.remote_apis.app.url", "https://api.example/"))
        .merge(("oidc.remote_apis.app.token", "client"));
    let Err(error) = helpers::bff::build_from(figment) else {
        panic!("a client API without credentials started");
    };
    let error = error.to_string();
    assert!(error.starts_with("REMOTE_APIS"), "{error}");
    assert!(error.contains("`app`"), "{error}");
}
