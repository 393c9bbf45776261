//! Authorization codes, access tokens and refresh tokens of the development IdP: issued,
//! redeemed once (RFC 6749 §4.1.2, RFC 7636 §4.6), rotated (RFC 9700 §4.14.2), revoked
//! (RFC 7009) and forgotten when they expire. In memory and bounded; values are looked up by
//! their SHA-256, so the tokens themselves are not kept. Pure: no Rocket, no HTML.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::random::random_token;
use crate::signing::Grant;
use bounded::{insert_bounded, key, CodeEntry, CodeState, Key, TokenEntry};

mod bounded;

/// An authorization code is redeemed within this (RFC 6749 §4.1.2 recommends at most 10 min).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Access tokens, unless configured otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);
/// A refresh token, from its issue (each rotation starts a new one); as long as an IdP session.
pub const REFRESH_TOKEN_LIFETIME: Duration = crate::sessions::LIFETIME;
/// A redeemed code is remembered this long past its expiry, so that a replay is recognised
/// and revokes what the first redemption issued.
const REDEEMED_CODE_MEMORY: Duration = Duration::from_secs(600);
/// Bounds on what is remembered; past them expired entries are swept, then the oldest dropped.
const MAX_CODES: usize = 10_000;
const MAX_TOKENS: usize = 20_000;
/// Expired entries are swept at most this often (and whenever a map is full).
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// How long what the IdP issues stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// An authorization code, from its issue to its redemption.
    pub code: Duration,
    /// An access token (`expires_in`).
    pub access_token: Duration,
    /// A refresh token, from its issue (each rotation starts a new one).
    pub refresh_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self::with_access_token_ttl(DEFAULT_ACCESS_TOKEN_TTL)
    }
}

impl Lifetimes {
    /// The default lifetimes with another access token lifetime.
    pub fn with_access_token_ttl(access_token: Duration) -> Self {
        Self {
            code: CODE_LIFETIME,
            access_token,
            refresh_token: REFRESH_TOKEN_LIFETIME,
        }
    }
}

/// Why a code or refresh token was refused: RFC 6749 §5.2 error codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrantError {
    /// `invalid_grant`: an unknown, expired, spent or mismatched code or refresh token.
    #[error("{0}")]
    Invalid(String),
    /// `invalid_request`: a parameter the grant needs is missing.
    #[error("{0}")]
    Malformed(String),
    /// `invalid_scope`: more scope than was granted.
    #[error("{0}")]
    ScopeNotGranted(String),
    /// `invalid_dpop_proof`: a DPoP-bound refresh token without a proof of its key.
    #[error("{0}")]
    DpopKey(String),
}

/// Tokens just issued for a grant.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    /// What the access token grants (its scopes may be narrower than the refresh token's).
    pub grant: Arc<Grant>,
    /// The tokens descending from one code, revoked together.
    pub family: u64,
    /// The DPoP key thumbprint the access token is bound to: `token_type` DPoP.
    pub jkt: Option<String>,
    /// For a code: its ID token, signed when the code was issued (see
    /// [`Grants::issue_bound_code`]); `None` if that failed, or for a refresh.
    pub id_token: Option<String>,
}

/// A valid access token: what it grants and the DPoP key it is bound to, if any.
#[derive(Debug, Clone)]
pub struct Access {
    pub grant: Arc<Grant>,
    pub jkt: Option<String>,
}

/// The DPoP keys new tokens are bound to.
struct Binding {
    access: Option<String>,
    refresh: Option<String>,
}

struct Inner {
    codes: HashMap<Key, CodeEntry>,
    access: HashMap<Key, TokenEntry>,
    refresh: HashMap<Key, TokenEntry>,
    next_family: u64,
    next_sweep: Instant,
}

impl Inner {
    fn sweep_if_due(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.codes.retain(|_, c| c.expires > now);
        self.access.retain(|_, t| t.expires > now);
        self.refresh.retain(|_, t| t.expires > now);
        self.next_sweep = now + SWEEP_INTERVAL;
    }

    fn revoke_family(&mut self, family: u64) {
        self.access.retain(|_, t| t.family != family);
        self.refresh.retain(|_, t| t.family != family);
    }
}

pub struct Grants {
    inner: Mutex<Inner>,
    lifetimes: Lifetimes,
}

impl Grants {
    pub fn new(lifetimes: Lifetimes) -> Self {
        Self {
            inner: Mutex::new(Inner {
                codes: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next_family: 1,
                next_sweep: Instant::now() + SWEEP_INTERVAL,
            }),
            lifetimes,
        }
    }

