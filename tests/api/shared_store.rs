//! Two app instances sharing one store, in one process: what must hold across instances
//! (sessions, logouts, single-use `state`s, one refresh for many concurrent calls), and what a
//! store that goes down does (503 where the store is needed, the cookie kept, recovery without
//! a restart). `two_instances` runs the same story with two processes and Redis.

use crate::helpers::{self, set_cookies};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::back_channel::CLIENT_SECRET;
use helpers::bff::{RedisStore, Store};
use helpers::idp::TestIdp;
use helpers::redis::RedisServer;
use helpers::store::ObservedStore;
use rocket::figment::Figment;
use rocket::futures::future::join_all;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;

/// Instances A and B in front of one IdP, sharing the cookie key and a store: one
/// `ObservedStore`, or one Redis through a `RedisStore` each.
struct Pair {
    idp: TestIdp,
    a: Client,
    b: Client,
    store: Option<Arc<ObservedStore>>,
}

impl Pair {
    /// The `ObservedStore` both instances share.
    fn observed(&self) -> &ObservedStore {
        self.store
            .as_deref()
            .expect("a pair sharing an ObservedStore")
    }
}

/// One instance in front of `idp` with `store`.
async fn instance(
    idp: &TestIdp,
    store: Arc<dyn Store>,
    customize: &impl Fn(Figment) -> Figment,
) -> Client {
    let figment = customize(helpers::figment(&idp.issuer));
    let rocket = helpers::bff::build_with_store(figment, store).expect("valid config");
    Client::untracked(rocket).await.expect("app ignites")
}

async fn pair_with(customize: impl Fn(Figment) -> Figment) -> Pair {
    let idp = TestIdp::start().await;
    let store = Arc::new(ObservedStore::default());
    let a = instance(&idp, store.clone(), &customize).await;
    let b = instance(&idp, store.clone(), &customize).await;
    Pair {
        idp,
        a,
        b,
        store: Some(store),
    }
}

/// A and B with a `RedisStore` each on one Redis, as two processes would be.
async fn redis_pair(redis: &RedisServer) -> Pair {
    let idp = TestIdp::start().await;
    let figment = Figment::new().merge(("oidc.redis_url", redis.url()));
    let settings = helpers::bff::redis_settings(&figment)
        .expect("valid settings")
        .expect("a Redis URL");
    let store = || Arc::new(RedisStore::new(&settings).expect("usable URL"));
    let a = instance(&idp, store(), &|f| f).await;
    let b = instance(&idp, store(), &|f| f).await;
    Pair {
        idp,
        a,
        b,
        store: None,
    }
}

async fn pair() -> Pair {
    pair_with(|f| f).await
}

async fn code_pair() -> Pair {
    pair_with(|f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.client_secret", CLIENT_SECRET))
    })
    .await
}

fn named(cookies: &[Cookie<'static>], prefix: &str) -> Vec<Cookie<'static>> {
    cookies
        .iter()
        .filter(|c| c.name().starts_with(prefix))
        .cloned()
        .collect()
}

/// `/login` on `client`: the login cookie, state and nonce (and PKCE challenge, if any).
async fn start_login(client: &Client) -> (Vec<Cookie<'static>>, String, String, Option<String>) {
    let response = client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 302);
    let location = response.headers().get_one("Location").unwrap().to_string();
    let params: std::collections::HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    (
        named(&set_cookies(&response), "bff_login"),
        params["state"].clone(),
        params["nonce"].clone(),
        params.get("code_challenge").cloned(),
    )
}

async fn post_callback<'c>(
    client: &'c Client,
    cookies: &[Cookie<'static>],
    fields: &[(&str, &str)],
) -> LocalResponse<'c> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    client
        .post("/callback")
        .header(ContentType::Form)
        .cookies(cookies.to_vec())
        .body(body)
        .dispatch()
        .await
}

