//! Each API its own token (RFC 8707 resource indicators), against oidc-provider with JWT access
//! tokens per resource: after a login in the browser (whose authorization request, pushed,
//! asks for both resources), each API receives a token whose `aud` is its own resource, one is
//! narrowed to its scope, the session's own token goes only to the API without a resource, and
//! a `client` API gets the app's token. The stand-in API echoes the token it got
//! (`token_echo`), and the browser shows that answer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::{expect_logged_in_at_start_page, expect_logged_out_at_start_page, sign_in};
use crate::page::{At, Page};

/// The bearer token the stand-in API received through `/api/<api>/x`, shown in the browser.
async fn token_through(p: &Page, path: &'static str) -> String {
    p.open(path).await;
    let shown = p.wait_page(At::App(path), "pre", &["authorization"]).await;
    let answer: Value = serde_json::from_str(shown.trim())
        .unwrap_or_else(|e| panic!("[{}] {path} answered {shown:?}: {e}", p.label));
    let header = answer["authorization"].as_str().unwrap_or_default();
    header
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("[{}] {path}: no bearer token in {answer}", p.label))
        .to_string()
}

/// A JWT's claims, read without checking (the story asks what the IdP put in it).
fn claims(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or(Value::Null)
}

fn scopes(claims: &Value) -> Vec<&str> {
    let mut scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect();
    scopes.sort_unstable();
    scopes
}

pub async fn each_api_gets_a_token_for_its_own_resource(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.click("#login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;

    let orders = token_through(&p, "/api/orders/x").await;
    p.shot("orders-token").await;
    let stock = token_through(&p, "/api/stock/x").await;
    let general = token_through(&p, "/api/general/x").await;
    let reports = token_through(&p, "/api/reports/x").await;
    let (o, s, r) = (claims(&orders), claims(&stock), claims(&reports));
    let label = &p.label;
    assert_eq!(o["aud"], "https://orders.example", "[{label}] {o}");
    assert_eq!(o["sub"], alice.sub, "[{label}] the user's token");
    assert_eq!(scopes(&o), ["api:read", "api:write"], "[{label}] {o}");
    assert_eq!(s["aud"], "https://stock.example", "[{label}] {s}");
    assert_eq!(s["sub"], alice.sub);
    assert_eq!(scopes(&s), ["api:read"], "[{label}] narrowed: {s}");
    assert_eq!(
        claims(&general),
        Value::Null,
        "[{label}] the session's own token is the opaque one"
    );
    assert_eq!(r["aud"], "https://reports.example", "[{label}] {r}");
    assert_eq!(
        r["sub"], p.idp.client_id,
        "[{label}] the app's token, not alice's"
    );
    let tokens = [&orders, &stock, &general, &reports];
    for (i, a) in tokens.iter().enumerate() {
        for b in &tokens[i + 1..] {
            assert_ne!(a, b, "[{label}] two APIs got the same token");
        }
    }
}
