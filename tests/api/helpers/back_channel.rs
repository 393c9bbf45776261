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
use rocket::response::{Responder, Response};
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
    /// The `DPoP` header (a proof), when one came.
    pub dpop: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// `resource` (RFC 8707) and `scope`, when asked for.
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// What the PAR endpoint received.
#[derive(Clone, Debug)]
pub struct ParRequest {
    /// The form fields, in order.
    pub fields: Vec<(String, String)>,
    pub authorization: Option<String>,
}

/// What UserInfo received: its `Authorization` and `DPoP` headers.
#[derive(Clone, Debug)]
pub struct ResourceRequest {
    pub authorization: Option<String>,
    pub dpop: Option<String>,
}

pub struct BackChannel {
    pub issuer: String,
    pub key: Mutex<Key>,
    pub grants: Mutex<HashMap<String, Grant>>,
    pub access_tokens: Mutex<Vec<String>>,
    /// The app's own tokens (client credentials grant), in the order issued.
    pub client_tokens: Mutex<Vec<String>>,
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
    /// When set, DPoP proofs must carry this nonce (token endpoint and UserInfo).
    pub dpop_nonce: Mutex<Option<String>>,
    /// The `token_type` of the next answers, whatever the request (`Bearer` to a DPoP
    /// request, say); `None`: `DPoP` with a proof, `Bearer` without.
    pub token_type: Mutex<Option<String>>,
    pub par_requests: Mutex<Vec<ParRequest>>,
    pub userinfo_requests: Mutex<Vec<ResourceRequest>>,
}