/// A whole login on A; returns the session cookie.
async fn log_in(pair: &Pair) -> Cookie<'static> {
    let (cookies, state, nonce, challenge) = start_login(&pair.a).await;
    let response = match challenge {
        Some(challenge) => {
            let code = pair.idp.back.grant_code(&nonce, &challenge);
            post_callback(&pair.a, &cookies, &[("code", &code), ("state", &state)]).await
        }
        None => {
            let token = pair.idp.token(&pair.idp.claims(&nonce));
            post_callback(
                &pair.a,
                &cookies,
                &[("id_token", &token), ("state", &state)],
            )
            .await
        }
    };
    assert_eq!(response.status().code, 303, "login accepted");
    named(&set_cookies(&response), "bff_session")
        .pop()
        .expect("a session cookie")
}

async fn api<'c>(client: &'c Client, path: &str, session: &Cookie<'static>) -> LocalResponse<'c> {
    client
        .get(path.to_string())
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Dest", "empty"))
        .dispatch()
        .await
}

async fn json(response: LocalResponse<'_>) -> Value {
    serde_json::from_str(&response.into_string().await.unwrap_or_default()).unwrap_or(Value::Null)
}

#[rocket::async_test]
async fn a_session_from_one_instance_works_on_the_other() {
    let pair = pair().await;
    let session = log_in(&pair).await;
    assert_eq!(
        api(&pair.b, "/api/hello", &session).await.status().code,
        200
    );
}

#[rocket::async_test]
async fn a_logout_on_one_instance_is_refused_on_the_other() {
    let pair = pair().await;
    let session = log_in(&pair).await;
    let logout = pair
        .a
        .post("/logout")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 303);
    assert_eq!(
        api(&pair.b, "/api/hello", &session).await.status().code,
        401
    );
}

