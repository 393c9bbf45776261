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

/// `devidp_session=<value>` from a page's `Set-Cookie`, ready for a `Cookie` header.
pub fn idp_cookie(page: &IdpPage) -> Option<String> {
    page.set_cookie
        .iter()
        .find(|c| c.starts_with("devidp_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split(r#"<input type="hidden" name=""#)
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once(r#"" value=""#)?;
            let (value, _) = rest.split_once('"')?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

pub fn field(html: &str, name: &str) -> Option<String> {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Where a page's form posts to (a form_post page: the client's redirect URI).
pub fn form_action(html: &str) -> Option<String> {
    let rest = html.split(r#"<form method="post" action=""#).nth(1)?;
    Some(unescape(rest.split_once('"')?.0))
}

/// The (unverified) claims of a JWT.
pub fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
