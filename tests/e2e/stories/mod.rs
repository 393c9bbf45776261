//! The browser stories, written once against the IdP driver (`crate::idp_driver`), and the
//! steps they share: signing in at the IdP, checking the start page, logging out everywhere.
//! `login`: the login stories (`response_type=id_token`); `gateway`: the remote API buttons
//! and a step-up sign-in; `code_flow`: tokens kept on the server; `fapi`: the code flow as a
//! FAPI 2.0 client; `resource_apis`: each API its own token (RFC 8707).

pub mod code_flow;
pub mod fapi;
pub mod gateway;
pub mod login;
pub mod resource_apis;

use std::future::Future;

use crate::idp_driver::Account;
use crate::page::{At, Page};

/// On the IdP's sign-in page: types the credentials and submits. The caller waits for what
/// comes next (WebDriver's click does not reliably wait for the form's navigation).
pub async fn submit_idp_login(p: &Page, username: &str, password: &str) {
    let idp = p.idp;
    p.wait_page(At::Idp(idp.sign_in_path), idp.password_field, &[])
        .await;
    p.fill(idp.username_field, username).await;
    p.fill(idp.password_field, password).await;
    p.shot("idp-login-filled").await;
    p.click(idp.submit).await;
}

pub async fn sign_in(p: &Page, account: &Account) {
    submit_idp_login(p, account.username, account.password).await;
}

/// Waits for the IdP's sign-in page.
pub async fn expect_idp_sign_in_page(p: &Page) {
    p.wait_page(At::Idp(p.idp.sign_in_path), p.idp.password_field, &[])
        .await;
}

pub async fn expect_logged_in_at_start_page(p: &Page, name: &str) {
    let status = p
        .wait_page(At::App("/"), "#status", &[&format!("Logged in as {name}")])
        .await;
    assert_eq!(status.trim(), format!("Logged in as {name}"));
    let shown = p
        .element("#user-name")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(shown.trim(), name, "the navigation bar names the user");
    assert!(!p.exists("#login").await, "no Log in link while logged in");
}

pub async fn expect_logged_out_at_start_page(p: &Page) {
    let status = p
        .wait_page(At::App("/"), "#status", &["You are logged out"])
        .await;
    assert_eq!(status.trim(), "You are logged out");
    assert!(p.exists("#login").await, "the Log in link is shown");
    assert!(
        !p.exists("#logout").await,
        "no Log out button while logged out"
    );
}

/// Clicks Call API and waits for the "not logged in" prompt.
pub async fn expect_api_asks_to_log_in(p: &Page) {
    p.click("#call-api").await;
    let prompt = p
        .wait_page(At::App("/"), "#login-prompt", &["You are not logged in"])
        .await;
    assert!(
        prompt.contains("Log in"),
        "the prompt links to the login: {prompt:?}"
    );
    let href = p
        .element("#login-again")
        .await
        .attr("href")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(href.starts_with("/login?returnTo="), "login link {href:?}");
}

/// From a logged-in page: Log out, confirm at the IdP if it asks, back at the app's start page.
/// `at_confirmation` runs while the IdP's confirmation page is shown (the app's part of the
/// logout is done by then, the IdP's is not); it is not called for an IdP that does not ask.
pub async fn log_out_everywhere_and<F, Fut>(p: &Page, at_confirmation: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    p.click("#logout").await;
    let logged_out: &[&str] = &["You are logged out"];
    let mut pages = vec![(At::App("/"), "#status", logged_out)];
    let confirmation = p.idp.logout_confirmation.as_ref();
    let text;
    if let Some(confirmation) = confirmation {
        text = [confirmation.text];
        pages.push((At::Idp(confirmation.path), confirmation.button, &text));
    }
    let (page, _) = p.wait_page_any(&pages).await;
    if page == 1 {
        let confirmation = confirmation.expect("only listed with a confirmation page");
        p.shot("idp-logout-confirm").await;
        at_confirmation().await;
        p.click(confirmation.button).await;
    }
    expect_logged_out_at_start_page(p).await;
    p.shot("logged-out").await;
}

pub async fn log_out_everywhere(p: &Page) {
    log_out_everywhere_and(p, || async {}).await;
}

/// Removes the API buttons' last answer from the page, so that waiting for the next one cannot
/// be satisfied by the same text from before.
pub async fn clear_api_result(p: &Page) {
    p.client
        .execute(
            "document.getElementById('api-result').replaceChildren(); return true;",
            vec![],
        )
        .await
        .expect("clear the earlier answer");
}
