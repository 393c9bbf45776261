//! Pushed authorization requests (RFC 9126): `/par` with client authentication, then
//! `/authorize` with `client_id` and `request_uri` only; single use, bound to the client,
//! expiring; `require_par`.

use std::time::Duration;

use dev_idp::{Client, Lifetimes};

use crate::support::*;

/// A code request's parameters (the tests' PKCE pair), with changes (`None` removes one).
fn code_request(
    changes: &[(&'static str, Option<&'static str>)],
) -> Vec<(&'static str, &'static str)> {
    let mut params = vec![
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("response_mode", "form_post"),
        ("scope", "openid profile"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if let Some(value) = value {
            params.push((name, value));
        }
    }
    params
}

/// Parameter changes: `None` removes one.
type Changes = &'static [(&'static str, Option<&'static str>)];

async fn push(idp: &Idp, auth: Auth<'_>, params: &[(&str, &str)]) -> Answer {
    idp.back_channel("/par", auth, params).await
}

fn authorize_url(idp: &Idp, client_id: &str, request_uri: &str) -> String {
    url::Url::parse_with_params(
        &format!("{}/authorize", idp.url),
        [("client_id", client_id), ("request_uri", request_uri)],
    )
    .unwrap()
    .to_string()
}

fn is_error_page(page: &IdpPage) -> bool {
    page.status == 400 && field(&page.body, "code").is_none() && !page.body.contains("password")
}

#[rocket::async_test]
async fn a_pushed_request_signs_in_and_its_code_is_redeemed() {
    let idp = start().await;
    let pushed = push(&idp, BASIC, &code_request(&[])).await;
    assert_eq!(pushed.status, 201, "{:?}", pushed.json);
    assert_eq!(pushed.cache_control.as_deref(), Some("no-store"));
    assert_eq!(pushed.json["expires_in"], 60);
    let request_uri = text_of(&pushed.json, "request_uri");
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // Only client_id and request_uri travel through the browser; other parameters are ignored.
    let url = format!(
        "{}&state=from-the-query",
        authorize_url(&idp, CLIENT_ID, &request_uri)
    );
    let (page, _) = idp.sign_in(&url, "alice", None).await;
    assert_eq!(form_action(&page.body).as_deref(), Some(REDIRECT_URI));
    assert_eq!(field(&page.body, "state").as_deref(), Some("pushed-state"));
    let code = field(&page.body, "code").expect("a code");
    let tokens = idp.redeem(&code, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.json);
    assert_eq!(
        claims(&text_of(&tokens.json, "id_token"))["nonce"],
        "pushed-nonce"
    );
}

#[rocket::async_test]
async fn a_request_uri_is_used_once() {
    let idp = start().await;
    let request_uri = text_of(
        &push(&idp, BASIC, &code_request(&[])).await.json,
        "request_uri",
    );
    let url = authorize_url(&idp, CLIENT_ID, &request_uri);
    let first = idp.get(&url, None).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains(r#"id="password""#));
    assert!(is_error_page(&idp.get(&url, None).await));
}

#[rocket::async_test]
async fn a_request_uri_is_bound_to_the_client_that_pushed_it() {
    let idp = start_with(
        vec![
            Client::for_app(CLIENT_ID, CLIENT_SECRET, APP),
            Client::for_app("other", "other-secret", "http://localhost:4100"),
        ],
        Lifetimes::default(),
    )
    .await;
    let request_uri = text_of(
        &push(&idp, BASIC, &code_request(&[])).await.json,
        "request_uri",
    );
    assert!(is_error_page(
        &idp.get(&authorize_url(&idp, "other", &request_uri), None)
            .await
    ));
    let no_client = format!("{}/authorize?request_uri={request_uri}", idp.url);
    assert!(is_error_page(&idp.get(&no_client, None).await));
}

#[rocket::async_test]
async fn an_unknown_or_expired_request_uri_is_refused() {
    let idp = start_configured(
        vec![Client::for_app(CLIENT_ID, CLIENT_SECRET, APP)],
        Lifetimes::default(),
        |options| options.request_uri_lifetime = Duration::from_secs(1),
    )
    .await;
    let made_up = "urn:ietf:params:oauth:request_uri:made-up";
    assert!(is_error_page(
        &idp.get(&authorize_url(&idp, CLIENT_ID, made_up), None)
            .await
    ));
    let pushed = push(&idp, BASIC, &code_request(&[])).await;
    assert_eq!(pushed.json["expires_in"], 1);
    let request_uri = text_of(&pushed.json, "request_uri");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(is_error_page(
        &idp.get(&authorize_url(&idp, CLIENT_ID, &request_uri), None)
            .await
    ));
}

#[rocket::async_test]
async fn pushing_needs_client_authentication() {
    let idp = start().await;
    for auth in [
        Auth::Basic(CLIENT_ID, "wrong"),
        Auth::None,
        Auth::Post("someone", CLIENT_SECRET),
    ] {
        let answer = push(&idp, auth, &code_request(&[("client_id", None)])).await;
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(answer.json["error"], "invalid_client");
    }
    let by_post = push(
        &idp,
        Auth::Post(CLIENT_ID, CLIENT_SECRET),
        &code_request(&[("client_id", None)]),
    )
    .await;
    assert_eq!(by_post.status, 201);
    let other_client_id = push(
        &idp,
        BASIC,
        &code_request(&[("client_id", Some("someone"))]),
    )
    .await;
    assert_eq!(other_client_id.status, 400);
}

#[rocket::async_test]
async fn a_pushed_request_is_checked_as_at_the_authorization_endpoint() {
    let idp = start().await;
    let cases: [(Changes, &str); 6] = [
        (
            &[("request_uri", Some("urn:ietf:params:oauth:request_uri:x"))],
            "invalid_request",
        ),
        (&[("response_mode", None)], "invalid_request"),
        (&[("scope", Some("profile"))], "invalid_scope"),
        (&[("code_challenge", None)], "invalid_request"),
        (
            &[("redirect_uri", Some("http://evil.example/callback"))],
            "invalid_request",
        ),
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
    ];
    for (changes, error) in cases {
        let answer = push(&idp, BASIC, &code_request(changes)).await;
        assert_eq!(answer.status, 400, "{changes:?}");
        assert_eq!(answer.json["error"], error, "{changes:?}");
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    }
}

#[rocket::async_test]
async fn a_pushed_request_survives_the_password_and_the_second_factor_once() {
    let idp = start().await;
    let params = code_request(&[("acr_values", Some("mfa"))]);
    let request_uri = text_of(&push(&idp, BASIC, &params).await.json, "request_uri");
    let sign_in = idp
        .get(&authorize_url(&idp, CLIENT_ID, &request_uri), None)
        .await;
    // The form carries a handle to the pushed request, not its parameters.
    assert!(field(&sign_in.body, "redirect_uri").is_none());
    let wrong = idp
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "wrong")])
        .await;
    assert!(wrong.body.contains(r#"id="password""#), "asked again");
    let second = idp
        .submit_sign_in(&wrong, &[("username", "alice"), ("password", "alice")])
        .await;
    assert!(second.body.contains(r#"id="one_time_code""#));
    let cookie = idp_cookie(&second).expect("IdP session");
    let fields = [("action", "second_factor"), ("one_time_code", "123456")];
    let done = idp.submit_with_cookie(&second, &fields, &cookie).await;
    let code = field(&done.body, "code").expect("a code after the second factor");
    assert_eq!(
        claims(&text_of(
            &idp.redeem(&code, VERIFIER).await.json,
            "id_token"
        ))["acr"],
        "mfa"
    );
    // Its sign-in is over: the form cannot be posted again for another code.
    let again = idp.submit_with_cookie(&second, &fields, &cookie).await;
    assert!(field(&again.body, "code").is_none());
    assert_eq!(again.status, 400);
}

#[rocket::async_test]
async fn require_par_refuses_requests_that_were_not_pushed() {
    let idp = start_configured(
        vec![Client::for_app(CLIENT_ID, CLIENT_SECRET, APP)],
        Lifetimes::default(),
        |options| options.require_par = true,
    )
    .await;
    let discovery = idp
        .get_with_token(
            &format!("{}/.well-known/openid-configuration", idp.url),
            None,
        )
        .await
        .json;
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
    let plain = idp.get(&idp.code_url(&[]), None).await;
    assert!(is_error_page(&plain), "{}", plain.body);
    assert!(plain.body.contains("pushed"));
    let posted = idp
        .post_form(
            &format!("{}/authorize", idp.url),
            &code_request(&[])
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .chain([
                    ("username".into(), "alice".into()),
                    ("password".into(), "alice".into()),
                ])
                .collect::<Vec<_>>(),
        )
        .await;
    assert!(
        field(&posted.body, "code").is_none(),
        "no way around PAR by POST"
    );

    let request_uri = text_of(
        &push(&idp, BASIC, &code_request(&[])).await.json,
        "request_uri",
    );
    let (page, _) = idp
        .sign_in(&authorize_url(&idp, CLIENT_ID, &request_uri), "alice", None)
        .await;
    assert!(field(&page.body, "code").is_some());
}
