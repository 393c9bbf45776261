//! One login attempt: the values sent to the IdP that the callback must see again, and the
//! authorization request that carries them.

use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use super::step_up::StepUp;
use super::values::{CodeVerifier, Nonce, State};
use crate::config::{ResponseMode, ResponseType};

/// How long a login attempt may take, from `/login` to the IdP's POST to `/callback`.
pub const LOGIN_ATTEMPT_LIFETIME_SECS: i64 = 600;

/// The part of `state` that names an attempt's cookie; the whole value is still compared.
const STATE_TAG_LEN: usize = 12;

/// What the transient login cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginAttempt {
    /// Sent to the IdP and compared when it comes back (CSRF protection).
    pub state: State,
    /// Sent to the IdP and required in the ID token (replay protection).
    pub nonce: Nonce,
    /// Where to go after login: a same-origin path, already normalised.
    pub return_to: String,
    /// PKCE (RFC 7636) verifier, for response types with a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<CodeVerifier>,
    /// Unix milliseconds, fine enough to tell the oldest of several quick attempts.
    pub started_at_ms: i64,
    /// What the login must deliver beyond an ordinary one (RFC 9470 step-up).
    #[serde(default, skip_serializing_if = "StepUp::is_empty")]
    pub step_up: StepUp,
    /// A silent login (`prompt=none`): when the IdP cannot log the user in without a page,
    /// the browser goes back where it was, without a session and without an error page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    /// How the IdP answers this attempt; the callback accepts the answer only that way.
    #[serde(default, skip_serializing_if = "is_form_post")]
    pub response_mode: ResponseMode,
    /// The identity provider the user was sent to, by name, when there are several: only
    /// its answer completes this attempt (mix-up defence). `None`: the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

fn is_form_post(mode: &ResponseMode) -> bool {
    *mode == ResponseMode::FormPost
}

impl LoginAttempt {
    /// A fresh attempt with 256-bit random `state` and `nonce` (and PKCE verifier if needed).
    pub fn start(return_to: &str, response_type: ResponseType, now_ms: i64) -> Self {
        Self {
            state: State::random(),
            nonce: Nonce::random(),
            return_to: normalize_return_to(Some(return_to)),
            code_verifier: response_type.uses_code().then(CodeVerifier::random),
            started_at_ms: now_ms,
            step_up: StepUp::default(),
            silent: false,
            response_mode: ResponseMode::FormPost,
            provider: None,
        }
    }

    /// The same attempt, at the provider named `name`.
    pub fn at_provider(mut self, name: Option<String>) -> Self {
        self.provider = name;
        self
    }

    /// The same attempt, answered in `mode`.
    pub fn answered_by(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// The same attempt as a silent login (`prompt=none`, OpenID Connect Core 3.1.2.1).
    pub fn silently(mut self) -> Self {
        self.silent = true;
        self
    }

    /// Where a silent login that the IdP could not complete without a page goes back to: the
    /// page it started from, marked `login=none` (for the page's script) before any fragment.
    pub fn return_to_without_login(&self) -> String {
        let (path, fragment) = match self.return_to.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (self.return_to.as_str(), None),
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        match fragment {
            Some(fragment) => format!("{path}{separator}login=none#{fragment}"),
            None => format!("{path}{separator}login=none"),
        }
    }

    /// The same attempt, asking the IdP for a stronger or more recent authentication.
    pub fn with_step_up(mut self, step_up: StepUp) -> Self {
        self.step_up = step_up;
        self
    }

    /// A short, cookie-name-safe tag for this attempt, derived from its state.
    pub fn tag(&self) -> &str {
        state_tag(self.state.secret()).unwrap_or_default()
    }

    /// Whether the attempt is too old (or dated implausibly far in the future).
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms() || now_ms < self.started_at_ms - 60_000
    }

    /// When the attempt expires, in Unix milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.started_at_ms + LOGIN_ATTEMPT_LIFETIME_SECS * 1000
    }

    /// Constant-time comparison, so the state cannot be guessed byte by byte.
    pub fn state_matches(&self, state: &str) -> bool {
        self.state
            .secret()
            .as_bytes()
            .ct_eq(state.as_bytes())
            .into()
    }

    /// The authentication request's parameters (Core 3.1.2.1 / 3.2.2.1 / 3.3.2.1) with
    /// `response_mode=form_post` (none for a query-mode attempt), PKCE S256 when a code is asked for, and a step-up's
    /// `acr_values` / `max_age`: in the browser's URL, or pushed first (RFC 9126).
    pub fn authorization_parameters(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scopes: &str,
        response_type: ResponseType,
    ) -> Vec<(&'static str, String)> {
        let mut parameters = vec![("response_type", response_type.as_str().to_string())];
        // Query is the code flow's default (and Cognito takes no `response_mode` at all).
        if self.response_mode == ResponseMode::FormPost {
            parameters.push(("response_mode", "form_post".to_string()));
        }
        parameters.extend([
            ("client_id", client_id.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("scope", scopes.to_string()),
            ("state", self.state.secret().to_string()),
            ("nonce", self.nonce.secret().to_string()),
        ]);
        if let Some(verifier) = &self.code_verifier {
            parameters.push(("code_challenge", pkce_challenge(verifier)));
            parameters.push(("code_challenge_method", "S256".to_string()));
        }
        parameters.extend(self.step_up.parameters());
        if self.silent {
            parameters.push(("prompt", "none".to_string()));
        }
        parameters
    }
}

