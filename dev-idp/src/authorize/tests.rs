//! The authentication request's rules, each with the answer it gets.

use super::*;
use crate::clients::Client;

fn client() -> Clients {
    Clients::new(vec![
        Client::for_app("another-app", "its-secret", "http://localhost:4100"),
        Client::for_app("oidc-bff-dev", "s3cret", "http://localhost:3000"),
    ])
}

fn valid() -> Vec<(&'static str, &'static str)> {
    vec![
        ("client_id", "oidc-bff-dev"),
        ("redirect_uri", "http://localhost:3000/callback"),
        ("response_type", "id_token"),
        ("response_mode", "form_post"),
        ("scope", "openid profile email"),
        ("state", "s1"),
        ("nonce", "n1"),
    ]
}

fn with(changes: &[(&'static str, Option<&'static str>)]) -> Params {
    let mut pairs = valid();
    for (name, value) in changes {
        pairs.retain(|(n, _)| n != name);
        if let Some(value) = value {
            pairs.push((name, value));
        }
    }
    Params::from_pairs(pairs.into_iter().map(|(n, v)| (n.into(), v.into())))
}

fn error_code(result: Result<AuthorizationRequest, Rejection>) -> &'static str {
    match result {
        Err(Rejection::ToClient(response)) => {
            assert_eq!(response.state.as_deref(), Some("s1"));
            assert_eq!(response.redirect_uri, "http://localhost:3000/callback");
            response.error
        }
        other => panic!("expected an error for the client, got {other:?}"),
    }
}

#[test]
fn a_valid_request_is_accepted() {
    let request = check(&with(&[]), &client()).unwrap();
    assert_eq!(request.response_type, ResponseType::IdToken);
    assert_eq!(request.scope(), "openid profile email");
    assert_eq!(request.state.as_deref(), Some("s1"));
    assert_eq!(request.prompt, Prompt::default());
}

#[test]
fn an_untrusted_client_or_redirect_uri_is_answered_at_the_idp() {
    for changes in [
        vec![("client_id", Some("other"))],
        vec![("client_id", None)],
        vec![("redirect_uri", Some("https://evil.example/callback"))],
        vec![("redirect_uri", Some("http://localhost:3000/callback/"))],
        vec![("redirect_uri", Some("http://LOCALHOST:3000/callback"))],
        // Another registered client's redirect URI is not this client's.
        vec![("redirect_uri", Some("http://localhost:4100/callback"))],
        vec![("redirect_uri", None)],
        // Both wrong and an unsupported response type: still never redirected.
        vec![
            ("redirect_uri", Some("https://evil.example/")),
            ("response_type", Some("code")),
        ],
    ] {
        assert!(
            matches!(
                check(&with(&changes), &client()),
                Err(Rejection::AtIdp { .. })
            ),
            "{changes:?}"
        );
    }
    let mut pairs = valid();
    pairs.push(("redirect_uri", "https://evil.example/callback"));
    let params = Params::from_pairs(pairs.into_iter().map(|(n, v)| (n.into(), v.into())));
    assert!(matches!(
        check(&params, &client()),
        Err(Rejection::AtIdp { .. })
    ));
}

#[test]
fn other_errors_go_back_to_the_client_with_their_code() {
    type Changes = &'static [(&'static str, Option<&'static str>)];
    let cases: [(Changes, &str); 10] = [
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            &[("response_type", Some("code token"))],
            "unsupported_response_type",
        ),
        (
            &[("response_type", Some("id_token token"))],
            "unsupported_response_type",
        ),
        (&[("response_type", None)], "invalid_request"),
        (&[("response_mode", Some("query"))], "invalid_request"),
        (&[("response_mode", None)], "invalid_request"),
        (&[("scope", Some("profile email"))], "invalid_scope"),
        (&[("nonce", None)], "invalid_request"),
        (&[("prompt", Some("none login"))], "invalid_request"),
        (&[("request", Some("eyJ..."))], "request_not_supported"),
    ];
    for (changes, expected) in cases {
        assert_eq!(
            error_code(check(&with(changes), &client())),
            expected,
            "{changes:?}"
        );
    }
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn code_requests_carry_an_s256_challenge_and_need_a_nonce_only_with_an_id_token() {
    for (response_type, expected) in [
        ("code", ResponseType::Code),
        ("code id_token", ResponseType::CodeIdToken),
        ("id_token code", ResponseType::CodeIdToken),
    ] {
        let request = check(
            &with(&[
                ("response_type", Some(response_type)),
                ("code_challenge", Some(CHALLENGE)),
                ("code_challenge_method", Some("S256")),
            ]),
            &client(),
        )
        .unwrap();
        assert_eq!(request.response_type, expected);
        assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
        let fields = request.form_fields();
        assert!(fields.contains(&("response_type", expected.as_str().to_string())));
        assert!(fields.contains(&("code_challenge", CHALLENGE.to_string())));
        assert!(fields.contains(&("code_challenge_method", "S256".to_string())));
    }
    let pkce = [
        ("code_challenge", Some(CHALLENGE)),
        ("code_challenge_method", Some("S256")),
    ];
    let code_without_nonce = [
        &pkce[..],
        &[("response_type", Some("code")), ("nonce", None)],
    ];
    let request = check(&with(&code_without_nonce.concat()), &client()).unwrap();
    assert_eq!(request.nonce, None);
    assert!(!request.form_fields().iter().any(|(n, _)| *n == "nonce"));
    let hybrid_without_nonce = [
        &pkce[..],
        &[("response_type", Some("code id_token")), ("nonce", None)],
    ];
    assert_eq!(
        error_code(check(&with(&hybrid_without_nonce.concat()), &client())),
        "invalid_request"
    );
    // An implicit request ignores PKCE parameters.
    let implicit = check(&with(&pkce), &client()).unwrap();
    assert_eq!(implicit.code_challenge, None);
}

#[test]
fn a_code_without_an_s256_challenge_is_an_invalid_request() {
    let too_short = &CHALLENGE[..42];
    let not_base64url = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM";
    for changes in [
        vec![],
        vec![("code_challenge", Some(CHALLENGE))],
        vec![
            ("code_challenge", Some(CHALLENGE)),
            ("code_challenge_method", Some("plain")),
        ],
        vec![("code_challenge_method", Some("S256"))],
        vec![
            ("code_challenge", Some(too_short)),
            ("code_challenge_method", Some("S256")),
        ],
        vec![
            ("code_challenge", Some(not_base64url)),
            ("code_challenge_method", Some("S256")),
        ],
    ] {
        let mut changes = changes;
        changes.push(("response_type", Some("code")));
        assert_eq!(
            error_code(check(&with(&changes), &client())),
            "invalid_request",
            "{changes:?}"
        );
    }
}

#[test]
fn prompt_login_and_none_are_understood() {
    let login = check(&with(&[("prompt", Some("login"))]), &client()).unwrap();
    assert!(login.prompt.login && !login.prompt.none);
    let none = check(&with(&[("prompt", Some("none"))]), &client()).unwrap();
    assert!(none.prompt.none && !none.prompt.login);
}
