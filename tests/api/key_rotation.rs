//! Rotating `SECRET`: with the former secret in `PREVIOUS_SECRETS`, sessions, logout hints and
//! login attempts issued under it keep working and are re-issued under the new key; without it
//! (or under a key nobody configured) they are simply no session. Also the sealer that the
//! same secrets give for data at rest.

use crate::helpers;

use std::collections::HashMap;
use std::sync::Arc;

use helpers::bff::{MemoryStore, Store};
use helpers::TestIdp;
use oidc_bff::testing::crypto::{derive_cookie_key, CookieKeys, PreviousCookieKeys, Sealer};
use rocket::figment::Figment;
use rocket::http::{Cookie, Header, SameSite};
use rocket::local::asynchronous::{Client, LocalResponse};

const OLD: &str = "old-secret-0123456789abcdef-0123456789";
const NEW: &str = "new-secret-fedcba9876543210-fedcba9876";
const OTHER: &str = "other-secret-never-used-by-this-app-000";

/// One app instance, with its own secrets, against `idp` and sharing `store`.
struct Instance {
    client: Client,
}

fn figment(idp: &TestIdp, secret: &str, previous: Option<&str>) -> Figment {
    let figment = helpers::figment(&idp.issuer).merge(("oidc.secret", secret));
    match previous {
        Some(previous) => figment.merge(("oidc.previous_secrets", previous)),
        None => figment,
    }
}

impl Instance {
    async fn start(
        idp: &TestIdp,
        store: &Arc<dyn Store>,
        secret: &str,
        previous: Option<&str>,
    ) -> Self {
        let rocket = helpers::bff::build_with_store(figment(idp, secret, previous), store.clone())
            .expect("valid test config");
        let client = Client::untracked(rocket).await.expect("app ignites");
        Self { client }
    }

