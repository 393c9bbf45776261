//! One test per rule of the logout token (Back-Channel Logout 1.0 §2.4–2.6): a token that
//! breaks exactly that rule is refused with 400 and a description naming the rule.
//!
//! `claims`: `sid`/`sub`, `nonce`, `events` and `jti`; `signature`: algorithms and keys;
//! `issuer_and_audience`: `iss`, `aud` and `azp`; `lifetime`: `exp`, `iat` and `nbf`; `header`:
//! the JOSE header (`typ`, `crit`, `cty`, encryption) and malformed or oversized tokens.

mod claims;
mod header;
mod issuer_and_audience;
mod lifetime;
mod signature;

use serde_json::{json, Value};

use super::Bcl;
use crate::helpers::idp::sign_raw;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Valid claims for the IdP session `sid-1` of `user-123`.
fn claims(app: &Bcl) -> Value {
    app.idp.logout_claims(Some("sid-1"), Some("user-123"))
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// The IdP's key and header `{alg, kid}` plus `extra`, over `claims`.
fn signed_with_header(app: &Bcl, extra: Value, claims: &Value) -> String {
    let mut header = json!({ "alg": app.idp.key.alg(), "kid": app.idp.key.kid() });
    for (name, value) in extra.as_object().unwrap() {
        header[name] = value.clone();
    }
    sign_raw(&app.idp.key, &header, claims)
}
