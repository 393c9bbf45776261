//! Pushed authorization requests (RFC 9126): the client posts the request's parameters to
//! `/par` with its client authentication and gets a one-time `request_uri`; `/authorize` then
//! takes `client_id` and `request_uri` only. While the user signs in (password, second
//! factor), the sign-in form carries another handle to the same request, valid until the
//! sign-in ends, so the pushed parameters are never re-posted by the browser.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::{post, routes, Request, Route};
use serde_json::json;

use crate::authorize::{self, Rejection};
use crate::discovery::PAR_PATH;
use crate::oauth::{authenticated, dpop_key, no_store, BackChannel, OAuthError};
use crate::params::Params;
use crate::random::random_token;
use crate::state::Idp;

/// The form of a `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// A pushed request is used within this (`expires_in`), unless configured otherwise.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// The sign-in form's handle to a pushed request.
const SIGN_IN_PREFIX: &str = "urn:dev-idp:sign-in:";
/// How long a sign-in of a pushed request may take.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);
const CAPACITY: usize = 10_000;
/// Parameters of the client authentication, not of the authorization request.
const AUTHENTICATION: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

pub fn routes() -> Vec<Route> {
    routes![push]
}

struct Entry {
    client_id: String,
    params: Vec<(String, String)>,
    expires: Instant,
}

/// Pushed requests and the sign-ins of pushed requests, by `request_uri` (in memory, bounded).
pub struct PushedRequests {
    required: bool,
    lifetime: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl PushedRequests {
    /// `required`: refuse authorization requests that were not pushed; `lifetime`: of a
    /// `request_uri`.
    pub fn new(required: bool, lifetime: Duration) -> Self {
        Self {
            required,
            lifetime,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn insert(
        &self,
        prefix: &str,
        client_id: &str,
        params: Vec<(String, String)>,
        ttl: Duration,
    ) -> String {
        let now = Instant::now();
        let uri = format!("{prefix}{}", random_token());
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.expires > now);
        }
        while entries.len() >= CAPACITY {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
        let entry = Entry {
            client_id: client_id.to_string(),
            params,
            expires: now + ttl,
        };
        entries.insert(uri.clone(), entry);
        uri
    }

    /// The parameters of the authorization request `params` stands for, and the sign-in
    /// handle the sign-in form must carry when it was pushed. `form`: `params` come from the
    /// sign-in form (which carries a sign-in handle), not from the client.
    pub fn resolve(
        &self,
        params: Params,
        form: bool,
    ) -> Result<(Params, Option<String>), Rejection> {
        let at_idp = |message: &str| Rejection::AtIdp {
            message: message.to_string(),
        };
        let duplicate = |d: crate::params::Duplicate| {
            at_idp(&format!("The parameter `{}` was sent more than once.", d.0))
        };
        let Some(request_uri) = params.one("request_uri").map_err(duplicate)? else {
            if self.required {
                return Err(at_idp(
                    "This development IdP requires pushed authorization requests (RFC 9126): \
                     push the request to /par and send its client_id and request_uri here.",
                ));
            }
            return Ok((params, None));
        };
        let client_id = params
            .one("client_id")
            .map_err(duplicate)?
            .ok_or_else(|| at_idp("The request has a request_uri but no client_id."))?;
        let prefix = if form {
            SIGN_IN_PREFIX
        } else {
            REQUEST_URI_PREFIX
        };
        let unknown = || {
            at_idp("The request_uri is unknown, expired, already used or was pushed by another client.")
        };
        if !request_uri.starts_with(prefix) {
            return Err(unknown());
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(request_uri) {
            Some(entry) if entry.client_id == client_id && entry.expires > now => {}
            _ => return Err(unknown()),
        }
        if form {
            let pairs = entries
                .get(request_uri)
                .map(|e| e.params.clone())
                .unwrap_or_default();
            return Ok((Params::from_pairs(pairs), Some(request_uri.to_string())));
        }
        // Single use: the pushed request is gone; its sign-in has a handle of its own.
        let Some(entry) = entries.remove(request_uri) else {
            return Err(unknown());
        };
        drop(entries);
        let pairs = entry.params.clone();
        let handle = self.insert(SIGN_IN_PREFIX, client_id, entry.params, SIGN_IN_LIFETIME);
        Ok((Params::from_pairs(pairs), Some(handle)))
    }

    /// Ends the sign-in of a pushed request: its handle is no longer accepted.
    pub fn finish(&self, handle: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(handle);
    }
}

/// `201 {"request_uri": …, "expires_in": …}` (RFC 9126 §2.2).
struct Pushed(String, Duration);

impl<'r> Responder<'r, 'static> for Pushed {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body = json!({"request_uri": self.0, "expires_in": self.1.as_secs()});
        no_store(req, Status::Created, body)
    }
}

/// The pushed authorization request endpoint (RFC 9126 §2).
#[post("/par", data = "<body>")]
async fn push(request: BackChannel<'_>, body: String, idp: &Idp) -> Result<Pushed, OAuthError> {
    // RFC 9449 §10.1: a proof binds the code to its key, as `dpop_jkt` would.
    let jkt = dpop_key(&request, idp, PAR_PATH)?;
    let (params, client_id) = authenticated(&request, &body, idp, PAR_PATH).await?;
    if let Some(jkt) = &jkt {
        if params
            .one("dpop_jkt")
            .ok()
            .flatten()
            .is_some_and(|sent| sent != jkt)
        {
            return Err(OAuthError::new(
                "invalid_dpop_proof",
                "dpop_jkt is not the thumbprint of the DPoP proof's key.",
            ));
        }
    }
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1).",
        ));
    }
    let mut pairs: Vec<(String, String)> = params
        .into_pairs()
        .into_iter()
        .filter(|(name, _)| !AUTHENTICATION.contains(&name.as_str()))
        .collect();
    pairs.push(("client_id".into(), client_id.clone()));
    if let Some(jkt) = jkt {
        pairs.retain(|(name, _)| name != "dpop_jkt");
        pairs.push(("dpop_jkt".into(), jkt));
    }
    // The same rules as at /authorize; every error is a JSON error here (RFC 9126 §2.3).
    match authorize::check(&Params::from_pairs(pairs.clone()), &idp.clients) {
        Ok(_) => {}
        Err(Rejection::AtIdp { message }) => return Err(OAuthError::invalid_request(message)),
        Err(Rejection::ToClient(response)) => {
            return Err(OAuthError::new(response.error, response.description))
        }
    }
    let lifetime = idp.par.lifetime;
    let uri = idp
        .par
        .insert(REQUEST_URI_PREFIX, &client_id, pairs, lifetime);
    Ok(Pushed(uri, lifetime))
}
