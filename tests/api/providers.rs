//! Several identity providers in one instance: the single-issuer settings (`default`, IdP A)
//! and `[oidc.providers.b]` (IdP B). The choice page, `idp=` and email routing, a login bound
//! to the provider it started at (mix-up defence), back-channel logout that ends only the
//! sessions of the issuer that sent it, and a bad providers entry stopping start-up.

use crate::helpers::{self, set_cookies};

use helpers::idp::{TestIdp, CLIENT_ID};
use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::json;

struct Two {
    a: TestIdp,
    b: TestIdp,
    client: Client,
}

fn figment(a: &TestIdp, b: &TestIdp) -> Figment {
    helpers::figment(&a.issuer)
        .merge(("oidc.login_rate_limit", 0))
        .merge(("oidc.providers.b.issuer", b.issuer.clone()))
        .merge(("oidc.providers.b.client_id", CLIENT_ID))
        .merge(("oidc.providers.b.label", "Company B"))
        .merge(("oidc.providers.b.email_domains", vec!["b.example"]))
}

async fn two() -> Two {
    let (a, b) = (TestIdp::start().await, TestIdp::start().await);
    let rocket = helpers::bff::build_from(figment(&a, &b)).expect("valid config");
    let client = Client::untracked(rocket).await.expect("app ignites");
    Two { a, b, client }
}

/// `/login?<query>`: the attempt's cookies and the redirect's parameters.
async fn start(client: &Client, query: &str) -> (Vec<Cookie<'static>>, url::Url) {
    let response = client.get(format!("/login?{query}")).dispatch().await;
    assert_eq!(response.status().code, 302, "/login?{query} redirects");
    let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
    (set_cookies(&response), location)
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Posts an ID token signed by `signer` (claims of `signer`, `sub` as given) for the attempt,
/// with `iss` naming `named`.
async fn answer<'c>(
    client: &'c Client,
    cookies: &[Cookie<'static>],
    authorize: &url::Url,
    signer: &TestIdp,
    named: &TestIdp,
    sub: &str,
) -> LocalResponse<'c> {
    let mut claims = signer.claims(&param(authorize, "nonce"));
    claims["sub"] = json!(sub);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token", &signer.token(&claims))
        .append_pair("state", &param(authorize, "state"))
        .append_pair("iss", &named.issuer)
        .finish();
    let mut request = client
        .post("/callback")
        .header(ContentType::Form)
        .body(body);
    for cookie in cookies {
        request = request.cookie(cookie.clone());
    }
    request.dispatch().await
}

