//! Each API its own token (RFC 8707 resource indicators), against the certified
//! `oidc-provider` with JWT access tokens per resource: the token an API receives names that
//! API as its audience, a `client` API gets the app's token, and none gets another's.

use std::time::Duration;

use super::{fetch, gateway_app_with};
use crate::helpers;

use helpers::back_channel::CLIENT_SECRET;
use helpers::oidc_provider::{jwt_claims, log_in, OidcProvider};
use helpers::upstream::Upstream;
use helpers::{app_with, TestApp, CLIENT_ID};
use rocket::figment::Figment;
use rocket::http::Status;
use serde_json::Value;

const ORDERS: &str = "https://orders.example";
const STOCK: &str = "https://stock.example";
const REPORTS: &str = "https://reports.example";

/// The app against `provider`: `orders` (resource ORDERS), `stock` (resource STOCK, scope
/// `api:read`), `general` (the session's token) and `reports` (the app's token for REPORTS,
/// scope `api:read`), all on `upstream`; the login asks for `api:write` too, so `orders`
/// (no scopes of its own) gets both and `stock` is narrowed to its one.
async fn app(
    provider: &OidcProvider,
    upstream: &Upstream,
    more: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    let (issuer, url) = (provider.issuer.clone(), upstream.url.clone());
    app_with(move |f: Figment| {
        let api = |f: Figment, name: &str, key: &str, value: &str| {
            f.merge((format!("oidc.remote_apis.{name}.{key}"), value.to_string()))
        };
        let mut f = f
            .merge(("oidc.issuer", issuer))
            .merge(("oidc.response_type", "code"))
            .merge(("oidc.client_secret", CLIENT_SECRET))
            .merge(("oidc.scopes", "openid profile email api:write"));
        f = api(f, "orders", "url", &format!("{url}/orders"));
        f = api(f, "orders", "resource", ORDERS);
        f = api(f, "stock", "url", &format!("{url}/stock"));
        f = api(f, "stock", "resource", STOCK);
        f = api(f, "stock", "scopes", "api:read");
        f = api(f, "general", "url", &format!("{url}/general"));
        f = api(f, "reports", "url", &format!("{url}/reports"));
        f = api(f, "reports", "token", "client");
        f = api(f, "reports", "resource", REPORTS);
        f = api(f, "reports", "scopes", "api:read");
        more(f)
    })
    .await
}

/// The bearer token the upstream received on its last call to `/<api>/…`.
fn token_seen(upstream: &Upstream, api: &str) -> String {
    let seen = upstream
        .seen()
        .into_iter()
        .rev()
        .find(|seen| seen.path.starts_with(&format!("/{api}/")))
        .unwrap_or_else(|| panic!("no call reached {api}"));
    let header = seen.header("authorization").unwrap_or_default();
    header
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("{api} got no bearer token: {header:?}"))
        .to_string()
}

/// A token's scopes, sorted.
fn scopes(claims: &Value) -> Vec<&str> {
    let mut scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect();
    scopes.sort_unstable();
    scopes
}

async fn call(app: &TestApp, upstream: &Upstream, api: &str) -> (String, Value) {
    let response = fetch(app, &format!("/api/{api}/x")).await;
    assert_eq!(response.status(), Status::Ok, "{api}");
    let token = token_seen(upstream, api);
    let claims = jwt_claims(&token).unwrap_or(Value::Null);
    (token, claims)
}

#[tokio::test]
async fn each_api_receives_a_token_for_its_own_resource_and_none_receives_another() {
    let provider = OidcProvider::start(&[]).await;
    let upstream = Upstream::start().await;
    let app = app(&provider, &upstream, |f| f).await;
    log_in(&app, &provider.issuer, "alice", "alice-password").await;

    let (orders, orders_claims) = call(&app, &upstream, "orders").await;
    let (stock, stock_claims) = call(&app, &upstream, "stock").await;
    let (general, general_claims) = call(&app, &upstream, "general").await;
    let (reports, reports_claims) = call(&app, &upstream, "reports").await;

    assert_eq!(orders_claims["aud"], ORDERS, "{orders_claims}");
    assert_eq!(orders_claims["sub"], "alice");
    assert_eq!(scopes(&orders_claims), ["api:read", "api:write"]);
    assert_eq!(stock_claims["aud"], STOCK, "{stock_claims}");
    assert_eq!(stock_claims["sub"], "alice");
    assert_eq!(
        scopes(&stock_claims),
        ["api:read"],
        "narrowed to its scopes"
    );
    // The session's own token is the IdP's opaque one for UserInfo, for no API's audience.
    assert_eq!(
        general_claims,
        Value::Null,
        "the session's token is not a JWT"
    );
    // The app's own token: for its resource, of the client, not of the user.
    assert_eq!(reports_claims["aud"], REPORTS, "{reports_claims}");
    assert_eq!(reports_claims["sub"], CLIENT_ID);
    assert_eq!(reports_claims["client_id"], CLIENT_ID);
    assert_eq!(reports_claims["scope"], "api:read");
    let tokens = [&orders, &stock, &general, &reports];
    for (i, a) in tokens.iter().enumerate() {
        for b in &tokens[i + 1..] {
            assert_ne!(a, b, "two APIs received the same token");
        }
    }
    // Kept with the session: the next call carries the same token.
    assert_eq!(call(&app, &upstream, "orders").await.0, orders);
    assert_eq!(call(&app, &upstream, "reports").await.0, reports);
}

