//! Reading what the IdP answers: hidden form fields, form actions, cookies, JSON fields and
//! the (unverified) claims of JWTs.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::IdpPage;

/// `at_hash` / `c_hash` for RS256: the left half of SHA-256, base64url.
pub fn half_hash(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

/// The string field `name` of a JSON answer.
pub fn text_of(json: &Value, name: &str) -> String {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {json}"))
        .to_string()
}

pub use dev_idp::testing::{field, form_action, hidden_fields};

/// `devidp_session=<value>` from a page's `Set-Cookie`, ready for a `Cookie` header.
pub fn idp_cookie(page: &IdpPage) -> Option<String> {
    page.session_cookie()
}

/// The (unverified) claims of a JWT.
pub fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