    /// `GET /api/hello` as a script's `fetch`, with these cookies.
    async fn call_api(&self, cookie: Cookie<'static>) -> LocalResponse<'_> {
        self.client
            .get("/api/hello")
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"))
            .cookie(cookie)
            .dispatch()
            .await
    }

    /// `GET /login`: the login cookie (as the browser keeps it), state and nonce.
    async fn start_login(&self, cookies: &[Cookie<'static>]) -> (LocalResponse<'_>, Attempt) {
        let response = self
            .client
            .get("/login")
            .cookies(cookies.to_vec())
            .dispatch()
            .await;
        assert_eq!(response.status().code, 302);
        let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        let name = format!("bff_login_{}", &params["state"][..12]);
        let cookie = set_cookie(&response, &name).expect("this attempt's login cookie");
        let attempt = Attempt {
            cookie,
            state: params["state"].clone(),
            nonce: params["nonce"].clone(),
        };
        (response, attempt)
    }

    /// The IdP's form_post to `/callback` with a valid ID token for `attempt`.
    async fn callback(
        &self,
        idp: &TestIdp,
        attempt: &Attempt,
        cookies: &[Cookie<'static>],
    ) -> LocalResponse<'_> {
        let token = idp.token(&idp.claims(&attempt.nonce));
        self.callback_with_token(&token, attempt, cookies).await
    }

    async fn callback_with_token(
        &self,
        token: &str,
        attempt: &Attempt,
        cookies: &[Cookie<'static>],
    ) -> LocalResponse<'_> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("id_token", token), ("state", &attempt.state)])
            .finish();
        self.client
            .post("/callback")
            .header(rocket::http::ContentType::Form)
            .cookies(cookies.to_vec())
            .body(body)
            .dispatch()
            .await
    }

    /// A complete login: the cookies the browser then holds (session and logout hint), and the
    /// ID token.
    async fn login(&self, idp: &TestIdp) -> (Vec<Cookie<'static>>, String) {
        let (_, attempt) = self.start_login(&[]).await;
        let token = idp.token(&idp.claims(&attempt.nonce));
        let response = self
            .callback_with_token(&token, &attempt, std::slice::from_ref(&attempt.cookie))
            .await;
        assert_eq!(response.status().code, 303, "the login succeeds");
        let cookies = ["bff_session", "bff_logout_hint"]
            .iter()
            .map(|name| set_cookie(&response, name).expect(name))
            .collect();
        (cookies, token)
    }
}

/// A login attempt as the browser holds it between `/login` and the IdP's POST.
struct Attempt {
    cookie: Cookie<'static>,
    state: String,
    nonce: String,
}

/// The cookie `name` set by `response` (its encrypted value and attributes).
fn set_cookie(response: &LocalResponse<'_>, name: &str) -> Option<Cookie<'static>> {
    response
        .cookies()
        .get(name)
        .filter(|c| !c.value().is_empty())
        .cloned()
}

/// The cookie as a browser sends it back: name and value only.
fn sent(cookie: &Cookie<'static>) -> Cookie<'static> {
    Cookie::new(cookie.name().to_string(), cookie.value().to_string())
}

fn new_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::default())
}

#[rocket::async_test]
async fn a_session_under_a_previous_secret_is_accepted_and_reissued_under_the_new_one() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = old.login(&idp).await;
    let issued = &cookies[0];

    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = rotated.call_api(sent(issued)).await;
    assert_eq!(response.status().code, 200);
    let reissued = set_cookie(&response, "bff_session").expect("re-issued under the new key");
    assert_ne!(reissued.value(), issued.value());
    // The attributes of the first issuance.
    assert_eq!(reissued.path(), Some("/"));
    assert_eq!(reissued.same_site(), Some(SameSite::Lax));
    assert_eq!(reissued.http_only(), Some(true));
    assert_eq!(reissued.secure(), issued.secure());
    let (first, again) = (issued.max_age().unwrap(), reissued.max_age().unwrap());
    assert!(
        (first - again).abs().whole_seconds() <= 2,
        "{first} vs {again}"
    );
    assert!(reissued.expires_datetime().is_some());

    // The re-issued cookie works where only the new secret is known; the old one does not.
    let new_only = Instance::start(&idp, &store, NEW, None).await;
    let response = new_only.call_api(sent(&reissued)).await;
    assert_eq!(response.status().code, 200);
    assert!(
        set_cookie(&response, "bff_session").is_none(),
        "nothing to re-issue"
    );
    assert_eq!(new_only.call_api(sent(issued)).await.status().code, 401);
}

/// The keys that seal the cookies of an instance whose `SECRET` is `secret`.
fn sealing_keys(secret: &str) -> CookieKeys {
    CookieKeys::new(
        &Sealer::new(secret.as_bytes(), &[]),
        PreviousCookieKeys::none(),
    )
}

#[rocket::async_test]
async fn a_session_of_an_earlier_release_under_a_previous_secret_is_reissued_sealed() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = old.login(&idp).await;
    let (session, _) = sealing_keys(OLD)
        .open("bff_session", cookies[0].value())
        .expect("sealed under the old secret");
    // The same session as the release before sealed cookies wrote it: a Rocket private
    // cookie under the old secret's key.
    let rocket_key = cookie::Key::from(&derive_cookie_key(OLD.as_bytes()).unwrap());
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(&rocket_key)
        .add(cookie::Cookie::new("bff_session", session.clone()));
    let earlier = Cookie::new(
        "bff_session",
        jar.get("bff_session").unwrap().value().to_string(),
    );

    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = rotated.call_api(earlier.clone()).await;
    assert_eq!(response.status().code, 200);
    let reissued = set_cookie(&response, "bff_session").expect("re-issued sealed");
    assert_eq!(
        sealing_keys(NEW).open("bff_session", reissued.value()),
        Some((session, true)),
        "sealed under the new secret, same session"
    );
    let new_only = Instance::start(&idp, &store, NEW, None).await;
    assert_eq!(new_only.call_api(earlier).await.status().code, 401);
}

#[rocket::async_test]
async fn a_session_under_the_current_secret_is_not_reissued_during_a_rotation() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let (cookies, _) = rotated.login(&idp).await;
    let response = rotated.call_api(sent(&cookies[0])).await;
    assert_eq!(response.status().code, 200);
    assert!(set_cookie(&response, "bff_session").is_none());
}

#[rocket::async_test]
async fn without_previous_secrets_a_session_under_the_old_secret_is_no_session() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = old.login(&idp).await;

    let new_only = Instance::start(&idp, &store, NEW, None).await;
    let response = new_only.call_api(sent(&cookies[0])).await;
    assert_eq!(response.status().code, 401);
    assert!(set_cookie(&response, "bff_session").is_none());
    let page = new_only
        .client
        .get("/profile")
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .cookie(sent(&cookies[0]))
        .dispatch()
        .await;
    assert_eq!(page.status().code, 302);
    assert!(page
        .headers()
        .get_one("Location")
        .is_some_and(|l| l.starts_with("/login")));
}