#[rocket::async_test]
async fn on_redis_a_logout_on_one_instance_is_refused_on_the_other_within_a_second() {
    let redis = RedisServer::start();
    let pair = redis_pair(&redis).await;
    let session = log_in(&pair).await;
    // B vouches for sessions once it has read the revocations (503 until then).
    let deadline = Instant::now() + Duration::from_secs(10);
    while api(&pair.b, "/api/hello", &session).await.status().code != 200 {
        assert!(Instant::now() < deadline, "B never accepted the session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logout = pair
        .a
        .post("/logout")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 303);
    let logged_out = Instant::now();
    while api(&pair.b, "/api/hello", &session).await.status().code != 401 {
        assert!(
            logged_out.elapsed() < Duration::from_secs(1),
            "B still accepts the session a second after the logout"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        api(&pair.a, "/api/hello", &session).await.status().code,
        401
    );
}

#[rocket::async_test]
async fn the_same_state_posted_to_both_instances_at_once_makes_exactly_one_session() {
    let pair = pair().await;
    let (cookies, state, nonce, _) = start_login(&pair.a).await;
    let token = pair.idp.token(&pair.idp.claims(&nonce));
    let fields = [("id_token", token.as_str()), ("state", state.as_str())];
    let (to_a, to_b) = tokio::join!(
        post_callback(&pair.a, &cookies, &fields),
        post_callback(&pair.b, &cookies, &fields)
    );
    let mut statuses = [to_a.status().code, to_b.status().code];
    statuses.sort();
    assert_eq!(statuses, [303, 400], "one login, one refusal");
    // The loser lost the race for the state (not, say, its cookie or the token).
    let loser = if to_a.status().code == 400 {
        to_a
    } else {
        to_b
    };
    let body = helpers::text(loser).await;
    assert!(
        body.contains("This login response was already used"),
        "the refusal names the used state: {body}"
    );
}

#[rocket::async_test]
async fn twenty_concurrent_calls_split_across_instances_share_one_refresh() {
    let pair = code_pair().await;
    pair.idp.back.access_ttl.store(30, Ordering::SeqCst); // inside the 60 s margin
    let session = log_in(&pair).await;
    pair.idp.back.access_ttl.store(3600, Ordering::SeqCst);
    *pair.idp.back.refresh_delay.lock().unwrap() = Duration::from_millis(300);
    let calls = (0..20).map(|i| {
        let client = if i % 2 == 0 { &pair.a } else { &pair.b };
        let session = session.clone();
        async move { api(client, "/api/upstream", &session).await.status().code }
    });
    let statuses = join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(pair.idp.back.refresh_count.load(Ordering::SeqCst), 1);
}

#[rocket::async_test]
async fn with_the_store_down_session_checks_logins_and_token_calls_answer_503_then_recover() {
    let pair = code_pair().await;
    let session = log_in(&pair).await;
    let (cookies, state, nonce, challenge) = start_login(&pair.a).await;
    pair.observed().set_failing(true);

    let hello = api(&pair.b, "/api/hello", &session).await;
    assert_eq!(hello.status().code, 503);
    assert!(
        hello.headers().get("Set-Cookie").next().is_none(),
        "the cookie is kept for when the store is back"
    );
    assert_eq!(json(hello).await["error"], "temporarily_unavailable");

    let page = pair
        .b
        .get("/profile")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .header(Header::new("Sec-Fetch-Dest", "document"))
        .dispatch()
        .await;
    assert_eq!(page.status().code, 503);

    let login = pair.a.get("/login").dispatch().await;
    assert_eq!(login.status().code, 503);
    assert!(login
        .into_string()
        .await
        .unwrap_or_default()
        .contains("session store"));

    let code = pair.idp.back.grant_code(&nonce, &challenge.unwrap());
    let callback = post_callback(&pair.a, &cookies, &[("code", &code), ("state", &state)]).await;
    assert_eq!(callback.status().code, 503);

    pair.observed().set_failing(false);
    assert_eq!(
        api(&pair.b, "/api/hello", &session).await.status().code,
        200
    );
    assert_eq!(
        api(&pair.a, "/api/upstream", &session).await.status().code,
        200
    );
    assert_eq!(pair.a.get("/login").dispatch().await.status().code, 302);
}

#[rocket::async_test]
async fn the_store_never_holds_a_token_in_the_clear() {
    let pair = code_pair().await;
    let session = log_in(&pair).await;
    assert_eq!(
        api(&pair.b, "/api/upstream", &session).await.status().code,
        200
    );
    let keys = pair.observed().puts();
    assert!(keys.iter().any(|k| k.starts_with("tokens:")), "{keys:?}");
    let issued: Vec<String> = pair
        .idp
        .back
        .access_tokens
        .lock()
        .unwrap()
        .iter()
        .chain(pair.idp.back.refresh_tokens.lock().unwrap().iter())
        .cloned()
        .collect();
    for key in &keys {
        let value = pair
            .observed()
            .inner
            .get(key)
            .await
            .unwrap()
            .unwrap_or_default();
        for token in &issued {
            assert!(
                !value.contains(token.as_str()),
                "{key} holds a token in the clear"
            );
            assert!(!key.contains(token.as_str()), "a key names a token");
        }
    }
}

#[rocket::async_test]
async fn a_logout_the_store_cannot_record_answers_503_and_keeps_the_session_to_try_again() {
    let pair = pair().await;
    let session = log_in(&pair).await;
    pair.observed().set_failing(true);
    let logout = pair
        .a
        .post("/logout")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 503);
    assert!(
        logout
            .headers()
            .get("Set-Cookie")
            .all(|c| !c.starts_with("bff_session=")),
        "the cookie is kept, so the logout can be tried again"
    );
    assert!(logout
        .into_string()
        .await
        .unwrap_or_default()
        .contains("still logged in"));

    pair.observed().set_failing(false);
    assert_eq!(
        api(&pair.b, "/api/hello", &session).await.status().code,
        200
    );
    let logout = pair
        .a
        .post("/logout")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 303);
    assert_eq!(
        api(&pair.b, "/api/hello", &session).await.status().code,
        401
    );
}
