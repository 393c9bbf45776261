//! The login stories (`response_type=id_token`), run against each IdP in a fresh browser
//! profile each, and the `SameSite=Strict` session cookie's story.

use fantoccini::Locator;

use super::{
    expect_api_asks_to_log_in, expect_idp_sign_in_page, expect_logged_in_at_start_page,
    expect_logged_out_at_start_page, log_out_everywhere, sign_in, submit_idp_login,
};
use crate::idp_driver::OIDC_PROVIDER;
use crate::page::{At, Page, Probe};
use crate::support::APP;

/// a. Logged out → Call API prompts → log in at the IdP → logged in, API answers, profile
/// shows the claims → log out at the IdP → logged out, Call API prompts again.
pub async fn full_story(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.shot("start-logged-out").await;

    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login").await;

    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    assert_eq!(
        p.client.title().await.unwrap_or_default(),
        p.idp.sign_in_title
    );
    p.shot("idp-login").await;

    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    assert_eq!(
        p.url().await.as_str(),
        format!("{APP}/"),
        "back at the start page"
    );
    p.shot("logged-in").await;

    p.click("#call-api").await;
    let json = p
        .wait_page(
            At::App("/"),
            "#api-json",
            &[&format!("Hello, {}", alice.name), "\"sub\""],
        )
        .await;
    assert!(
        json.contains(&format!("\"sub\": \"{}\"", alice.sub)),
        "API answer: {json}"
    );
    p.shot("api-answers").await;
    let readme = p.idp.name == OIDC_PROVIDER.name;
    if readme {
        p.save_screenshot("readme-logged-in.png").await;
    }

    p.open("/profile").await;
    p.wait_page(At::App("/profile"), "#claims", &[alice.name, alice.email])
        .await;
    let mut names = Vec::new();
    for cell in p
        .client
        .find_all(Locator::Css("#claims td.claim-name"))
        .await
        .unwrap_or_default()
    {
        names.push(cell.text().await.unwrap_or_default());
    }
    for claim in ["sub", "name", "email"] {
        assert!(
            names.iter().any(|n| n == claim),
            "the claims table lists {claim}: {names:?}"
        );
    }
    p.shot("profile").await;
    if readme {
        p.save_screenshot("readme-profile.png").await;
    }

    log_out_everywhere(&p).await;
    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login-again").await;
}

/// b. Logging in again while the IdP session lasts needs no password (single sign-on), but
/// after logging out it does: the IdP session ended too.
pub async fn login_after_logout_asks_for_credentials(p: Page) {
    let (alice, bob) = (&p.idp.alice, &p.idp.bob);
    p.open("/login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("logged-in").await;

    // Control: with the IdP session alive, a new login comes straight back without a form.
    p.open("/login").await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("sso-without-form").await;

    log_out_everywhere(&p).await;

    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    let typed = p
        .element(p.idp.password_field)
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(typed.is_empty(), "the password field is empty");
    p.shot("idp-asks-again").await;

    // A fresh login may even be someone else.
    sign_in(&p, bob).await;
    expect_logged_in_at_start_page(&p, bob.name).await;
    p.shot("logged-in-as-bob").await;
}

/// With a `SameSite=Strict` session cookie, the first page after the IdP's cross-site POST is
/// already logged in (the callback hands over through a same-origin page), and the API
/// answers.
pub async fn strict_session_cookie_logs_in_on_the_first_page(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("strict-logged-in").await;
    p.click("#call-api").await;
    let answer = p.wait_page(At::App("/"), "#api-json", &[alice.sub]).await;
    assert!(answer.contains(alice.sub), "{answer}");
}

/// c. A logged-out visit to /profile goes through the IdP's login and lands on /profile.
pub async fn deep_link_returns_to_the_page(p: Page) {
    let alice = &p.idp.alice;
    p.open("/profile").await;
    expect_idp_sign_in_page(&p).await;
    p.shot("redirected-to-idp").await;

    sign_in(&p, alice).await;
    let claims = p
        .wait_page(At::App("/profile"), "#claims", &[alice.name, alice.email])
        .await;
    assert!(claims.contains(alice.sub), "{claims}");
    assert_eq!(p.url().await.as_str(), format!("{APP}/profile"));
    p.shot("back-at-profile").await;
}

/// d. Two tabs start a login each before either finishes; both complete and return to
/// their own pages.
pub async fn two_tabs_log_in_at_once(p: Page) {
    let alice = &p.idp.alice;
    let first = p.client.window().await.expect("current window");
    p.open("/login?returnTo=/profile").await;
    expect_idp_sign_in_page(&p).await;
    p.shot("tab1-idp-login").await;

    let second = p
        .client
        .new_window(true)
        .await
        .expect("a second tab")
        .handle;
    p.client
        .switch_to_window(second.clone())
        .await
        .expect("switch to tab 2");
    p.open("/login?returnTo=/").await;
    expect_idp_sign_in_page(&p).await;
    p.shot("tab2-idp-login").await;

    // Finish tab 1 first.
    p.client
        .switch_to_window(first.clone())
        .await
        .expect("switch to tab 1");
    sign_in(&p, alice).await;
    p.wait_page(At::App("/profile"), "#claims", &[alice.name])
        .await;
    p.shot("tab1-logged-in").await;

    // Then tab 2, whose IdP page was loaded before tab 1 logged in: it shows the form unless
    // the IdP already moved it along.
    p.client
        .switch_to_window(second.clone())
        .await
        .expect("switch to tab 2");
    let url = p.url().await;
    if At::Idp(p.idp.sign_in_path).matches(&url) && p.exists(p.idp.password_field).await {
        sign_in(&p, alice).await;
    }
    expect_logged_in_at_start_page(&p, alice.name).await;
    assert!(!p.exists("#error-title").await, "no error page in tab 2");
    p.shot("tab2-logged-in").await;

    // Both tabs share the browser's session cookie: tab 1 is still logged in.
    p.client
        .switch_to_window(first)
        .await
        .expect("switch to tab 1");
    p.client.refresh().await.expect("reload tab 1");
    p.wait_page(At::App("/profile"), "#claims", &[alice.name])
        .await;
    assert!(!p.exists("#error-title").await, "no error page in tab 1");
    p.shot("tab1-still-logged-in").await;
}

/// e. A wrong password shows the IdP's error; cancelling there brings the user back to the
/// app's "Login cancelled" page (401), still logged out.
pub async fn wrong_password_then_cancel(p: Page) {
    let idp = p.idp;
    p.open("/login").await;
    submit_idp_login(&p, idp.alice.username, "not-her-password").await;
    let error = p
        .wait_page(
            At::Idp(idp.sign_in_path),
            idp.sign_in_error,
            &[idp.wrong_password_message],
        )
        .await;
    assert!(
        error.trim().starts_with(idp.wrong_password_message),
        "{error:?}"
    );
    assert!(
        p.exists(idp.password_field).await,
        "the form is shown again"
    );
    p.shot("idp-wrong-password").await;

    p.click(idp.cancel).await;
    let title = p
        .wait_page(At::App("/callback"), "#error-title", &["Login cancelled"])
        .await;
    assert_eq!(title.trim(), "Login cancelled");
    let message = p
        .element("#error-message")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        message.contains("access_denied"),
        "the page says why: {message:?}"
    );
    let footer = p
        .element(".request-id")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        footer.contains("Error 401"),
        "a 401 page, not a 500: {footer:?}"
    );
    assert_eq!(
        p.response_status().await,
        Some(401),
        "HTTP status of the callback's answer"
    );
    let action = p.element("#error-action").await;
    assert_eq!(
        action.attr("href").await.ok().flatten().as_deref(),
        Some("/login")
    );
    p.shot("login-cancelled").await;

    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.shot("still-logged-out").await;
}

