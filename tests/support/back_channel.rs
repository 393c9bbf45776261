//! The test IdP's back channel for the code flow: token endpoint (code with PKCE, refresh),
//! revocation and UserInfo, with knobs to make each of them misbehave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::{json, Value};
use rocket::{get, post, routes, Route, State};
use sha2::{Digest, Sha256};

use super::idp::{now, sign_with, Key, CLIENT_ID};

pub const CLIENT_SECRET: &str = "test-secret";

/// A code the IdP handed out, waiting to be redeemed.
#[derive(Clone)]
pub struct Grant {
    pub nonce: String,
    pub code_challenge: String,
}

/// What the token endpoint received, for assertions.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub grant_type: String,
    pub code_verifier: Option<String>,
    pub redirect_uri: Option<String>,
    pub authorization: Option<String>,
    pub client_secret_in_body: Option<String>,
}

pub struct BackChannel {
    pub issuer: String,
    pub key: Mutex<Key>,
    pub grants: Mutex<HashMap<String, Grant>>,
    pub access_tokens: Mutex<Vec<String>>,
    pub refresh_tokens: Mutex<Vec<String>>,
    pub revoked: Mutex<Vec<String>>,
    pub requests: Mutex<Vec<TokenRequest>>,
    pub refresh_count: AtomicUsize,
    pub refresh_fails: AtomicBool,
    pub refresh_delay: Mutex<Duration>,
    /// `expires_in` of the next access tokens.
    pub access_ttl: AtomicI64,
    /// Claims merged into the token endpoint's next ID tokens (e.g. a wrong `at_hash`).
    pub id_token_overrides: Mutex<Value>,
    pub error: Mutex<Option<Value>>,
}

impl BackChannel {
    pub fn new(issuer: &str, key: Key) -> Self {
        Self {
            issuer: issuer.to_string(),
            key: Mutex::new(key),
            grants: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            refresh_count: AtomicUsize::new(0),
            refresh_fails: AtomicBool::new(false),
            refresh_delay: Mutex::new(Duration::ZERO),
            access_ttl: AtomicI64::new(3600),
            id_token_overrides: Mutex::new(json!({})),
            error: Mutex::new(None),
        }
    }

    /// Registers a code as the authorization endpoint would after the user signed in.
    pub fn grant_code(&self, nonce: &str, code_challenge: &str) -> String {
        let code = format!("code-{}", random());
        self.grants.lock().unwrap().insert(
            code.clone(),
            Grant {
                nonce: nonce.into(),
                code_challenge: code_challenge.into(),
            },
        );
        code
    }

    fn issue(&self, nonce: Option<&str>, with_id_token: bool) -> Value {
        let access_token = format!("at-{}", random());
        let refresh_token = format!("rt-{}", random());
        self.access_tokens
            .lock()
            .unwrap()
            .push(access_token.clone());
        self.refresh_tokens
            .lock()
            .unwrap()
            .push(refresh_token.clone());
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_ttl.load(Ordering::SeqCst),
            "refresh_token": refresh_token,
        });
        if with_id_token {
            let t = now();
            let mut claims = json!({
                "iss": self.issuer, "sub": "user-123", "aud": CLIENT_ID,
                "exp": t + 300, "iat": t, "at_hash": half_hash(&access_token),
            });
            if let Some(nonce) = nonce {
                claims["nonce"] = json!(nonce);
            }
            if let Some(overrides) = self.id_token_overrides.lock().unwrap().as_object() {
                for (k, v) in overrides {
                    claims[k] = v.clone();
                }
            }
            body["id_token"] = json!(sign_with(&self.key.lock().unwrap(), &claims));
        }
        body
    }
}

/// `at_hash` / `c_hash` for RS256: left half of SHA-256, base64url.
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

fn random() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(FromForm)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

struct Authorization(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Authorization {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(Authorization(
            req.headers().get_one("Authorization").map(str::to_string),
        ))
    }
}

fn oauth_error(status: Status, error: &str) -> (Status, Value) {
    (
        status,
        json!({ "error": error, "error_description": format!("test IdP: {error}") }),
    )
}

fn client_authenticated(auth: &Authorization, form: &TokenForm) -> bool {
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    auth.0.as_deref() == Some(basic.as_str())
        || (form.client_id.as_deref() == Some(CLIENT_ID)
            && form.client_secret.as_deref() == Some(CLIENT_SECRET))
}

#[post("/token", data = "<form>")]
async fn token(
    form: Form<TokenForm>,
    auth: Authorization,
    bc: &State<Arc<BackChannel>>,
) -> (Status, Value) {
    bc.requests.lock().unwrap().push(TokenRequest {
        grant_type: form.grant_type.clone(),
        code_verifier: form.code_verifier.clone(),
        redirect_uri: form.redirect_uri.clone(),
        authorization: auth.0.clone(),
        client_secret_in_body: form.client_secret.clone(),
    });
    if let Some(error) = bc.error.lock().unwrap().clone() {
        return (Status::BadRequest, error);
    }
    if !client_authenticated(&auth, &form) {
        return oauth_error(Status::Unauthorized, "invalid_client");
    }
    match form.grant_type.as_str() {
        "authorization_code" => {
            let Some(grant) = form
                .code
                .as_ref()
                .and_then(|c| bc.grants.lock().unwrap().remove(c))
            else {
                return oauth_error(Status::BadRequest, "invalid_grant");
            };
            let verifier = form.code_verifier.clone().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if challenge != grant.code_challenge {
                return oauth_error(Status::BadRequest, "invalid_grant");
            }
            (Status::Ok, bc.issue(Some(&grant.nonce), true))
        }
        "refresh_token" => {
            bc.refresh_count.fetch_add(1, Ordering::SeqCst);
            let delay = *bc.refresh_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let presented = form.refresh_token.clone().unwrap_or_default();
            let known = bc.refresh_tokens.lock().unwrap().contains(&presented);
            let revoked = bc.revoked.lock().unwrap().contains(&presented);
            if bc.refresh_fails.load(Ordering::SeqCst) || !known || revoked {
                return oauth_error(Status::BadRequest, "invalid_grant");
            }
            bc.revoked.lock().unwrap().push(presented); // rotation: the old one is spent
            (Status::Ok, bc.issue(None, false))
        }
        _ => oauth_error(Status::BadRequest, "unsupported_grant_type"),
    }
}

#[derive(FromForm)]
struct RevokeForm {
    token: String,
}

#[post("/revoke", data = "<form>")]
fn revoke(form: Form<RevokeForm>, bc: &State<Arc<BackChannel>>) -> Status {
    bc.revoked.lock().unwrap().push(form.token.clone());
    Status::Ok
}

#[get("/userinfo")]
fn userinfo(auth: Authorization, bc: &State<Arc<BackChannel>>) -> (Status, Value) {
    let token = auth.0.unwrap_or_default();
    let token = token.strip_prefix("Bearer ").unwrap_or_default();
    if !bc.access_tokens.lock().unwrap().iter().any(|t| t == token) {
        return (Status::Unauthorized, json!({"error": "invalid_token"}));
    }
    (
        Status::Ok,
        json!({"sub": "user-123", "name": "Alice Liddell", "email": "alice@example.com", "source": "userinfo"}),
    )
}

pub fn routes() -> Vec<Route> {
    routes![token, revoke, userinfo]
}