#[rocket::async_test]
async fn a_session_under_a_key_that_is_neither_current_nor_previous_is_refused() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let foreign = Instance::start(&idp, &store, OTHER, None).await;
    let (cookies, _) = foreign.login(&idp).await;

    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = rotated.call_api(sent(&cookies[0])).await;
    assert_eq!(response.status().code, 401);
    assert!(set_cookie(&response, "bff_session").is_none());
    // A tampered cookie is no session either, whichever key would have opened it.
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = old.login(&idp).await;
    let mut value = cookies[0].value().to_string();
    let last = if value.ends_with('A') { "B" } else { "A" };
    value.replace_range(value.len() - 1.., last);
    let tampered = Cookie::new("bff_session", value);
    assert_eq!(rotated.call_api(tampered).await.status().code, 401);
}

#[rocket::async_test]
async fn the_logout_hint_kept_before_the_rotation_is_still_sent_at_logout() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, token) = old.login(&idp).await;

    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = rotated
        .client
        .post("/logout")
        .cookies(cookies.iter().map(sent).collect::<Vec<_>>())
        .dispatch()
        .await;
    assert_eq!(response.status().code, 303);
    let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
    let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query.get("id_token_hint"), Some(&token));
    // Both cookies are removed, not re-issued.
    for name in ["bff_session", "bff_logout_hint"] {
        let removal = response.cookies().get(name).expect(name);
        assert_eq!(removal.value(), "", "{name}");
    }
    // The session is over everywhere the store is shared.
    assert_eq!(old.call_api(sent(&cookies[0])).await.status().code, 401);
}

#[rocket::async_test]
async fn a_login_started_before_the_rotation_completes_after_it() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (_, attempt) = old.start_login(&[]).await;

    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = rotated
        .callback(&idp, &attempt, &[sent(&attempt.cookie)])
        .await;
    assert_eq!(response.status().code, 303);
    let session = set_cookie(&response, "bff_session").expect("a session");
    assert_eq!(rotated.call_api(sent(&session)).await.status().code, 200);
    // Single use, as ever: the attempt's cookie is removed, not re-issued.
    let removal = response.cookies().get(attempt.cookie.name()).unwrap();
    assert_eq!(removal.value(), "");

    // Without the previous secret the same attempt is unknown.
    let (_, attempt) = old.start_login(&[]).await;
    let new_only = Instance::start(&idp, &store, NEW, None).await;
    let response = new_only
        .callback(&idp, &attempt, &[sent(&attempt.cookie)])
        .await;
    assert_eq!(response.status().code, 400);
}

#[rocket::async_test]
async fn a_pending_login_attempt_is_reissued_under_the_new_key_when_another_starts() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let old = Instance::start(&idp, &store, OLD, None).await;
    let (_, first) = old.start_login(&[]).await;

    // A second login (another tab) after the rotation re-issues the first attempt's cookie.
    let rotated = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let (response, _) = rotated.start_login(&[sent(&first.cookie)]).await;
    let reissued = set_cookie(&response, first.cookie.name()).expect("re-issued");
    assert_ne!(reissued.value(), first.cookie.value());
    assert_eq!(reissued.same_site(), Some(SameSite::None));
    assert_eq!(reissued.secure(), Some(true));
    assert_eq!(reissued.http_only(), Some(true));
    assert_eq!(reissued.path(), Some("/"));
    let max_age = reissued.max_age().unwrap().whole_seconds();
    assert!((590..=600).contains(&max_age), "{max_age}");

    // The re-issued cookie completes the first login where only the new secret is known.
    let new_only = Instance::start(&idp, &store, NEW, None).await;
    let response = new_only.callback(&idp, &first, &[sent(&reissued)]).await;
    assert_eq!(response.status().code, 303);
}

#[rocket::async_test]
async fn two_instances_restarted_one_after_the_other_with_a_new_key_lose_no_session() {
    let idp = TestIdp::start().await;
    let store = new_store();
    // Before: both instances have the old secret; A issues the session.
    let a = Instance::start(&idp, &store, OLD, None).await;
    let b = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = a.login(&idp).await;
    let session = sent(&cookies[0]);
    assert_eq!(b.call_api(session.clone()).await.status().code, 200);

    // B restarts first with the new secret, the old one kept as previous: it accepts A's
    // cookie and re-issues it; A, still on the old secret, keeps accepting the old cookie.
    drop(b);
    let b = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = b.call_api(session.clone()).await;
    assert_eq!(response.status().code, 200);
    let reissued = sent(&set_cookie(&response, "bff_session").expect("re-issued"));
    assert_eq!(a.call_api(session.clone()).await.status().code, 200);

    // Then A restarts with the same new configuration: it accepts both cookies.
    drop(a);
    let a = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    assert_eq!(a.call_api(reissued.clone()).await.status().code, 200);
    assert_eq!(a.call_api(session.clone()).await.status().code, 200);

    // Logging out on one ends the session on the other (the shared store).
    let logout = a
        .client
        .post("/logout")
        .cookie(reissued.clone())
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 303);
    assert_eq!(b.call_api(reissued).await.status().code, 401);
    assert_eq!(b.call_api(session).await.status().code, 401);
}

