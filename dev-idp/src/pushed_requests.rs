//! The pushed requests themselves (RFC 9126): kept in memory, bounded, by `request_uri`, with
//! the sign-in handles that stand for them while the user signs in. The endpoint is in `par`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::authorize::Rejection;
use crate::params::Params;
use crate::random::random_token;

/// The form of a `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// A pushed request is used within this (`expires_in`), unless configured otherwise.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// The sign-in form's handle to a pushed request.
const SIGN_IN_PREFIX: &str = "urn:dev-idp:sign-in:";
/// How long a sign-in of a pushed request may take.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);
const CAPACITY: usize = 10_000;

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

    /// Keeps a pushed request of `client_id`; its `request_uri` and how long it lasts.
    pub fn push(&self, client_id: &str, params: Vec<(String, String)>) -> (String, Duration) {
        let uri = self.insert(REQUEST_URI_PREFIX, client_id, params, self.lifetime);
        (uri, self.lifetime)
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