impl BackChannel {
    pub fn new(issuer: &str, key: Key) -> Self {
        Self {
            issuer: issuer.to_string(),
            key: Mutex::new(key),
            grants: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(Vec::new()),
            client_tokens: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            refresh_count: AtomicUsize::new(0),
            refresh_fails: AtomicBool::new(false),
            refresh_delay: Mutex::new(Duration::ZERO),
            access_ttl: AtomicI64::new(3600),
            id_token_overrides: Mutex::new(json!({})),
            error: Mutex::new(None),
            dpop_nonce: Mutex::new(None),
            token_type: Mutex::new(None),
            par_requests: Mutex::new(Vec::new()),
            userinfo_requests: Mutex::new(Vec::new()),
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

    fn issue(&self, nonce: Option<&str>, with_id_token: bool, dpop: bool) -> Value {
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
            "token_type": self.token_type.lock().unwrap().clone()
                .unwrap_or_else(|| if dpop { "DPoP" } else { "Bearer" }.to_string()),
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
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
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

/// The request's `DPoP` header.
struct DpopHeader(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for DpopHeader {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(DpopHeader(
            req.headers().get_one("DPoP").map(str::to_string),
        ))
    }
}

/// An answer with extra headers (`DPoP-Nonce`, `WWW-Authenticate`).
pub struct Answer(Status, Value, Vec<(&'static str, String)>);

impl From<(Status, Value)> for Answer {
    fn from((status, body): (Status, Value)) -> Self {
        Answer(status, body, Vec::new())
    }
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, req: &'r Request<'_>) -> rocket::response::Result<'static> {
        let mut response = Response::build_from(self.1.respond_to(req)?);
        response.status(self.0);
        for (name, value) in self.2 {
            response.raw_header(name, value);
        }
        response.ok()
    }
}

/// The `nonce` claim of a DPoP proof (unverified: the tests check proofs themselves).
pub fn proof_claims(proof: &str) -> Value {
    let payload = proof.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
        .unwrap_or(Value::Null)
}

/// With a nonce required: `None` when the proof carries it, else the nonce to send.
fn missing_nonce(bc: &BackChannel, proof: Option<&str>) -> Option<String> {
    let required = bc.dpop_nonce.lock().unwrap().clone()?;
    let given = proof
        .map(proof_claims)
        .and_then(|c| c["nonce"].as_str().map(str::to_string));
    (given.as_deref() != Some(required.as_str())).then_some(required)
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
    // An assertion is taken at its word here: the tests check its claims and signature.
    let asserted = form.client_assertion_type.as_deref()
        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && form
            .client_assertion
            .as_deref()
            .is_some_and(|jwt| proof_claims(jwt)["iss"] == CLIENT_ID);
    asserted
        || auth.0.as_deref() == Some(basic.as_str())
        || (form.client_id.as_deref() == Some(CLIENT_ID)
            && form.client_secret.as_deref() == Some(CLIENT_SECRET))
}

#[post("/token", data = "<form>")]
async fn token(
    form: Form<TokenForm>,
    auth: Authorization,
    dpop: DpopHeader,
    bc: &State<Arc<BackChannel>>,
) -> Answer {
    bc.requests.lock().unwrap().push(TokenRequest {
        grant_type: form.grant_type.clone(),
        code_verifier: form.code_verifier.clone(),
        redirect_uri: form.redirect_uri.clone(),
        authorization: auth.0.clone(),
        client_secret_in_body: form.client_secret.clone(),
        dpop: dpop.0.clone(),
        client_assertion_type: form.client_assertion_type.clone(),
        client_assertion: form.client_assertion.clone(),
        resource: form.resource.clone(),
        scope: form.scope.clone(),
    });
    if let Some(error) = bc.error.lock().unwrap().clone() {
        return (Status::BadRequest, error).into();
    }
    if !client_authenticated(&auth, &form) {
        return oauth_error(Status::Unauthorized, "invalid_client").into();
    }
    if dpop.0.is_some() {
        if let Some(nonce) = missing_nonce(bc, dpop.0.as_deref()) {
            let (status, body) = oauth_error(Status::BadRequest, "use_dpop_nonce");
            return Answer(status, body, vec![("DPoP-Nonce", nonce)]);
        }
    }
    let bound = dpop.0.is_some();
    token_grant(&form, bound, bc).await.into()
}

async fn token_grant(form: &TokenForm, bound: bool, bc: &BackChannel) -> (Status, Value) {
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
            (Status::Ok, bc.issue(Some(&grant.nonce), true, bound))
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
            (Status::Ok, bc.issue(None, false, bound))
        }
        "client_credentials" => {
            // The app's own token: an access token and nothing else (RFC 6749 §4.4.3).
            let mut body = bc.issue(None, false, bound);
            if let Some(body) = body.as_object_mut() {
                body.remove("refresh_token");
            }
            bc.client_tokens.lock().unwrap().push(
                body["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            (Status::Ok, body)
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
fn userinfo(auth: Authorization, dpop: DpopHeader, bc: &State<Arc<BackChannel>>) -> Answer {
    bc.userinfo_requests.lock().unwrap().push(ResourceRequest {
        authorization: auth.0.clone(),
        dpop: dpop.0.clone(),
    });
    let header = auth.0.unwrap_or_default();
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("DPoP "))
        .unwrap_or_default();
    if header.starts_with("DPoP ") {
        if let Some(nonce) = missing_nonce(bc, dpop.0.as_deref()) {
            return Answer(
                Status::Unauthorized,
                json!({"error": "use_dpop_nonce"}),
                vec![
                    (
                        "WWW-Authenticate",
                        r#"DPoP error="use_dpop_nonce", error_description="nonce""#.into(),
                    ),
                    ("DPoP-Nonce", nonce),
                ],
            );
        }
    }
    if !bc.access_tokens.lock().unwrap().iter().any(|t| t == token) {
        return (Status::Unauthorized, json!({"error": "invalid_token"})).into();
    }
    (
        Status::Ok,
        json!({"sub": "user-123", "name": "Alice Liddell", "email": "alice@example.com", "source": "userinfo"}),
    )
        .into()
}

/// Pushed authorization requests (RFC 9126): recorded; answered with a fresh `request_uri`
/// unless `error` is set.
#[post("/par", data = "<form>")]
fn par(form: String, auth: Authorization, bc: &State<Arc<BackChannel>>) -> Answer {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    bc.par_requests.lock().unwrap().push(ParRequest {
        fields,
        authorization: auth.0,
    });
    if let Some(error) = bc.error.lock().unwrap().clone() {
        return (Status::BadRequest, error).into();
    }
    (
        Status::Created,
        json!({"request_uri": format!("urn:ietf:params:oauth:request_uri:{}", random()), "expires_in": 60}),
    )
        .into()
}

pub fn routes() -> Vec<Route> {
    routes![token, revoke, userinfo, par]
}
