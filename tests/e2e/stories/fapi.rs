//! The code-flow story with the app as a FAPI 2.0 client of oidc-provider, and the checks
//! FAPI adds: pushed requests only in the browser's URL, DPoP-bound access tokens.

use super::code_flow::code_flow_story;
use crate::bff;
use crate::browser::browser_requests;
use crate::page::Page;
use crate::store::StoredTokens;

/// The code-flow story with the app as a FAPI 2.0 client of oidc-provider (`AppMode::Fapi`),
/// and what FAPI adds: the browser's URL at the IdP holds `client_id` and `request_uri` only
/// (the request was pushed, client-authenticated with `private_key_jwt`); the access tokens,
/// first and refreshed, are bound to the session's DPoP key (introspection's `cnf.jkt` is that
/// key's thumbprint) and useless as Bearer tokens; UserInfo answers the app's DPoP proofs
/// (oidc-provider asks for its nonces at the token endpoint and UserInfo alike).
pub async fn fapi_code_flow_pushes_and_binds_tokens(p: Page) {
    code_flow_story(&p, true).await;
}

/// The request parameters oidc-provider must never see in the browser's URL when the request
/// was pushed.
const PUSHED_ONLY: &[&str] = &[
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "scope",
    "response_mode",
];

/// Every request the browser made since the last look: its URLs at the IdP's authorization
/// endpoint hold `client_id` (this client's) and a PAR `request_uri`, nothing else; it never
/// called the PAR or token endpoints itself, and no IdP URL it requested carries a parameter
/// that only the push may carry.
pub(super) async fn expect_only_request_references(p: &Page) {
    let requests = browser_requests(&p.client)
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    let endpoint = |name: &str| {
        p.discovery
            .endpoint(name)
            .unwrap_or_else(|| panic!("[{}] discovery has no {name}", p.label))
    };
    let same = |a: &url::Url, b: &url::Url| a.origin() == b.origin() && a.path() == b.path();
    let (authorize, par, token) = (
        endpoint("authorization_endpoint"),
        endpoint("pushed_authorization_request_endpoint"),
        endpoint("token_endpoint"),
    );
    let mut authorizations = 0;
    for (method, url) in &requests {
        assert!(
            !same(url, &par) && !same(url, &token),
            "[{}] the browser itself called {method} {url}",
            p.label
        );
        let names: Vec<String> = url.query_pairs().map(|(n, _)| n.into_owned()).collect();
        if url.origin() == authorize.origin() {
            for name in &names {
                assert!(
                    !PUSHED_ONLY.contains(&name.as_str()),
                    "[{}] the browser's URL at the IdP carries {name}: {method} {url}",
                    p.label
                );
            }
        }
        if !same(url, &authorize) {
            continue;
        }
        authorizations += 1;
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["client_id", "request_uri"],
            "[{}] the authorization request in the browser's URL: {url}",
            p.label
        );
        let value = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        assert_eq!(value("client_id"), p.idp.client_id, "[{}] {url}", p.label);
        assert!(
            value("request_uri").starts_with("urn:ietf:params:oauth:request_uri:"),
            "[{}] a pushed request's reference: {url}",
            p.label
        );
    }
    assert!(
        authorizations > 0,
        "[{}] the browser never went to the authorization endpoint {authorize}; it requested: \
         {:?}",
        p.label,
        requests
            .iter()
            .map(|(m, u)| format!("{m} {u}"))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "[e2e] {}: the browser reached the authorization endpoint {authorizations} time(s) \
         with client_id and request_uri only",
        p.label
    );
}

/// Asserts that `access_token` is bound to the DPoP key kept with `tokens`: introspection
/// says `token_type` DPoP with that key's thumbprint as `cnf.jkt`, and UserInfo refuses the
/// token presented as a Bearer token.
pub(super) async fn expect_bound_to_session_key(p: &Page, tokens: &StoredTokens, why: &str) {
    let stored = tokens
        .dpop_key
        .as_deref()
        .unwrap_or_else(|| panic!("[{}] no DPoP key was kept with the tokens", p.label));
    let key = bff::DpopKey::from_stored(stored)
        .unwrap_or_else(|| panic!("[{}] the kept DPoP key does not load", p.label));
    let answer = p
        .discovery
        .introspect(p.idp, &tokens.access_token, "access_token")
        .await
        .unwrap_or_else(|| panic!("[{}] oidc-provider has no introspection", p.label))
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    assert_eq!(
        (
            answer["active"].as_bool(),
            answer["token_type"].as_str(),
            answer["cnf"]["jkt"].as_str(),
            answer["client_id"].as_str(),
        ),
        (
            Some(true),
            Some("DPoP"),
            Some(key.thumbprint()),
            Some(p.idp.client_id)
        ),
        "[{}] the {why} access token is bound to the session's DPoP key",
        p.label
    );
    let (status, challenge) = p
        .discovery
        .userinfo_without_proof(&format!("Bearer {}", tokens.access_token))
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    assert!(
        status == 401 && challenge.contains("invalid_token"),
        "[{}] UserInfo refuses the {why} DPoP-bound token as a Bearer token: {status} {challenge}",
        p.label
    );
}
