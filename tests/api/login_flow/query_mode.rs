//! IdPs that never post (Amazon Cognito, many OAuth-first providers): `RESPONSE_MODE=query`
//! for the code flow. The answer comes in the query of a top-level GET and keeps every check of
//! the posted one; a GET is refused for an attempt that expected a post, and the other way
//! round; an ID token in a URL is refused; discovery chooses the mode when it is not set.

use crate::helpers;

use helpers::back_channel::CLIENT_SECRET;
use helpers::{app_with, app_with_idp, text, TestApp};
use rocket::http::Header;
use rocket::local::asynchronous::LocalResponse;
use serde_json::json;

fn code(f: rocket::figment::Figment) -> rocket::figment::Figment {
    f.merge(("oidc.response_type", "code"))
        .merge(("oidc.client_secret", CLIENT_SECRET))
}

async fn query_app() -> TestApp {
    app_with(|f| code(f).merge(("oidc.response_mode", "query"))).await
}

/// A login started at `/login` and answered by the test IdP with a code in the query.
async fn answer_in_query<'a>(app: &'a TestApp, state: &str, code: &str) -> LocalResponse<'a> {
    app.client
        .get(format!("/callback?code={code}&state={state}"))
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .dispatch()
        .await
}

fn code_for(app: &TestApp, start: &helpers::LoginStart) -> String {
    app.idp
        .back
        .grant_code(&start.nonce, &start.params["code_challenge"])
}

#[rocket::async_test]
async fn a_query_mode_login_completes_by_get_and_redirects_without_the_query() {
    let app = query_app().await;
    let start = app.start_login("/profile").await;
    assert!(
        !start.params.contains_key("response_mode"),
        "query is the code flow's default: no response_mode is sent"
    );
    let code = code_for(&app, &start);
    let response = answer_in_query(&app, &start.state, &code).await;
    assert_eq!(response.status().code, 303);
    assert_eq!(response.headers().get_one("Location"), Some("/profile"));
    assert!(app.session_cookie().is_some());
    assert_eq!(app.call_api().await.status().code, 200);
}

#[rocket::async_test]
async fn a_query_mode_attempt_cookie_is_lax_so_a_top_level_get_carries_it() {
    let app = query_app().await;
    let response = app.client.get("/login").dispatch().await;
    let cookie = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("bff_login_"))
        .expect("an attempt cookie")
        .to_string();
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}

#[rocket::async_test]
async fn a_query_answer_replayed_is_refused() {
    let app = query_app().await;
    let start = app.start_login("/").await;
    let code = code_for(&app, &start);
    let cookies: Vec<_> = app.client.cookies().iter().cloned().collect();
    assert_eq!(
        answer_in_query(&app, &start.state, &code)
            .await
            .status()
            .code,
        303
    );
    // The same answer with the attempt's cookie put back.
    let mut replay = app
        .client
        .get(format!("/callback?code={code}&state={}", start.state));
    for cookie in cookies {
        replay = replay.cookie(cookie);
    }
    let replay = replay.dispatch().await;
    // The IdP refuses the used code before the used state is looked at: either way, no session.
    assert!(
        matches!(replay.status().code, 400 | 401),
        "{}",
        replay.status()
    );
    assert!(replay
        .headers()
        .get("Set-Cookie")
        .all(|c| !c.starts_with("bff_session=") || c.starts_with("bff_session=;")));
}

#[rocket::async_test]
async fn a_get_answer_to_an_attempt_that_expected_a_post_is_refused() {
    // Code flow, but the IdP lists form_post: the attempt expects a post.
    let app = app_with(code).await;
    let start = app.start_login("/").await;
    assert_eq!(start.params["response_mode"], "form_post");
    let code = code_for(&app, &start);
    let response = answer_in_query(&app, &start.state, &code).await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("must post"));
    assert!(app.session_cookie().is_none());
}

#[rocket::async_test]
async fn a_posted_answer_to_a_query_mode_attempt_is_refused() {
    let app = query_app().await;
    let start = app.start_login("/").await;
    let code = code_for(&app, &start);
    let response = app
        .callback(&[("code", &code), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 400);
    assert!(app.session_cookie().is_none());
}

#[rocket::async_test]
async fn an_id_token_in_the_query_is_refused_even_in_query_mode() {
    let app = query_app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .client
        .get(format!("/callback?id_token={token}&state={}", start.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(app.session_cookie().is_none());
}

#[rocket::async_test]
async fn a_query_answer_naming_another_issuer_is_refused() {
    let app = query_app().await;
    let start = app.start_login("/").await;
    let code = code_for(&app, &start);
    let response = app
        .client
        .get(format!(
            "/callback?code={code}&state={}&iss=https%3A%2F%2Fevil.example",
            start.state
        ))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(app.session_cookie().is_none());
}

#[rocket::async_test]
async fn without_response_modes_in_discovery_the_code_flow_uses_query_and_id_token_flows_post() {
    let no_modes =
        |idp: &helpers::idp::TestIdp| idp.set_metadata(json!({"response_modes_supported": null}));
    let app = app_with_idp(no_modes, code).await;
    let start = app.start_login("/").await;
    assert!(!start.params.contains_key("response_mode"));
    let code = code_for(&app, &start);
    assert_eq!(
        answer_in_query(&app, &start.state, &code)
            .await
            .status()
            .code,
        303
    );

    let app = app_with_idp(no_modes, |f| f).await;
    let start = app.start_login("/").await;
    assert_eq!(start.params["response_mode"], "form_post");
}

#[rocket::async_test]
async fn response_mode_query_with_an_id_token_flow_stops_start_up_naming_it() {
    let idp = helpers::idp::TestIdp::start().await;
    for response_type in ["id_token", "code id_token"] {
        let figment = helpers::figment(&idp.issuer)
            .merge(("oidc.response_type", response_type))
            .merge(("oidc.client_secret", CLIENT_SECRET))
            .merge(("oidc.response_mode", "query"));
        let error = helpers::bff::build_from(figment)
            .expect_err("refused")
            .to_string();
        assert!(error.starts_with("RESPONSE_MODE"), "{error}");
    }
}
