//! OpenID Connect Back-Channel Logout 1.0 against the in-process test IdP. `rules` proves each
//! rule of the logout token (§2.4–2.6), breaking exactly that rule in each test; `endpoint`
//! proves what `POST /backchannel-logout` ends and how it answers (§2.5, §2.7–2.8).

use crate::helpers;

mod endpoint;
mod rules;

use helpers::back_channel::CLIENT_SECRET;
use helpers::idp::TestIdp;
use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;

/// The app (one instance, its own memory store) in front of a test IdP, driven without a
/// cookie jar so that each test holds several sessions side by side.
pub struct Bcl {
    pub idp: TestIdp,
    pub client: Client,
}

/// The answer of `POST /backchannel-logout`.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub cache_control: Option<String>,
}

pub async fn bcl() -> Bcl {
    bcl_with(|_| {}, |f| f).await
}

/// The app with the code flow: sessions keep tokens on the server.
pub async fn code_bcl() -> Bcl {
    bcl_with(
        |_| {},
        |f| {
            f.merge(("oidc.response_type", "code"))
                .merge(("oidc.client_secret", CLIENT_SECRET))
        },
    )
    .await
}

/// The app against an IdP prepared by `prepare`, configured by `customize`.
pub async fn bcl_with(
    prepare: impl FnOnce(&TestIdp),
    customize: impl FnOnce(Figment) -> Figment,
) -> Bcl {
    let idp = TestIdp::start().await;
    prepare(&idp);
    let rocket =
        helpers::bff::build_from(customize(helpers::figment(&idp.issuer))).expect("valid config");
    let client = Client::untracked(rocket).await.expect("app ignites");
    Bcl { idp, client }
}

fn set_cookies(response: &LocalResponse<'_>, prefix: &str) -> Vec<Cookie<'static>> {
    let mut cookies = helpers::set_cookies(response);
    cookies.retain(|cookie| cookie.name().starts_with(prefix));
    cookies
}

impl Bcl {
    /// Posts a logout token as the IdP does.
    pub async fn post_logout_token(&self, token: &str) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", token)
            .finish();
        self.post(ContentType::Form, body).await
    }

    /// Signs `claims` with the IdP's key (typ `logout+jwt`) and posts them.
    pub async fn post_claims(&self, claims: &Value) -> Answer {
        self.post_logout_token(&self.idp.logout_token(claims)).await
    }

    /// Posts any body to `/backchannel-logout`.
    pub async fn post(&self, content_type: ContentType, body: String) -> Answer {
        let response = self
            .client
            .post("/backchannel-logout")
            .header(content_type)
            .body(body)
            .dispatch()
            .await;
        let status = response.status().code;
        let cache_control = response
            .headers()
            .get_one("Cache-Control")
            .map(str::to_string);
        let text = response.into_string().await.unwrap_or_default();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("a JSON answer (status {status}): {text}"));
        Answer {
            status,
            body,
            cache_control,
        }
    }

    /// A whole login of the implicit flow with the ID token's claims changed by `overrides`
    /// (e.g. `sid`, `sub`); returns the session cookie.
    pub async fn login(&self, overrides: Value) -> Cookie<'static> {
        let (cookies, state, nonce, _) = self.start_login().await;
        let mut claims = self.idp.claims(&nonce);
        for (name, value) in overrides.as_object().expect("an object") {
            claims[name] = value.clone();
        }
        let token = self.idp.token(&claims);
        self.finish_login(&cookies, &[("id_token", &token), ("state", &state)])
            .await
    }

    /// A whole login of the code flow; the token endpoint's ID token gets `overrides`.
    pub async fn login_with_code(&self, overrides: Value) -> Cookie<'static> {
        *self.idp.back.id_token_overrides.lock().unwrap() = overrides;
        let (cookies, state, nonce, challenge) = self.start_login().await;
        let challenge = challenge.expect("a PKCE challenge in the code flow");
        let code = self.idp.back.grant_code(&nonce, &challenge);
        self.finish_login(&cookies, &[("code", &code), ("state", &state)])
            .await
    }

    async fn start_login(&self) -> (Vec<Cookie<'static>>, String, String, Option<String>) {
        let response = self.client.get("/login").dispatch().await;
        assert_eq!(response.status().code, 302);
        let location = response.headers().get_one("Location").unwrap().to_string();
        let params: std::collections::HashMap<String, String> = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        (
            set_cookies(&response, "bff_login"),
            params["state"].clone(),
            params["nonce"].clone(),
            params.get("code_challenge").cloned(),
        )
    }

    async fn finish_login(
        &self,
        cookies: &[Cookie<'static>],
        fields: &[(&str, &str)],
    ) -> Cookie<'static> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .client
            .post("/callback")
            .header(ContentType::Form)
            .cookies(cookies.to_vec())
            .body(body)
            .dispatch()
            .await;
        assert_eq!(response.status().code, 303, "login accepted");
        set_cookies(&response, "bff_session")
            .pop()
            .expect("a session cookie")
    }

    /// `GET /api/hello` with `session`, as a script's fetch: its status.
    pub async fn api(&self, session: &Cookie<'static>) -> u16 {
        self.client
            .get("/api/hello")
            .cookie(session.clone())
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"))
            .dispatch()
            .await
            .status()
            .code
    }
}

/// A 400 `invalid_request` whose description names `reason`, not cached.
pub fn assert_refused(answer: &Answer, reason: &str) {
    assert_eq!(answer.status, 400, "refused with 400: {}", answer.body);
    assert_eq!(answer.body["error"], "invalid_request", "{}", answer.body);
    let description = answer.body["error_description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains(reason),
        "the description names {reason:?}: {description}"
    );
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

/// A 200 with `{}`, not cached.
pub fn assert_accepted(answer: &Answer) {
    assert_eq!(answer.status, 200, "accepted: {}", answer.body);
    assert_eq!(answer.body, serde_json::json!({}));
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}
