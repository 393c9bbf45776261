//! One test per ID token rule (OpenID Connect Core 3.2.2.11 / 3.1.3.7): a token that breaks
//! exactly that rule is refused with 401, no session is issued, and the page says why.
//!
//! `signature`: algorithms, keys and the token's form; `keys`: an unknown `kid` and the JWKS
//! refetch; `issuer_and_audience`: `iss`, `aud` and `azp`; `lifetime`: `exp`, `iat`, `nbf` and
//! the clock skew; `claims`: `nonce`, `sub` and the required claims.

use crate::helpers;

mod claims;
mod issuer_and_audience;
mod keys;
mod lifetime;
mod signature;

use helpers::{text, TestApp};
use rocket::serde::json::Value;

/// Starts a login, lets `forge` build the token from valid claims, posts it.
async fn post_forged(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
) -> (u16, String) {
    let (status, body, _) = post_forged_session(app, forge).await;
    (status, body)
}

/// Like `post_forged`, also telling whether the response set a session cookie.
async fn post_forged_session(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
) -> (u16, String, bool) {
    let start = app.start_login("/").await;
    let token = forge(app, app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let status = response.status().code;
    let session_set = response.cookies().get("bff_session").is_some();
    (status, text(response).await, session_set)
}

async fn assert_refused(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
    reason: &str,
) {
    let (status, body, session_set) = post_forged_session(app, forge).await;
    assert_eq!(status, 401, "refused with 401; page: {body}");
    assert!(
        body.contains(reason),
        "page names the reason {reason:?}: {body}"
    );
    assert!(!session_set, "no session cookie after a refused token");
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}