#[tokio::test]
async fn an_apis_own_token_is_obtained_again_when_due() {
    let provider = OidcProvider::start(&[("ACCESS_TOKEN_TTL", "2")]).await;
    let upstream = Upstream::start().await;
    let app = app(&provider, &upstream, |f| {
        f.merge(("oidc.refresh_margin_secs", 1))
    })
    .await;
    log_in(&app, &provider.issuer, "alice", "alice-password").await;
    let (first, first_claims) = call(&app, &upstream, "orders").await;
    assert_eq!(first_claims["aud"], ORDERS);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (second, second_claims) = call(&app, &upstream, "orders").await;
    assert_ne!(second, first, "a new token once the first was due");
    assert_eq!(second_claims["aud"], ORDERS, "{second_claims}");
    assert_eq!(second_claims["sub"], "alice");
    assert!(second_claims["exp"].as_i64() > first_claims["exp"].as_i64());
    // The session's token is still the session's own, and the API still gets only its own.
    let (general, _) = call(&app, &upstream, "general").await;
    assert_ne!(general, second);
}

#[tokio::test]
async fn the_authorization_request_asks_for_every_resource_and_the_apis_scopes() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let app = gateway_app_with(&upstream, move |f| {
        f.merge(("oidc.remote_apis.a.url", format!("{url}/a")))
            .merge(("oidc.remote_apis.a.resource", ORDERS))
            .merge(("oidc.remote_apis.b.url", format!("{url}/b")))
            .merge(("oidc.remote_apis.b.resource", STOCK))
            .merge(("oidc.remote_apis.b.scopes", "api:read"))
            .merge(("oidc.remote_apis.c.url", format!("{url}/c")))
            .merge(("oidc.remote_apis.c.token", "client"))
            .merge(("oidc.remote_apis.c.resource", REPORTS))
    })
    .await;
    let response = app.client.get("/login").dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_string();
    let url = url::Url::parse(&location).unwrap();
    let values = |name: &str| -> Vec<String> {
        url.query_pairs()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    };
    assert_eq!(
        values("resource"),
        [ORDERS, STOCK],
        "the client API's is the app's"
    );
    assert_eq!(values("scope"), ["openid profile email api:read"]);
}

#[tokio::test]
async fn a_bad_resource_or_scopes_stops_the_start_naming_the_api_and_the_key() {
    let base = || {
        helpers::figment("https://idp.example")
            .merge(("oidc.response_type", "code"))
            .merge(("oidc.client_secret", CLIENT_SECRET))
            .merge(("oidc.remote_apis.orders.url", "https://api.example/"))
    };
    let cases: [(&str, Figment); 5] = [
        (
            "resource `orders.example` of `orders`",
            base().merge(("oidc.remote_apis.orders.resource", "orders.example")),
        ),
        (
            "resource `https://orders.example/#x` of `orders`",
            base().merge((
                "oidc.remote_apis.orders.resource",
                "https://orders.example/#x",
            )),
        ),
        (
            "scopes of `orders` is empty",
            base().merge(("oidc.remote_apis.orders.scopes", " ")),
        ),
        (
            "resource of `orders`, whose token is `none`",
            base()
                .merge(("oidc.remote_apis.orders.token", "none"))
                .merge(("oidc.remote_apis.orders.resource", ORDERS)),
        ),
        (
            "resource of `orders` with RESPONSE_TYPE=id_token",
            base()
                .merge(("oidc.response_type", "id_token"))
                .merge(("oidc.remote_apis.orders.resource", ORDERS)),
        ),
    ];
    for (expected, figment) in cases {
        let Err(error) = helpers::bff::build_from(figment) else {
            panic!("started despite: {expected}");
        };
        let error = error.to_string();
        assert!(error.starts_with("REMOTE_APIS"), "{error}");
        assert!(error.contains(expected), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
    // Control: the same API with a good resource and scopes starts.
    let good = base()
        .merge(("oidc.remote_apis.orders.resource", ORDERS))
        .merge(("oidc.remote_apis.orders.scopes", "api:read"));
    assert!(helpers::bff::build_from(good).is_ok());
}