    /// The maps, swept of expired entries when a sweep is due. A panic elsewhere while the lock
    /// was held leaves nothing half-done that matters here, so a poisoned lock is used as is.
    fn lock(&self, now: Instant) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.sweep_if_due(now);
        inner
    }

    /// A new one-time code (256 random bits) for `grant`, bound to the request's redirect URI
    /// and PKCE challenge.
    #[cfg(test)]
    pub fn issue_code(&self, grant: Grant, redirect_uri: &str, code_challenge: &str) -> String {
        self.issue_bound_code(grant, redirect_uri, code_challenge, None, |_, _| None)
    }

    /// A new one-time code (256 random bits) for `grant`, bound to the request's redirect URI
    /// and PKCE challenge, and to a DPoP key (RFC 9449 §10) when `dpop_jkt` is given: it is
    /// then redeemed only with a proof of that key.
    ///
    /// The access token its redemption will issue is chosen now, and `id_token` signs the ID
    /// token for it (with its `at_hash`) now: the RSA signature is the IdP's costliest step,
    /// and done here it is spent while the person signs in, not while the client waits at the
    /// token endpoint. (It is also what lets `bench/logins.sh` load the app rather than this
    /// IdP.) The tokens' lifetimes still start at the redemption.
    pub fn issue_bound_code(
        &self,
        grant: Grant,
        redirect_uri: &str,
        code_challenge: &str,
        dpop_jkt: Option<&str>,
        id_token: impl FnOnce(&Grant, &str) -> Option<String>,
    ) -> String {
        let now = Instant::now();
        let code = random_token();
        let access_token = random_token();
        let id_token = id_token(&grant, &access_token);
        let entry = CodeEntry {
            state: CodeState::Pending {
                grant: Arc::new(grant),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: code_challenge.to_string(),
                dpop_jkt: dpop_jkt.map(str::to_string),
                access_token,
                id_token,
            },
            expires: now + self.lifetimes.code,
        };
        let mut inner = self.lock(now);
        insert_bounded(&mut inner.codes, MAX_CODES, key(&code), entry, now);
        code
    }

    /// The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6) for the authenticated
    /// client. Any attempt spends the code; a second one also revokes what the first issued.
    /// `jkt`: the DPoP key the tokens are bound to (RFC 9449 §5), if a proof came with it.
    pub fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        jkt: Option<&str>,
    ) -> Result<Issued, GrantError> {
        let now = Instant::now();
        let mut inner = self.lock(now);
        let family = inner.next_family;
        let spent = CodeEntry {
            state: CodeState::Redeemed { family },
            expires: now + self.lifetimes.code + REDEEMED_CODE_MEMORY,
        };
        let code_key = key(code);
        let previous = match inner.codes.get_mut(&code_key) {
            Some(entry) if entry.expires > now => std::mem::replace(entry, spent),
            _ => {
                return Err(GrantError::Invalid(
                    "The authorization code is unknown or has expired.".into(),
                ))
            }
        };
        let (grant, bound_redirect_uri, code_challenge, dpop_jkt, prepared) = match previous.state {
            CodeState::Redeemed { family: first } => {
                inner.revoke_family(first);
                // Keep remembering the first redemption: its family is revoked again, harmlessly.
                if let Some(entry) = inner.codes.get_mut(&code_key) {
                    *entry = previous;
                }
                return Err(GrantError::Invalid(
                    "The authorization code was already used; the tokens issued for it are \
                     revoked."
                        .into(),
                ));
            }
            CodeState::Pending {
                grant,
                redirect_uri,
                code_challenge,
                dpop_jkt,
                access_token,
                id_token,
            } => (
                grant,
                redirect_uri,
                code_challenge,
                dpop_jkt,
                (access_token, id_token),
            ),
        };
        inner.next_family += 1;
        if grant.client_id != client_id {
            return Err(GrantError::Invalid(
                "The authorization code was issued to another client.".into(),
            ));
        }
        match redirect_uri {
            None => {
                return Err(GrantError::Malformed(
                    "redirect_uri is required: it was part of the authorization request.".into(),
                ))
            }
            Some(uri) if uri != bound_redirect_uri => {
                return Err(GrantError::Invalid(
                    "redirect_uri differs from the one of the authorization request.".into(),
                ))
            }
            Some(_) => {}
        }
        let verifier = code_verifier.ok_or_else(|| {
            GrantError::Malformed(
                "code_verifier is required: the code was issued with a PKCE challenge.".into(),
            )
        })?;
        if dpop_jkt.is_some() && dpop_jkt.as_deref() != jkt {
            return Err(GrantError::DpopKey(
                "The code is bound to a DPoP key (dpop_jkt): send a DPoP proof made with it."
                    .into(),
            ));
        }
        if !crate::pkce::verifies(verifier, &code_challenge) {
            return Err(GrantError::Invalid(
                "The code_verifier does not match the code_challenge (S256).".into(),
            ));
        }
        let binding = Binding {
            access: jkt.map(str::to_string),
            refresh: jkt.map(str::to_string),
        };
        let (access_token, id_token) = prepared;
        let issued = self.issue_tokens(
            &mut inner,
            family,
            (grant.clone(), grant),
            binding,
            Some(access_token),
            now,
        );
        Ok(Issued { id_token, ..issued })
    }

    /// The `refresh_token` grant (RFC 6749 §6): a new access token and a new refresh token;
    /// the presented one is spent. `scope`, when given, may only narrow the grant. `jkt`: the
    /// key of the request's DPoP proof; a bound refresh token needs a proof of its own key
    /// (RFC 9449 §5), and the new access token is bound to the proof's key.
    pub fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        scope: Option<&str>,
        jkt: Option<&str>,
    ) -> Result<Issued, GrantError> {
        let now = Instant::now();
        let mut inner = self.lock(now);
        let refresh_key = key(refresh_token);
        let (family, grant, bound) = match inner.refresh.get(&refresh_key) {
            Some(entry) if entry.expires > now && entry.grant.client_id == client_id => {
                (entry.family, entry.grant.clone(), entry.jkt.clone())
            }
            _ => {
                return Err(GrantError::Invalid(
                    "The refresh token is unknown, expired, revoked or already used.".into(),
                ))
            }
        };
        let access_grant = match scope {
            None => grant.clone(),
            Some(scope) => {
                let scopes: Vec<String> = scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(extra) = scopes.iter().find(|s| !grant.has_scope(s)) {
                    return Err(GrantError::ScopeNotGranted(format!(
                        "The scope `{extra}` was not granted."
                    )));
                }
                Arc::new(Grant {
                    scopes,
                    ..(*grant).clone()
                })
            }
        };
        if let Some(bound) = &bound {
            if jkt != Some(bound.as_str()) {
                return Err(GrantError::DpopKey(
                    "The refresh token is DPoP-bound: send a DPoP proof made with its key.".into(),
                ));
            }
        }
        inner.refresh.remove(&refresh_key);
        let binding = Binding {
            access: jkt.map(str::to_string),
            refresh: bound,
        };
        Ok(self.issue_tokens(
            &mut inner,
            family,
            (grant, access_grant),
            binding,
            None,
            now,
        ))
    }

    fn issue_tokens(
        &self,
        inner: &mut Inner,
        family: u64,
        (refresh_grant, access_grant): (Arc<Grant>, Arc<Grant>),
        binding: Binding,
        access_token: Option<String>,
        now: Instant,
    ) -> Issued {
        let access_token = access_token.unwrap_or_else(random_token);
        let refresh_token = random_token();
        let access = TokenEntry {
            family,
            grant: access_grant.clone(),
            jkt: binding.access.clone(),
            expires: now + self.lifetimes.access_token,
        };
        let refresh = TokenEntry {
            family,
            grant: refresh_grant,
            jkt: binding.refresh,
            expires: now + self.lifetimes.refresh_token,
        };
        insert_bounded(
            &mut inner.access,
            MAX_TOKENS,
            key(&access_token),
            access,
            now,
        );
        insert_bounded(
            &mut inner.refresh,
            MAX_TOKENS,
            key(&refresh_token),
            refresh,
            now,
        );
        Issued {
            access_token,
            refresh_token,
            expires_in: self.lifetimes.access_token,
            grant: access_grant,
            family,
            jkt: binding.access,
            id_token: None,
        }
    }

    /// What a valid access token grants (for UserInfo), or `None`.
    #[cfg(test)]
    pub fn access(&self, access_token: &str) -> Option<Arc<Grant>> {
        self.access_with_binding(access_token).map(|a| a.grant)
    }

    /// What a valid access token grants and the DPoP key it is bound to, or `None`.
    pub fn access_with_binding(&self, access_token: &str) -> Option<Access> {
        let now = Instant::now();
        let inner = self.lock(now);
        inner
            .access
            .get(&key(access_token))
            .filter(|t| t.expires > now)
            .map(|t| Access {
                grant: t.grant.clone(),
                jkt: t.jkt.clone(),
            })
    }

    /// RFC 7009: a refresh token takes its whole family (every access token issued from the
    /// same code) with it; an access token only itself. Unknown tokens, and tokens of another
    /// client, change nothing. Returns whether something was revoked.
    pub fn revoke(&self, token: &str, client_id: &str) -> bool {
        let now = Instant::now();
        let mut inner = self.lock(now);
        let token_key = key(token);
        let refresh_family = inner
            .refresh
            .get(&token_key)
            .filter(|t| t.grant.client_id == client_id)
            .map(|t| t.family);
        if let Some(family) = refresh_family {
            inner.revoke_family(family);
            return true;
        }
        let is_access = inner
            .access
            .get(&token_key)
            .is_some_and(|t| t.grant.client_id == client_id);
        if is_access {
            inner.access.remove(&token_key);
        }
        is_access
    }

    /// Revokes every token of `family` (when issuing its ID token failed).
    pub fn revoke_family(&self, family: u64) {
        self.lock(Instant::now()).revoke_family(family);
    }

    /// How many codes, access tokens and refresh tokens are remembered.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.codes.len(), inner.access.len(), inner.refresh.len())
    }
}

#[cfg(test)]
mod tests;
