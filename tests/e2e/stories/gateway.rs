//! The gateway story (`response_type=code`, development IdP): the start page's remote API
//! buttons call the development IdP's demo API through `/api/demo/…`, including a step-up
//! sign-in.

use super::{
    clear_api_result, expect_logged_in_at_start_page, expect_logged_out_at_start_page,
    log_out_everywhere, sign_in,
};
use crate::page::{At, Page};

/// Clicks the button `button` and waits for the JSON answer holding every one of `needles`.
async fn call_remote(p: &Page, button: &str, needles: &[&str]) -> String {
    clear_api_result(p).await;
    p.click(button).await;
    let json = p.wait_page(At::App("/"), "#api-json", needles).await;
    assert!(!p.exists("#api-error").await, "no error next to the answer");
    json
}

/// Logged out, the remote API answers anonymously (policy `user-or-none`) and the sensitive one
/// prompts for a login; logged in, the remote API names the user (a password sign-in, `acr`
/// `pwd`); the sensitive one then asks for a stronger sign-in, whose link leads through the
/// IdP's second factor back to the page, after which the sensitive API answers.
pub async fn remote_api_and_step_up(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    let anonymous = call_remote(&p, "#call-remote", &["anonymous"]).await;
    assert!(!anonymous.contains(alice.sub), "{anonymous}");
    clear_api_result(&p).await;
    p.click("#call-sensitive").await;
    p.wait_page(At::App("/"), "#login-prompt", &["You are not logged in"])
        .await;
    p.shot("remote-api-logged-out").await;

    p.click("#login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    let sub = format!("\"sub\": \"{}\"", alice.sub);
    call_remote(&p, "#call-remote", &[&sub, "\"acr\": \"pwd\""]).await;
    p.shot("remote-api-logged-in").await;

    clear_api_result(&p).await;
    p.click("#call-sensitive").await;
    p.wait_page(
        At::App("/"),
        "#step-up-prompt",
        &["This needs a stronger sign-in"],
    )
    .await;
    let href = p
        .element("#step-up")
        .await
        .attr("href")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(
        href.starts_with("/login?acr_values=mfa") && href.contains("returnTo=%2F"),
        "step-up link {href:?}"
    );
    p.shot("step-up-prompt").await;
    p.click("#step-up").await;
    // The IdP session (password) is still there: only the second factor is asked.
    p.wait_page(At::Idp("/authorize"), "#one_time_code", &[])
        .await;
    assert!(!p.exists("#password").await, "no password again");
    p.fill("#one_time_code", "123456").await;
    p.shot("idp-second-factor").await;
    p.click("#verify").await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    let json = call_remote(
        &p,
        "#call-sensitive",
        &["\"acr\": \"mfa\"", "the vault is open"],
    )
    .await;
    assert!(json.contains(&sub), "{json}");
    p.shot("sensitive-api-after-step-up").await;
    log_out_everywhere(&p).await;
}
