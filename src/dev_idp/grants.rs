//! Authorization codes, access tokens and refresh tokens of the development IdP: issued,
//! redeemed once (RFC 6749 §4.1.2, RFC 7636 §4.6), rotated (RFC 9700 §4.14.2), revoked
//! (RFC 7009) and forgotten when they expire. In memory and bounded; values are looked up by
//! their SHA-256, so the tokens themselves are not kept. Pure: no Rocket, no HTML.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::tokens::Grant;
use crate::oidc::flow::random_token;

/// An authorization code is redeemed within this (RFC 6749 §4.1.2 recommends at most 10 min).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Access tokens, unless `DEV_IDP_ACCESS_TOKEN_TTL` says otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);
/// A refresh token, from its issue (each rotation starts a new one); as long as an IdP session.
pub const REFRESH_TOKEN_LIFETIME: Duration = super::sessions::LIFETIME;
/// A redeemed code is remembered this long past its expiry, so that a replay is recognised
/// and revokes what the first redemption issued.
const REDEEMED_CODE_MEMORY: Duration = Duration::from_secs(600);
/// Bounds on what is remembered; past them expired entries are swept, then the oldest dropped.
const MAX_CODES: usize = 10_000;
const MAX_TOKENS: usize = 20_000;
/// Expired entries are swept at most this often (and whenever a map is full).
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub code: Duration,
    pub access_token: Duration,
    pub refresh_token: Duration,
}

impl Lifetimes {
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
}

type Key = [u8; 32];

fn key(value: &str) -> Key {
    Sha256::digest(value.as_bytes()).into()
}

enum CodeState {
    Pending {
        grant: Arc<Grant>,
        redirect_uri: String,
        code_challenge: String,
    },
    /// Spent by a redemption that started token family `family`.
    Redeemed { family: u64 },
}

struct CodeEntry {
    state: CodeState,
    expires: Instant,
}

struct TokenEntry {
    family: u64,
    grant: Arc<Grant>,
    expires: Instant,
}

trait Expiring {
    fn expires(&self) -> Instant;
}
impl Expiring for CodeEntry {
    fn expires(&self) -> Instant {
        self.expires
    }
}
impl Expiring for TokenEntry {
    fn expires(&self) -> Instant {
        self.expires
    }
}

