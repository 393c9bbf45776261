//! Expiry inside the cookie (idle and absolute) and when the cookie is reissued.

use super::api_with_cookie;
use crate::helpers::app_with;

#[rocket::async_test]
async fn an_idle_session_expires_inside_the_cookie() {
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 1))).await;
    app.login().await;
    let cookie = app.session_cookie().unwrap();
    assert_eq!(app.call_api().await.status().code, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Present the old value again even though Max-Age has passed: the content says expired.
    assert_eq!(api_with_cookie(&app, &cookie).await, 401);
}
#[rocket::async_test]
async fn the_absolute_lifetime_ends_even_an_active_session() {
    // Times are whole seconds: a login late in a second may lose almost one of the 3 s.
    let app = app_with(|f| {
        f.merge(("oidc.session_absolute_lifetime_secs", 3))
            .merge(("oidc.session_idle_timeout_secs", 100))
    })
    .await;
    let before_login = std::time::Instant::now();
    app.login().await;
    let cookie = app.session_cookie().unwrap();
    assert_eq!(app.call_api().await.status().code, 200);
    // Used all the time (the idle timeout is far), it ends with its lifetime: polled rather
    // than slept through, and never earlier than the lifetime less the part of a second that
    // whole-second times may drop.
    let ended = loop {
        let status = api_with_cookie(&app, &cookie).await;
        let elapsed = before_login.elapsed();
        if status == 401 {
            break elapsed;
        }
        assert_eq!(status, 200, "a session until it ends ({elapsed:?})");
        assert!(
            elapsed < std::time::Duration::from_millis(4500),
            "still a session {elapsed:?} after the login, with a 3 s lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        ended >= std::time::Duration::from_secs(2),
        "ended after {ended:?}, before its 3 s lifetime (less under a second)"
    );
    assert_eq!(api_with_cookie(&app, &cookie).await, 401);
}
#[rocket::async_test]
async fn ordinary_requests_do_not_reissue_the_cookie_until_renewal_is_due() {
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 40))).await;
    app.login().await;
    let response = app.call_api().await;
    assert!(
        response.headers().get_one("Set-Cookie").is_none(),
        "no Set-Cookie right after login"
    );
    drop(response);
    // 40 s idle → renewed once 2 s (1/20) have passed.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.call_api().await;
    let renewed = response
        .headers()
        .get_one("Set-Cookie")
        .unwrap_or_default()
        .to_string();
    assert!(renewed.starts_with("bff_session="), "renewed: {renewed}");
}