/// The start page counts the session down, warns a minute before its idle end (the app runs
/// with a 65 s idle timeout) and "Stay signed in" starts the idle window again.
pub async fn the_page_warns_before_the_session_ends(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.wait_page(At::App("/"), "#session-time", &["left"]).await;
    p.wait_page(At::App("/"), "#session-warning", &["Your session ends in"])
        .await;
    p.shot("session-warning").await;
    p.click("#stay-signed-in").await;
    // The warning goes, and stays gone (with a minute or less left the page would show it
    // again on its next tick): the idle window started over.
    p.wait_for("the warning to go", |client| async move {
        let hidden = async {
            let warning = client.find(Locator::Css("#session-warning")).await.ok()?;
            warning.attr("hidden").await.ok()?
        };
        match hidden.await {
            Some(_) => Probe::Ready(()),
            None => Probe::NotYet("the warning is shown".into()),
        }
    })
    .await;
    // Time itself: two ticks of the page's clock.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let time = p.wait_page(At::App("/"), "#session-time", &["1 min"]).await;
    assert!(!p.exists("#session-warning:not([hidden])").await, "{time}");
    p.shot("session-extended").await;
}

/// `GET /session` before and after login and after logout; a silent login while the IdP's
/// session lives logs in without a page; one after the IdP's session ended comes back marked
/// `login=none`, logged out, with no error page.
pub async fn session_endpoint_and_silent_login(p: Page) {
    let alice = &p.idp.alice;
    p.open("/session").await;
    p.wait_page(At::App("/session"), "body", &["login_required"])
        .await;
    p.open("/").await;
    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.open("/session").await;
    p.wait_page(At::App("/session"), "body", &[alice.sub, "idle_expires_at"])
        .await;

    // The app forgets its session; the IdP still has one: no page, logged in again.
    p.open("/").await;
    p.client
        .delete_cookie("bff_session")
        .await
        .expect("the session cookie is deleted");
    p.open("/login?prompt=none&returnTo=%2F").await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("silent-login-succeeded").await;

    // Logging out ends the IdP's session too: the silent login now comes back without one.
    log_out_everywhere(&p).await;
    p.open("/session").await;
    p.wait_page(At::App("/session"), "body", &["login_required"])
        .await;
    p.open("/login?prompt=none&returnTo=%2F").await;
    expect_logged_out_at_start_page(&p).await;
    let url = p.url().await;
    assert_eq!(url.query(), Some("login=none"), "{url}");
    p.shot("silent-login-without-idp-session").await;
}

/// Two identity providers (the round's IdP and a second one, another issuer): the Log in link
/// shows the choice, choosing the second signs in there, and the session names it.
pub async fn choosing_a_provider_logs_in_there(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.click("#login").await;
    p.wait_page(At::App("/login"), "#providers", &[]).await;
    p.shot("choose-provider").await;
    p.click("#providers li:nth-child(2) a").await;
    p.wait_page(At::SecondIdp(p.idp.sign_in_path), p.idp.password_field, &[])
        .await;
    p.fill(p.idp.username_field, alice.username).await;
    p.fill(p.idp.password_field, alice.password).await;
    p.click(p.idp.submit).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.open("/session").await;
    let session = p
        .wait_page(At::App("/session"), "body", &["\"provider\":\""])
        .await;
    assert!(
        !session.contains("\"provider\":\"default\""),
        "the session names the second provider: {session}"
    );
}
