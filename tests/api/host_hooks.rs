//! A host app's login hook (refuse a login, or give the session values of its own) and its
//! claim rule guard for host routes.

use crate::helpers;

use helpers::figment;
use helpers::idp::TestIdp;
use oidc_bff::{
    in_group, ApiUser, Bff, ClaimRule, LoginDecision, LoginHook, LoginInfo, Require, Session,
};
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{get, routes};
use serde_json::{json, Map, Value};

/// Accepts `tenant`'s users with their tenant in the session, refuses the others; gives the
/// user `mallory` more values than a session can carry.
struct Tenants;

#[rocket::async_trait]
impl LoginHook for Tenants {
    async fn on_login(&self, login: &LoginInfo<'_>) -> LoginDecision {
        if login.sub == "mallory" {
            let mut values = Map::new();
            values.insert("big".into(), "x".repeat(2000).into());
            return LoginDecision::AcceptWith(values);
        }
        match login.claims.get("tenant").and_then(Value::as_str) {
            Some(tenant) => {
                let mut values = Map::new();
                values.insert("tenant".into(), tenant.into());
                LoginDecision::AcceptWith(values)
            }
            None => LoginDecision::Refuse("This site is for our customers' accounts.".into()),
        }
    }
}

struct Admins;

impl ClaimRule for Admins {
    fn allows(session: &Session) -> bool {
        in_group(session, "groups", "admins")
    }
}

#[get("/tenant")]
fn tenant(user: ApiUser<'_>) -> String {
    let values = user.0.host_values();
    let tenant = values.get("tenant").and_then(Value::as_str);
    tenant.unwrap_or("-").to_string()
}

#[get("/admin")]
fn admin(user: Require<'_, Admins>) -> String {
    format!("admin {}", user.session().sub)
}

struct Host {
    client: Client,
    idp: TestIdp,
}

async fn host(bff: Bff) -> Host {
    let idp = TestIdp::start().await;
    let app = rocket::custom(figment(&idp.issuer))
        .mount("/api", routes![tenant, admin])
        .attach(bff);
    let client = Client::tracked(app).await.expect("the host ignites");
    Host { client, idp }
}

impl Host {
    /// A login with the test IdP's usual claims changed by `extra`: the callback's answer.
    async fn login(&self, extra: Value) -> LocalResponse<'_> {
        let params = helpers::idp_request_params(&self.client, "/login").await;
        let mut claims = self.idp.claims(&params["nonce"]);
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token", &self.idp.token(&claims))
            .append_pair("state", &params["state"])
            .finish();
        self.client
            .post("/callback")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(path.to_string())
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .dispatch()
            .await;
        let status = response.status().code;
        (status, response.into_string().await.unwrap_or_default())
    }
}

#[rocket::async_test]
async fn the_hooks_values_reach_the_guards_of_host_routes() {
    let host = host(Bff::fairing().on_login(Tenants)).await;
    assert_eq!(
        host.login(json!({"tenant": "acme"})).await.status().code,
        303
    );
    assert_eq!(host.get("/api/tenant").await, (200, "acme".to_string()));
}

#[rocket::async_test]
async fn a_login_the_hook_refuses_gets_its_message_and_no_session() {
    let host = host(Bff::fairing().on_login(Tenants)).await;
    let response = host.login(json!({})).await;
    assert_eq!(response.status().code, 403);
    let page = response.into_string().await.unwrap();
    assert!(page.contains("This site is for our customers"), "{page}");
    assert_eq!(host.get("/api/tenant").await.0, 401, "no session");
}

#[rocket::async_test]
async fn values_too_large_for_a_session_stop_the_login_with_no_session() {
    let host = host(Bff::fairing().on_login(Tenants)).await;
    let response = host
        .login(json!({"sub": "mallory", "tenant": "acme"}))
        .await;
    assert_eq!(response.status().code, 503);
    drop(response);
    assert_eq!(host.get("/api/tenant").await.0, 401, "no session");
}

#[rocket::async_test]
async fn without_a_hook_every_valid_login_goes_on_with_no_values() {
    let host = host(Bff::fairing()).await;
    assert_eq!(host.login(json!({})).await.status().code, 303);
    assert_eq!(host.get("/api/tenant").await, (200, "-".to_string()));
}

#[rocket::async_test]
async fn a_claim_rule_lets_in_only_the_accounts_it_allows() {
    let host = host(Bff::fairing()).await;
    assert_eq!(host.get("/api/admin").await.0, 401, "no session");
    host.login(json!({"groups": ["staff"]})).await;
    let (status, body) = host.get("/api/admin").await;
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not allowed to use this"));
    host.login(json!({"groups": ["staff", "admins"]})).await;
    assert_eq!(
        host.get("/api/admin").await,
        (200, "admin user-123".to_string())
    );
}

/// Accepts a login only with UserInfo's claims (the test IdP's UserInfo says `"source":
/// "userinfo"`).
struct NeedsUserinfo;

#[rocket::async_trait]
impl LoginHook for NeedsUserinfo {
    async fn on_login(&self, login: &LoginInfo<'_>) -> LoginDecision {
        match login.claims.get("source").and_then(Value::as_str) {
            Some("userinfo") => LoginDecision::Accept,
            _ => LoginDecision::Refuse("no UserInfo claims".into()),
        }
    }
}

#[rocket::async_test]
async fn a_login_hook_sees_userinfo_claims_even_when_the_id_token_has_the_claims_the_app_uses() {
    let idp = TestIdp::start().await;
    let config = figment(&idp.issuer)
        .merge(("oidc.response_type", "code"))
        .merge(("oidc.client_secret", helpers::back_channel::CLIENT_SECRET));
    let app = rocket::custom(config).attach(Bff::fairing().on_login(NeedsUserinfo));
    let client = Client::tracked(app).await.expect("the host ignites");
    // Every claim the app itself uses is in the ID token: without a hook, no UserInfo call.
    *idp.back.id_token_overrides.lock().unwrap() = json!({
        "name": "Alice", "email": "alice@example.com", "picture": "https://example.com/a.png",
    });
    let params = helpers::idp_request_params(&client, "/login").await;
    let code = idp
        .back
        .grant_code(&params["nonce"], &params["code_challenge"]);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", &params["state"])
        .finish();
    let response = client
        .post("/callback")
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(
        response.status().code,
        303,
        "the hook saw UserInfo's claims"
    );
    assert_eq!(idp.back.userinfo_requests.lock().unwrap().len(), 1);
}