fn session_of(response: &LocalResponse<'_>) -> Cookie<'static> {
    assert_eq!(response.status().code, 303, "login accepted");
    set_cookies(response)
        .into_iter()
        .find(|c| c.name() == "bff_session")
        .expect("a session cookie")
}

async fn hello(client: &Client, session: &Cookie<'static>) -> u16 {
    client
        .get("/api/hello")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await
        .status()
        .code
}

#[rocket::async_test]
async fn without_a_choice_login_lists_every_provider_and_an_unknown_one_is_a_400() {
    let two = two().await;
    let page = two.client.get("/login?returnTo=/profile").dispatch().await;
    assert_eq!(page.status().code, 200);
    let html = page.into_string().await.unwrap();
    assert!(html.contains("idp=default"), "{html}");
    assert!(html.contains("idp=b"), "{html}");
    assert!(html.contains("Company B"), "{html}");
    assert!(html.contains("returnTo=%2Fprofile"), "{html}");
    assert!(html.contains("id=\"email\""), "{html}");

    let unknown = two.client.get("/login?idp=nope").dispatch().await;
    assert_eq!(unknown.status().code, 400);
    assert!(unknown.into_string().await.unwrap().contains("idp=b"));
}

#[rocket::async_test]
async fn idp_and_email_send_the_browser_to_the_chosen_provider() {
    let two = two().await;
    let (_, at_b) = start(&two.client, "idp=b").await;
    assert!(at_b.as_str().starts_with(&two.b.issuer), "{at_b}");
    let (_, at_a) = start(&two.client, "idp=default").await;
    assert!(at_a.as_str().starts_with(&two.a.issuer), "{at_a}");
    let (_, by_email) = start(&two.client, "email=carol%40B.example").await;
    assert!(by_email.as_str().starts_with(&two.b.issuer), "{by_email}");
}

#[rocket::async_test]
async fn a_login_completes_only_with_the_answer_of_the_provider_it_started_at() {
    let two = two().await;
    let (cookies, at_b) = start(&two.client, "idp=b").await;
    // A's token, A named: B's attempt refuses the other issuer.
    let mixed = answer(&two.client, &cookies, &at_b, &two.a, &two.a, "alice").await;
    assert_eq!(mixed.status().code, 400);
    assert!(set_cookies(&mixed)
        .iter()
        .all(|c| c.name() != "bff_session"));
    // A's token while claiming to be B: the ID token's issuer is checked against B.
    let (cookies, at_b) = start(&two.client, "idp=b").await;
    let forged = answer(&two.client, &cookies, &at_b, &two.a, &two.b, "alice").await;
    assert!(
        matches!(forged.status().code, 400 | 401),
        "{}",
        forged.status()
    );
    assert!(set_cookies(&forged)
        .iter()
        .all(|c| c.name() != "bff_session"));
    // B's own answer.
    let (cookies, at_b) = start(&two.client, "idp=b").await;
    let session = session_of(&answer(&two.client, &cookies, &at_b, &two.b, &two.b, "alice").await);
    assert_eq!(hello(&two.client, &session).await, 200);
    let about = two
        .client
        .get("/session")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    let about: serde_json::Value =
        serde_json::from_str(&about.into_string().await.unwrap()).unwrap();
    assert_eq!(about["provider"], "b", "{about}");
    let profile = two
        .client
        .get("/profile")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .header(Header::new("Sec-Fetch-Dest", "document"))
        .dispatch()
        .await;
    assert_eq!(profile.status().code, 200);
    assert!(profile.into_string().await.unwrap().contains("Company B"));
}

#[rocket::async_test]
async fn a_back_channel_logout_ends_only_the_sessions_of_the_issuer_that_sent_it() {
    let two = two().await;
    // The same `sub` at both providers: two different users.
    let (cookies, at_a) = start(&two.client, "idp=default").await;
    let alice_a = session_of(&answer(&two.client, &cookies, &at_a, &two.a, &two.a, "alice").await);
    let (cookies, at_b) = start(&two.client, "idp=b").await;
    let alice_b = session_of(&answer(&two.client, &cookies, &at_b, &two.b, &two.b, "alice").await);

    let token = two
        .b
        .logout_token(&two.b.logout_claims(None, Some("alice")));
    let response = two
        .client
        .post("/backchannel-logout")
        .header(ContentType::Form)
        .body(format!("logout_token={token}"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 200);
    assert_eq!(
        hello(&two.client, &alice_b).await,
        401,
        "B's alice is logged out"
    );
    assert_eq!(
        hello(&two.client, &alice_a).await,
        200,
        "A's alice is someone else"
    );

    let stranger = TestIdp::start().await;
    let token = stranger.logout_token(&stranger.logout_claims(None, Some("alice")));
    let response = two
        .client
        .post("/backchannel-logout")
        .header(ContentType::Form)
        .body(format!("logout_token={token}"))
        .dispatch()
        .await;
    assert_eq!(
        response.status().code,
        400,
        "an unknown issuer's logout token"
    );
    let refusal = response.into_string().await.unwrap();
    assert!(refusal.contains("another identity provider"), "{refusal}");
    assert_eq!(hello(&two.client, &alice_a).await, 200);
}

#[rocket::async_test]
async fn a_bad_providers_entry_stops_start_up_naming_the_provider_and_the_key() {
    let (a, b) = (TestIdp::start().await, TestIdp::start().await);
    for (pairs, named) in [
        (vec![("oidc.providers.c.issuer", "not a url")], "issuer"),
        (
            vec![("oidc.providers.c.issuer", "https://c.example")],
            "client_id",
        ),
        (
            vec![
                ("oidc.providers.c.issuer", "https://c.example"),
                ("oidc.providers.c.client_id", "app"),
                ("oidc.providers.c.response_type", "token"),
            ],
            "response_type",
        ),
    ] {
        let figment = pairs
            .into_iter()
            .fold(figment(&a, &b), |figment, pair| figment.merge(pair));
        let error = helpers::bff::build_from(figment)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("`c`"), "{error}");
        assert!(error.contains(named), "{error}");
    }
    let figment = figment(&a, &b)
        .merge(("oidc.providers.c.issuer", b.issuer.clone()))
        .merge(("oidc.providers.c.client_id", CLIENT_ID))
        .merge(("oidc.providers.c.response_mode", "query"));
    let error = helpers::bff::build_from(figment)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("`c`") && error.contains("response_mode"),
        "{error}"
    );
}

