//! The gateway to remote APIs (`/api/<name>/…`) against a real upstream server started by
//! the test: tokens, headers, path safety, CSRF, streaming, timeouts, refresh and retry.

use crate::helpers;

mod csrf;
mod least_privilege;
mod paths;
mod relay;
mod resource_refusals;
mod resource_tokens;
mod step_up;
mod streaming;

use helpers::back_channel::CLIENT_SECRET;
use helpers::upstream::Upstream;
use helpers::{app_with, TestApp};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::LocalResponse;
use serde_json::Value;

/// The app (code flow) with the upstream configured as `echo` (policy `user`), `maybe`
/// (`user-or-none`) and `public` (`none`), the last two under a base path.
async fn gateway_app(upstream: &Upstream) -> TestApp {
    gateway_app_with(upstream, |f| f).await
}

async fn gateway_app_with(
    upstream: &Upstream,
    customize: impl FnOnce(rocket::figment::Figment) -> rocket::figment::Figment,
) -> TestApp {
    let url = upstream.url.clone();
    app_with(move |f| {
        customize(
            f.merge(("oidc.response_type", "code"))
                .merge(("oidc.client_secret", CLIENT_SECRET))
                .merge(("oidc.remote_apis.echo.url", format!("{url}/base")))
                .merge(("oidc.remote_apis.maybe.url", format!("{url}/maybe")))
                .merge(("oidc.remote_apis.maybe.token", "user-or-none"))
                .merge(("oidc.remote_apis.public.url", format!("{url}/public/")))
                .merge(("oidc.remote_apis.public.token", "none")),
        )
    })
    .await
}

/// A code-flow login; the session cookie stays in the client.
async fn log_in(app: &TestApp) {
    let start = app.start_login("/").await;
    let code = app
        .idp
        .back
        .grant_code(&start.nonce, &start.params["code_challenge"]);
    let response = app
        .callback(&[("code", &code), ("state", &start.state)])
        .await;
    assert_eq!(response.status(), Status::SeeOther, "login accepted");
}

/// The last access token the IdP issued.
fn access_token(app: &TestApp) -> String {
    app.idp
        .back
        .access_tokens
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("an access token was issued")
}

/// `GET uri` as the page's script sends it.
async fn fetch<'c>(app: &'c TestApp, uri: &str) -> LocalResponse<'c> {
    app.client
        .get(uri.to_string())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Dest", "empty"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .header(Header::new("Accept", "application/json"))
        .dispatch()
        .await
}

/// `POST uri` with a JSON body, as the page's script sends it (with the CSRF header).
async fn post<'c>(app: &'c TestApp, uri: &str, body: &str) -> LocalResponse<'c> {
    app.client
        .post(uri.to_string())
        .header(ContentType::JSON)
        .header(Header::new("X-CSRF", "1"))
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .body(body)
        .dispatch()
        .await
}

async fn json(response: LocalResponse<'_>) -> Value {
    let text = response.into_string().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}
