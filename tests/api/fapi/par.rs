//! Pushed authorization requests: the push carries every parameter, authenticated, and the
//! browser only a reference; when the app pushes, and what a refused push shows.

use std::collections::HashMap;

use rocket::http::Status;
use serde_json::json;

use super::{code_app, last_pushed_request, log_in, private_key_jwt, start, with_par, with_secret};
use crate::helpers::{app_with_idp, CLIENT_ID};

#[tokio::test]
async fn a_pushed_request_carries_every_parameter_and_the_browser_only_a_reference() {
    let app = code_app(with_par(), with_secret).await;
    let (location, params) = start(&app).await;
    let url = url::Url::parse(&location).unwrap();
    let in_url: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        in_url.len(),
        2,
        "only client_id and request_uri: {location}"
    );
    assert_eq!(in_url["client_id"], CLIENT_ID);
    assert!(in_url["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"));
    let pushed = last_pushed_request(&app);
    assert!(
        pushed
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "authenticated"
    );
    for name in [
        "response_type",
        "response_mode",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        assert!(params.contains_key(name), "{name} pushed");
    }
    assert_eq!(params["response_mode"], "form_post");
    let client_ids = pushed
        .fields
        .iter()
        .filter(|(n, _)| n == "client_id")
        .count();
    assert_eq!(
        client_ids, 1,
        "client_id pushed once, with Basic authentication too"
    );
    let code = app
        .idp
        .back
        .grant_code(&params["nonce"], &params["code_challenge"]);
    let status = app
        .callback(&[("code", &code), ("state", &params["state"])])
        .await
        .status();
    assert_eq!(status, Status::SeeOther, "the pushed login completes");
}

#[tokio::test]
async fn a_pushed_request_is_authenticated_by_an_assertion_with_one_client_id() {
    let app = code_app(with_par(), private_key_jwt("ec-a.pem")).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let pushed = last_pushed_request(&app);
    let field = |name: &str| pushed.fields.iter().filter(|(n, _)| n == name).count();
    assert_eq!(field("client_id"), 1);
    assert_eq!(field("client_assertion"), 1);
    assert_eq!(pushed.authorization, None);
}

#[tokio::test]
async fn par_never_keeps_the_request_in_the_url_unless_the_idp_requires_pushing() {
    let app = code_app(with_par(), |f| with_secret(f).merge(("oidc.par", "never"))).await;
    let (location, _) = start(&app).await;
    assert!(location.contains("state="), "{location}");
    assert!(app.idp.back.par_requests.lock().unwrap().is_empty());

    let required = code_app(
        json!({
            "pushed_authorization_request_endpoint": "PAR",
            "require_pushed_authorization_requests": true,
        }),
        |f| with_secret(f).merge(("oidc.par", "never")),
    )
    .await;
    let (location, _) = start(&required).await;
    assert!(location.contains("request_uri="), "{location}");
}

#[tokio::test]
async fn par_auto_does_not_push_for_a_client_without_secret_or_key() {
    // An implicit-flow app with no credentials: an IdP would refuse its unauthenticated push.
    let app = app_with_idp(
        |idp| {
            idp.set_metadata(json!({
                "pushed_authorization_request_endpoint": format!("{}/par", idp.issuer)
            }))
        },
        |f| f,
    )
    .await;
    let (location, _) = start(&app).await;
    assert!(location.contains("state="), "{location}");
    assert!(app.idp.back.par_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn par_always_without_an_endpoint_or_a_refused_push_is_a_502_page() {
    let app = code_app(json!({}), |f| with_secret(f).merge(("oidc.par", "always"))).await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert!(response.headers().get_one("Location").is_none());

    let refused = code_app(with_par(), with_secret).await;
    *refused.idp.back.error.lock().unwrap() = Some(json!({"error": "invalid_request"}));
    let response = refused.client.get("/login").dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert!(
        response
            .headers()
            .get("Set-Cookie")
            .all(|c| !c.contains("bff_login_")),
        "no login attempt cookie for a refused push"
    );
}