#[rocket::async_test]
async fn a_short_previous_secret_stops_start_up_with_its_name() {
    let idp = TestIdp::start().await;
    let Err(error) = helpers::bff::build_from(figment(&idp, NEW, Some(&format!("{OLD},short"))))
    else {
        panic!("started with a short previous secret");
    };
    assert!(
        error
            .to_string()
            .starts_with("PREVIOUS_SECRETS (oidc.previous_secrets) is invalid"),
        "{error}"
    );
}

#[rocket::async_test]
async fn previous_secrets_without_a_secret_stop_start_up() {
    let idp = TestIdp::start().await;
    let figment = helpers::figment(&idp.issuer).merge(("oidc.previous_secrets", OLD));
    let Err(error) = helpers::bff::build_from(figment) else {
        panic!("started with previous secrets but no secret");
    };
    let message = error.to_string();
    assert!(
        message.starts_with("SECRET (oidc.secret) is not set"),
        "{message}"
    );
    assert!(message.contains("PREVIOUS_SECRETS"), "{message}");
}

#[rocket::async_test]
async fn the_settings_sealer_opens_what_the_old_secret_sealed_after_a_rotation() {
    let idp = TestIdp::start().await;
    let (_, before) = helpers::bff::load_settings(figment(&idp, OLD, None)).unwrap();
    let (_, after) = helpers::bff::load_settings(figment(&idp, NEW, Some(OLD))).unwrap();
    let (_, new_only) = helpers::bff::load_settings(figment(&idp, NEW, None)).unwrap();
    let sealed = before.sealer.seal("tokens", b"session-1", b"refresh token");
    assert_eq!(
        after.sealer.open("tokens", b"session-1", &sealed).unwrap(),
        b"refresh token"
    );
    assert!(after.sealer.open("tokens", b"session-2", &sealed).is_none());
    assert!(new_only
        .sealer
        .open("tokens", b"session-1", &sealed)
        .is_none());
    let resealed = after.sealer.seal("tokens", b"session-1", b"refresh token");
    assert_ne!(resealed, sealed);
    assert!(new_only
        .sealer
        .open("tokens", b"session-1", &resealed)
        .is_some());
}

#[rocket::async_test]
async fn the_three_step_rolling_rotation_keeps_every_session_readable_on_every_instance() {
    let idp = TestIdp::start().await;
    let store = new_store();
    let a = Instance::start(&idp, &store, OLD, None).await;
    let (cookies, _) = a.login(&idp).await;
    let s0 = sent(&cookies[0]);

    // Step 1: every instance learns the new secret, still encrypting with the old one.
    let previous_new = Some(NEW);
    let a = Instance::start(&idp, &store, OLD, previous_new).await;
    let b = Instance::start(&idp, &store, OLD, previous_new).await;
    for instance in [&a, &b] {
        let response = instance.call_api(s0.clone()).await;
        assert_eq!(response.status().code, 200);
        assert!(set_cookie(&response, "bff_session").is_none());
    }

    // Step 2, half-way: B encrypts with the new secret; A (still step 1) reads what B issues.
    let b = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    let response = b.call_api(s0.clone()).await;
    assert_eq!(response.status().code, 200);
    let s1 = sent(&set_cookie(&response, "bff_session").expect("re-issued by B"));
    assert_eq!(a.call_api(s1.clone()).await.status().code, 200);
    // Without step 1 an instance still on the old secret alone would not.
    let skipped_step_1 = Instance::start(&idp, &store, OLD, None).await;
    assert_eq!(skipped_step_1.call_api(s1.clone()).await.status().code, 401);

    // Step 2 complete, then step 3 (the old secret dropped): the re-issued cookie lives on.
    let a = Instance::start(&idp, &store, NEW, Some(OLD)).await;
    assert_eq!(a.call_api(s0.clone()).await.status().code, 200);
    assert_eq!(a.call_api(s1.clone()).await.status().code, 200);
    let a = Instance::start(&idp, &store, NEW, None).await;
    assert_eq!(a.call_api(s1).await.status().code, 200);
    assert_eq!(a.call_api(s0).await.status().code, 401);
}