/// `url` with `parameters` appended to its query.
pub fn with_query(url: &Url, parameters: &[(&str, String)]) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .extend_pairs(parameters.iter().map(|(n, v)| (*n, v.as_str())));
    url
}

/// The cookie-name tag of a `state` received at the callback; `None` if it cannot be ours.
pub fn state_tag(state: &str) -> Option<&str> {
    let tag = state.get(..STATE_TAG_LEN)?;
    tag.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .then_some(tag)
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn pkce_challenge(verifier: &CodeVerifier) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(verifier.secret().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Accepts only a same-origin absolute path (`/a/b?c#d`); anything that a browser could read
/// as another origin (`//host`, `/\host`, `https:`, control characters, encoded tricks) is `/`.
pub fn normalize_return_to(candidate: Option<&str>) -> String {
    let Some(path) = candidate else {
        return "/".into();
    };
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        && !decodes_to_dangerous(path.as_bytes());
    let encoded = encode_for_uri(path);
    // The limit applies to what is stored and redirected to, so it is checked after encoding.
    if safe && encoded.len() <= MAX_RETURN_TO_LEN {
        encoded
    } else {
        "/".into()
    }
}

/// Longest `returnTo` kept (after percent-encoding); longer ones fall back to the root.
const MAX_RETURN_TO_LEN: usize = 2048;

/// Percent-encodes what a URI reference may not hold (non-ASCII, `"<>[]^`{|}`, a second `#`,
/// a `%` without two hex digits), so the redirect after login can always be built: `/café`
/// becomes `/caf%C3%A9`, as a browser would send it.
fn encode_for_uri(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut seen_fragment = false;
    for (i, &b) in bytes.iter().enumerate() {
        let keep = match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => true,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
            | b',' | b';' | b'=' | b':' | b'@' | b'/' | b'?' => true,
            b'%' => {
                bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            b'#' if !seen_fragment => {
                seen_fragment = true;
                true
            }
            _ => false,
        };
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Rejects paths whose percent-decoding (once or twice) would begin another origin or hide a
/// backslash or control character, since some servers and browsers decode before routing.
/// Each level decodes the previous level's bytes, not its text: a first decoding may leave half
/// of a UTF-8 sequence (`/%25C2%8F` → `/%C2` + 0x8F) that only the second completes (U+008F).
fn decodes_to_dangerous(path: &[u8]) -> bool {
    let mut current = path.to_vec();
    for _ in 0..2 {
        let decoded = percent_decode(&current);
        if decoded == current {
            return false;
        }
        if decoded.starts_with(b"//")
            || decoded.contains(&b'\\')
            || String::from_utf8_lossy(&decoded)
                .chars()
                .any(|c| c.is_control())
        {
            return true;
        }
        current = decoded;
    }
    false
}

/// Decodes every `%XX` of the whole input, bytewise (`&` and `+` are plain characters here).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        );
        match (bytes[i], pair) {
            (b'%', (Some(high), Some(low))) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_paths_are_kept() {
        for path in ["/", "/profile", "/a/b?c=d&e=f#frag", "/api/hello?x=%20y"] {
            assert_eq!(normalize_return_to(Some(path)), path);
        }
    }

    #[test]
    fn other_origins_fall_back_to_root() {
        for attack in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/%2F%2Fevil.example",
            "/%2fevil.example/..",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/\tevil",
            "/ /evil",
            "/%0d%0aSet-Cookie:x=y",
        ] {
            let normalized = normalize_return_to(Some(attack));
            assert!(
                normalized == "/" || (!normalized.contains("evil") && normalized.starts_with('/')),
                "{attack:?} became {normalized:?}"
            );
        }
        assert_eq!(normalize_return_to(None), "/");
    }

    #[test]
    fn state_and_nonce_are_256_bit_and_distinct() {
        let attempt = LoginAttempt::start("/", ResponseType::IdToken, 0);
        assert_eq!(attempt.state.secret().len(), 43);
        assert_ne!(attempt.state.secret(), attempt.nonce.secret());
        assert_ne!(
            attempt.state,
            LoginAttempt::start("/", ResponseType::IdToken, 0).state
        );
    }

    #[test]
    fn state_comparison_requires_the_whole_value() {
        let attempt = LoginAttempt::start("/", ResponseType::IdToken, 0);
        assert!(attempt.state_matches(attempt.state.secret()));
        assert!(!attempt.state_matches(&attempt.state.secret()[..20]));
        assert!(!attempt.state_matches(""));
    }

    #[test]
    fn attempts_expire_after_ten_minutes() {
        let attempt = LoginAttempt::start("/", ResponseType::IdToken, 1_000);
        assert!(!attempt.is_expired(1_000 + LOGIN_ATTEMPT_LIFETIME_SECS * 1000 - 1));
        assert!(attempt.is_expired(1_000 + LOGIN_ATTEMPT_LIFETIME_SECS * 1000));
    }

    #[test]
    fn encoded_attacks_behind_an_ampersand_are_caught() {
        for attack in ["/&%5C", "/&%0a", "/%26%255C", "/x?a=b&c=%2F%2Fevil"] {
            let normalized = normalize_return_to(Some(attack));
            assert!(
                normalized == "/"
                    || !percent_decode(&percent_decode(normalized.as_bytes())).contains(&b'\\'),
                "{attack:?} became {normalized:?}"
            );
        }
        assert_eq!(normalize_return_to(Some("/&%5C")), "/");
        assert_eq!(normalize_return_to(Some("/&%0a")), "/");
    }

    #[test]
    fn characters_a_uri_may_not_hold_are_percent_encoded() {
        assert_eq!(normalize_return_to(Some("/café")), "/caf%C3%A9");
        let odd = normalize_return_to(Some("/a\"b<c>{d}|e^f`g"));
        assert!(
            !odd.contains(['"', '<', '>', '{', '}', '|', '^', '`']),
            "{odd}"
        );
        assert_eq!(normalize_return_to(Some("/a#b#c")), "/a#b%23c");
        assert_eq!(normalize_return_to(Some("/100%")), "/100%25");
        for kept in ["/a/b?c=d&e=f#frag", "/api/hello?x=%20y", "/caf%C3%A9"] {
            assert_eq!(normalize_return_to(Some(kept)), kept);
        }
    }

    #[test]
    fn control_characters_split_across_two_decodings_are_caught() {
        // First decoding: `/%C2` + byte 0x8F; second: U+008F, a C1 control character.
        assert_eq!(normalize_return_to(Some("/%25C2%8F")), "/");
        assert_eq!(normalize_return_to(Some("/%25C2%2585")), "/");
        // The same bytes forming a printable character are kept.
        assert_eq!(normalize_return_to(Some("/%25C3%A9")), "/%25C3%A9");
    }

    #[test]
    fn the_length_limit_applies_to_the_encoded_path() {
        let short_enough = format!("/{}", "a".repeat(MAX_RETURN_TO_LEN - 1));
        assert_eq!(normalize_return_to(Some(&short_enough)), short_enough);
        // 700 × "é" is 1,401 bytes as text but 4,201 once percent-encoded.
        let grows = format!("/{}", "é".repeat(700));
        assert_eq!(normalize_return_to(Some(&grows)), "/");
        let kept = normalize_return_to(Some(&format!("/{}", "é".repeat(300))));
        assert_eq!(
            normalize_return_to(Some(&kept)),
            kept,
            "normalising is idempotent"
        );
    }

    #[test]
    fn a_silent_login_asks_for_prompt_none_and_returns_marked() {
        let attempt = LoginAttempt::start("/a?b=c#d", ResponseType::IdToken, 0).silently();
        let parameters =
            attempt.authorization_parameters("c", "r", "openid", ResponseType::IdToken);
        assert!(parameters.contains(&("prompt", "none".to_string())));
        assert_eq!(attempt.return_to_without_login(), "/a?b=c&login=none#d");
        let plain = LoginAttempt::start("/", ResponseType::IdToken, 0);
        assert_eq!(plain.return_to_without_login(), "/?login=none");
        let parameters = plain.authorization_parameters("c", "r", "openid", ResponseType::IdToken);
        assert!(!parameters.iter().any(|(name, _)| *name == "prompt"));
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge(&CodeVerifier::new(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            )),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn state_tags_reject_cookie_unsafe_text() {
        assert_eq!(state_tag("abcdefghijkl-rest"), Some("abcdefghijkl"));
        assert_eq!(state_tag("short"), None);
        assert_eq!(state_tag("abc;def=ghij;k"), None);
    }
}
