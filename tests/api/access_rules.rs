//! Who may log in: `ALLOWED_EMAIL_DOMAINS` and `ALLOWED_GROUPS` refuse a valid login of an
//! account outside them with a 403 page and no session.

use crate::helpers;

use helpers::{app, app_with, text, TestApp};
use serde_json::{json, Value};

/// A login with the test IdP's usual claims (a verified alice@example.com) changed by `extra`
/// (`null` removes a claim): the callback's status and page.
async fn login_with(app: &TestApp, extra: Value) -> (u16, String) {
    let start = app.start_login("/").await;
    let mut claims = app.idp.claims(&start.nonce);
    for (name, value) in extra.as_object().unwrap() {
        match value {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(name);
            }
            value => claims[name] = value.clone(),
        }
    }
    let token = app.idp.token(&claims);
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let status = response.status().code;
    (status, text(response).await)
}

/// A refused login: 403, the page says so, and there is no session.
async fn assert_not_allowed(app: &TestApp, extra: Value) {
    let (status, page) = login_with(app, extra.clone()).await;
    assert_eq!(status, 403, "{extra}: {page}");
    assert!(
        page.contains("This account is not allowed here"),
        "{extra}: {page}"
    );
    assert_eq!(app.session_cookie(), None, "{extra}: no session");
    assert_eq!(app.call_api().await.status().code, 401, "{extra}");
}

#[rocket::async_test]
async fn without_rules_every_account_logs_in() {
    let app = app().await;
    let (status, _) = login_with(&app, json!({"email": "x@anywhere.org"})).await;
    assert_eq!(status, 303);
}

#[rocket::async_test]
async fn only_a_verified_email_at_an_allowed_domain_logs_in() {
    let domains = |f: rocket::figment::Figment| {
        f.merge(("oidc.allowed_email_domains", "example.com, example.org"))
    };
    let app = app_with(domains).await;
    let (status, page) = login_with(&app, json!({})).await;
    assert_eq!(status, 303, "control: alice@example.com, verified: {page}");
    for extra in [
        json!({"email": "mallory@evil.test"}),
        json!({"email": "mallory@notexample.com"}),
        json!({"email_verified": false}),
        json!({"email_verified": null}),
        json!({"email": null}),
    ] {
        let app = app_with(domains).await;
        assert_not_allowed(&app, extra).await;
    }
}

#[rocket::async_test]
async fn only_a_member_of_an_allowed_group_logs_in() {
    let groups = |f: rocket::figment::Figment| {
        f.merge(("oidc.allowed_groups", "staff"))
            .merge(("oidc.groups_claim", "roles"))
    };
    let app = app_with(groups).await;
    let (status, page) = login_with(&app, json!({"roles": ["readers", "staff"]})).await;
    assert_eq!(status, 303, "control: a member: {page}");
    let app = app_with(groups).await;
    let (status, page) = login_with(&app, json!({"roles": "staff"})).await;
    assert_eq!(status, 303, "control: the claim as a string: {page}");
    for extra in [
        json!({"roles": ["readers"]}),
        json!({"groups": ["staff"]}),
        json!({}),
    ] {
        let app = app_with(groups).await;
        assert_not_allowed(&app, extra).await;
    }
}

#[rocket::async_test]
async fn allowed_groups_without_a_groups_claim_stop_the_start() {
    let figment = helpers::figment("https://idp.example")
        .merge(("oidc.allowed_groups", "staff"))
        .merge(("oidc.groups_claim", " "));
    let Err(error) = helpers::bff::build_from(figment) else {
        panic!("ALLOWED_GROUPS with a blank GROUPS_CLAIM started");
    };
    let error = error.to_string();
    assert!(
        error.starts_with("GROUPS_CLAIM (oidc.groups_claim)"),
        "{error}"
    );
}