/// Inserts after making room: expired entries go first, then the one closest to expiry.
fn insert_bounded<V: Expiring>(
    map: &mut HashMap<Key, V>,
    capacity: usize,
    key: Key,
    value: V,
    now: Instant,
) {
    if map.len() >= capacity {
        map.retain(|_, v| v.expires() > now);
    }
    while map.len() >= capacity {
        let Some(oldest) = map.iter().min_by_key(|(_, v)| v.expires()).map(|(k, _)| *k) else {
            break;
        };
        map.remove(&oldest);
    }
    map.insert(key, value);
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
    pub fn issue_code(&self, grant: Grant, redirect_uri: &str, code_challenge: &str) -> String {
        let now = Instant::now();
        let code = random_token();
        let entry = CodeEntry {
            state: CodeState::Pending {
                grant: Arc::new(grant),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: code_challenge.to_string(),
            },
            expires: now + self.lifetimes.code,
        };
        let mut inner = self.lock(now);
        insert_bounded(&mut inner.codes, MAX_CODES, key(&code), entry, now);
        code
    }

    /// The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6) for the authenticated
    /// client. Any attempt spends the code; a second one also revokes what the first issued.
    pub fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
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
        let (grant, bound_redirect_uri, code_challenge) = match previous.state {
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
            } => (grant, redirect_uri, code_challenge),
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
        if !pkce_verifies(verifier, &code_challenge) {
            return Err(GrantError::Invalid(
                "The code_verifier does not match the code_challenge (S256).".into(),
            ));
        }
        Ok(self.issue_tokens(&mut inner, family, grant.clone(), grant, now))
    }

    /// The `refresh_token` grant (RFC 6749 §6): a new access token and a new refresh token;
    /// the presented one is spent. `scope`, when given, may only narrow the grant.
    pub fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        scope: Option<&str>,
    ) -> Result<Issued, GrantError> {
        let now = Instant::now();
        let mut inner = self.lock(now);
        let refresh_key = key(refresh_token);
        let (family, grant) = match inner.refresh.get(&refresh_key) {
            Some(entry) if entry.expires > now && entry.grant.client_id == client_id => {
                (entry.family, entry.grant.clone())
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
        inner.refresh.remove(&refresh_key);
        Ok(self.issue_tokens(&mut inner, family, grant, access_grant, now))
    }

    fn issue_tokens(
        &self,
        inner: &mut Inner,
        family: u64,
        refresh_grant: Arc<Grant>,
        access_grant: Arc<Grant>,
        now: Instant,
    ) -> Issued {
        let access_token = random_token();
        let refresh_token = random_token();
        let access = TokenEntry {
            family,
            grant: access_grant.clone(),
            expires: now + self.lifetimes.access_token,
        };
        let refresh = TokenEntry {
            family,
            grant: refresh_grant,
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
        }
    }

    /// What a valid access token grants (for UserInfo), or `None`.
    pub fn access(&self, access_token: &str) -> Option<Arc<Grant>> {
        let now = Instant::now();
        let inner = self.lock(now);
        inner
            .access
            .get(&key(access_token))
            .filter(|t| t.expires > now)
            .map(|t| t.grant.clone())
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

/// RFC 7636 §4.1 and §4.6: a verifier of 43 to 128 unreserved characters whose S256 is the
/// challenge, compared in constant time.
fn pkce_verifies(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let matches: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && matches
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::accounts::ACCOUNTS;
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CLIENT: &str = "oidc-bff-dev";
    const REDIRECT: &str = "http://localhost:3000/callback";

    fn grant() -> Grant {
        Grant {
            account: &ACCOUNTS[0],
            client_id: CLIENT.into(),
            nonce: Some("n".into()),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            auth_time: Utc::now(),
            sid: "sid".into(),
            picture_url: "http://127.0.0.1:4000/avatars/alice.svg".into(),
        }
    }

    fn grants() -> Grants {
        Grants::new(Lifetimes::with_access_token_ttl(DEFAULT_ACCESS_TOKEN_TTL))
    }

    fn redeem(grants: &Grants, code: &str) -> Result<Issued, GrantError> {
        grants.redeem_code(code, CLIENT, Some(REDIRECT), Some(VERIFIER))
    }

    fn invalid_grant(result: Result<Issued, GrantError>) -> bool {
        matches!(result, Err(GrantError::Invalid(_)))
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert!(pkce_verifies(VERIFIER, CHALLENGE));
        assert!(!pkce_verifies(&VERIFIER[1..], CHALLENGE));
        assert!(!pkce_verifies(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn a_code_is_redeemed_once_for_tokens_of_its_grant() {
        let grants = grants();
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        assert!(code.len() >= 43, "at least 256 bits, base64url");
        let issued = redeem(&grants, &code).unwrap();
        assert_ne!(issued.access_token, issued.refresh_token);
        assert_eq!(issued.expires_in, DEFAULT_ACCESS_TOKEN_TTL);
        let claims = grants.access(&issued.access_token).unwrap();
        assert_eq!(claims.account.username, "alice");
        assert!(grants.access(&issued.refresh_token).is_none());
        assert!(grants.access("guess").is_none());
    }

    #[test]
    fn a_reused_code_fails_and_revokes_what_the_first_use_issued() {
        let grants = grants();
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        let first = redeem(&grants, &code).unwrap();
        assert!(invalid_grant(redeem(&grants, &code)));
        assert!(grants.access(&first.access_token).is_none());
        assert!(invalid_grant(grants.refresh(
            &first.refresh_token,
            CLIENT,
            None
        )));
        // A third attempt still fails.
        assert!(invalid_grant(redeem(&grants, &code)));
    }

    #[test]
    fn a_wrong_verifier_redirect_uri_or_client_spends_the_code_without_tokens() {
        let attempts: [(&str, Option<&str>, Option<&str>, bool); 6] = [
            (CLIENT, Some(REDIRECT), Some(&CHALLENGE[..43]), true),
            (CLIENT, Some(REDIRECT), Some("short"), true),
            (CLIENT, Some(REDIRECT), None, false),
            (
                CLIENT,
                Some("http://localhost:3000/other"),
                Some(VERIFIER),
                true,
            ),
            (CLIENT, None, Some(VERIFIER), false),
            ("another-client", Some(REDIRECT), Some(VERIFIER), true),
        ];
        for (client, redirect_uri, verifier, is_invalid_grant) in attempts {
            let grants = grants();
            let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
            let result = grants.redeem_code(&code, client, redirect_uri, verifier);
            if is_invalid_grant {
                assert!(
                    invalid_grant(result),
                    "{client} {redirect_uri:?} {verifier:?}"
                );
            } else {
                assert!(matches!(result, Err(GrantError::Malformed(_))));
            }
            assert_eq!(grants.counts().1, 0, "no access token issued");
            assert!(invalid_grant(redeem(&grants, &code)), "the code is spent");
        }
    }

    #[test]
    fn codes_and_access_tokens_expire() {
        let grants = Grants::new(Lifetimes {
            code: Duration::from_millis(30),
            access_token: Duration::from_millis(30),
            refresh_token: Duration::from_secs(60),
        });
        let late = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        let issued = redeem(&grants, &code).unwrap();
        assert!(grants.access(&issued.access_token).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(invalid_grant(redeem(&grants, &late)));
        assert!(grants.access(&issued.access_token).is_none());
        // The refresh token outlives its access token.
        assert!(grants.refresh(&issued.refresh_token, CLIENT, None).is_ok());
    }

    #[test]
    fn refresh_rotates_and_may_only_narrow_the_scope() {
        let grants = grants();
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        let first = redeem(&grants, &code).unwrap();
        let second = grants.refresh(&first.refresh_token, CLIENT, None).unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_eq!(second.family, first.family);
        assert!(invalid_grant(grants.refresh(
            &first.refresh_token,
            CLIENT,
            None
        )));
        assert!(invalid_grant(grants.refresh(
            &second.refresh_token,
            "other",
            None
        )));
        assert!(matches!(
            grants.refresh(&second.refresh_token, CLIENT, Some("openid offline_access")),
            Err(GrantError::ScopeNotGranted(_))
        ));
        let narrow = grants
            .refresh(&second.refresh_token, CLIENT, Some("openid email"))
            .unwrap();
        assert_eq!(narrow.grant.scopes, ["openid", "email"]);
        assert!(!grants
            .access(&narrow.access_token)
            .unwrap()
            .has_scope("profile"));
        // The refresh token keeps the whole grant.
        let wide = grants.refresh(&narrow.refresh_token, CLIENT, None).unwrap();
        assert!(wide.grant.has_scope("profile"));
    }

    #[test]
    fn revoking_a_refresh_token_revokes_its_access_tokens_too() {
        let grants = grants();
        let first = redeem(&grants, &grants.issue_code(grant(), REDIRECT, CHALLENGE)).unwrap();
        let second = grants.refresh(&first.refresh_token, CLIENT, None).unwrap();
        let other = redeem(&grants, &grants.issue_code(grant(), REDIRECT, CHALLENGE)).unwrap();
        assert!(!grants.revoke(&second.refresh_token, "another-client"));
        assert!(grants.revoke(&second.refresh_token, CLIENT));
        for access_token in [&first.access_token, &second.access_token] {
            assert!(grants.access(access_token).is_none());
        }
        assert!(invalid_grant(grants.refresh(
            &second.refresh_token,
            CLIENT,
            None
        )));
        assert!(
            grants.access(&other.access_token).is_some(),
            "other logins stay"
        );
        assert!(
            !grants.revoke(&second.refresh_token, CLIENT),
            "already gone"
        );
        assert!(!grants.revoke("never-issued", CLIENT));
        // An access token alone.
        assert!(grants.revoke(&other.access_token, CLIENT));
        assert!(grants.access(&other.access_token).is_none());
        assert!(grants.refresh(&other.refresh_token, CLIENT, None).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_expired_entries_are_swept() {
        let grants = Grants::new(Lifetimes {
            code: Duration::from_millis(1),
            access_token: Duration::from_millis(1),
            refresh_token: Duration::from_millis(1),
        });
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        redeem(&grants, &code).unwrap();
        for _ in 0..MAX_CODES + 10 {
            grants.issue_code(grant(), REDIRECT, CHALLENGE);
        }
        assert!(grants.counts().0 <= MAX_CODES);
        std::thread::sleep(Duration::from_millis(5));
        grants.inner.lock().unwrap().next_sweep = Instant::now();
        grants.issue_code(grant(), REDIRECT, CHALLENGE);
        // The new code, and the redeemed one, remembered longer to recognise a replay.
        assert_eq!(grants.counts(), (2, 0, 0));
    }
}