/// A code-flow login at provider `b` (named by `iss`); the session cookie.
async fn code_login_at_b(client: &Client, b: &TestIdp) -> Cookie<'static> {
    let (cookies, at_b) = start(client, "idp=b").await;
    assert_eq!(param(&at_b, "response_type"), "code");
    let code = b
        .back
        .grant_code(&param(&at_b, "nonce"), &param(&at_b, "code_challenge"));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", &param(&at_b, "state"))
        .append_pair("iss", &b.issuer)
        .finish();
    let mut request = client
        .post("/callback")
        .header(ContentType::Form)
        .body(body);
    for cookie in &cookies {
        request = request.cookie(cookie.clone());
    }
    session_of(&request.dispatch().await)
}

#[rocket::async_test]
async fn a_code_flow_session_at_b_calls_b_userinfo_and_refreshes_at_b_only() {
    let (a, b) = (TestIdp::start().await, TestIdp::start().await);
    let figment = figment(&a, &b)
        .merge(("oidc.providers.b.response_type", "code"))
        .merge((
            "oidc.providers.b.client_secret",
            helpers::back_channel::CLIENT_SECRET,
        ));
    let rocket = helpers::bff::build_from(figment).expect("valid config");
    let client = Client::untracked(rocket).await.expect("app ignites");
    let session = code_login_at_b(&client, &b).await;
    let upstream = |session: Cookie<'static>| {
        let client = &client;
        async move {
            client
                .get("/api/upstream")
                .cookie(session)
                .header(Header::new("Sec-Fetch-Mode", "cors"))
                .dispatch()
                .await
                .status()
                .code
        }
    };
    let before = b.back.userinfo_requests.lock().unwrap().len();
    assert_eq!(upstream(session.clone()).await, 200);
    assert_eq!(b.back.userinfo_requests.lock().unwrap().len(), before + 1);
    assert_eq!(
        a.back.userinfo_requests.lock().unwrap().len(),
        0,
        "B's token went to A"
    );
    // Due for refresh: at B's token endpoint, never A's.
    b.back
        .access_ttl
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let expiring = code_login_at_b(&client, &b).await;
    assert_eq!(upstream(expiring).await, 200);
    assert!(
        b.back
            .refresh_count
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    assert_eq!(
        a.back
            .refresh_count
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// Two certified `oidc-provider` instances, two issuers: a real login at each through the
/// choice (the second answering in the query), each session bound to its provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_logins_at_two_oidc_provider_issuers_one_in_query_mode_each_bound_to_its_own() {
    use helpers::oidc_provider::{log_in_from, OidcProvider};
    let first = OidcProvider::start(&[]).await;
    let second = OidcProvider::start(&[]).await;
    let (one, two) = (first.issuer.clone(), second.issuer.clone());
    let app = helpers::app_with(move |f| {
        f.merge(("oidc.issuer", one))
            .merge(("oidc.login_rate_limit", 0))
            .merge(("oidc.providers.second.issuer", two))
            .merge(("oidc.providers.second.client_id", CLIENT_ID))
            .merge((
                "oidc.providers.second.client_secret",
                helpers::back_channel::CLIENT_SECRET,
            ))
            .merge(("oidc.providers.second.response_type", "code"))
            .merge(("oidc.providers.second.response_mode", "query"))
    })
    .await;
    let provider_of_session = || async {
        let about = app
            .client
            .get("/session")
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .dispatch()
            .await;
        let about: serde_json::Value =
            serde_json::from_str(&about.into_string().await.unwrap_or_default())
                .unwrap_or_default();
        about["provider"].as_str().unwrap_or_default().to_string()
    };
    log_in_from(
        &app,
        "/login?idp=second&returnTo=%2F",
        &second.issuer,
        "bob",
        "bob-password",
    )
    .await;
    assert_eq!(provider_of_session().await, "second");
    assert_eq!(app.call_api().await.status().code, 200);
    log_in_from(
        &app,
        "/login?idp=default&returnTo=%2F",
        &first.issuer,
        "alice",
        "alice-password",
    )
    .await;
    assert_eq!(provider_of_session().await, "default");
    assert_eq!(app.call_api().await.status().code, 200);
}

#[rocket::async_test]
async fn a_logged_in_users_step_up_goes_back_to_the_sessions_provider() {
    let two = two().await;
    let (cookies, at_b) = start(&two.client, "idp=b").await;
    let session = session_of(&answer(&two.client, &cookies, &at_b, &two.b, &two.b, "alice").await);
    let step_up = two
        .client
        .get("/login?acr_values=urn%3Amfa&returnTo=%2Fprofile")
        .cookie(session)
        .dispatch()
        .await;
    assert_eq!(
        step_up.status().code,
        302,
        "no choice page for a logged-in user"
    );
    let location = step_up.headers().get_one("Location").unwrap_or_default();
    assert!(location.starts_with(&two.b.issuer), "{location}");
    assert!(location.contains("acr_values=urn%3Amfa"), "{location}");
}
