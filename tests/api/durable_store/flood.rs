//! Floods of logins and logouts against a small `ENDED_SESSIONS_CAPACITY`: one account doing
//! capacity × 3 cycles, then capacity × 3 accounts one cycle each. A victim's logged-out
//! cookie copy stays refused throughout, and a new login still works; with the file, Redis and
//! the memory store. Also: a user's session sets shrink at logout, and `MAX_SESSIONS_PER_USER`
//! ends the oldest session.

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::Client;
use serde_json::json;

use super::store_path;
use crate::helpers::bff::{RedisStore, Store};
use crate::helpers::idp::TestIdp;
use crate::helpers::redis::RedisServer;
use crate::helpers::{self, set_cookies};

const CAPACITY: usize = 100;

fn figment(idp: &TestIdp) -> Figment {
    helpers::figment(&idp.issuer)
        .merge(("oidc.login_rate_limit", 0))
        .merge(("oidc.ended_sessions_capacity", CAPACITY))
}

async fn client(rocket: rocket::Rocket<rocket::Build>) -> Client {
    Client::untracked(rocket).await.expect("app ignites")
}

/// A whole login as `sub`; returns the session cookie.
async fn log_in_as(client: &Client, idp: &TestIdp, sub: &str) -> Cookie<'static> {
    let response = client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 302);
    let location = response.headers().get_one("Location").unwrap().to_string();
    let params: std::collections::HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let mut claims = idp.claims(&params["nonce"]);
    claims["sub"] = json!(sub);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token", &idp.token(&claims))
        .append_pair("state", &params["state"])
        .finish();
    let mut callback = client
        .post("/callback")
        .header(ContentType::Form)
        .body(body);
    for cookie in set_cookies(&response) {
        callback = callback.cookie(cookie);
    }
    let response = callback.dispatch().await;
    assert_eq!(response.status().code, 303, "login of {sub} accepted");
    set_cookies(&response)
        .into_iter()
        .find(|c| c.name() == "bff_session")
        .expect("a session cookie")
}

async fn log_out(client: &Client, session: &Cookie<'static>) {
    let response = client
        .post("/logout")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 303);
}

async fn api_status(client: &Client, session: &Cookie<'static>) -> u16 {
    client
        .get("/api/hello")
        .cookie(session.clone())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await
        .status()
        .code
}

/// The whole flood against `client`; the victim's copy is checked every `CAPACITY / 4` cycles.
async fn flood(client: &Client, idp: &TestIdp) {
    let victim = log_in_as(client, idp, "victim").await;
    let victim_copy = victim.clone();
    log_out(client, &victim).await;
    assert_eq!(api_status(client, &victim_copy).await, 401);
    for i in 0..CAPACITY * 3 {
        let session = log_in_as(client, idp, "mallory").await;
        log_out(client, &session).await;
        if i % (CAPACITY / 4) == 0 {
            assert_eq!(
                api_status(client, &victim_copy).await,
                401,
                "after {i} cycles of one account"
            );
        }
    }
    for i in 0..CAPACITY * 3 {
        let session = log_in_as(client, idp, &format!("account-{i}")).await;
        log_out(client, &session).await;
        if i % (CAPACITY / 4) == 0 {
            assert_eq!(
                api_status(client, &victim_copy).await,
                401,
                "after {i} accounts"
            );
        }
    }
    assert_eq!(api_status(client, &victim_copy).await, 401);
    // A new login still works, for the victim and for someone new.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for sub in ["victim", "newcomer"] {
        let fresh = log_in_as(client, idp, sub).await;
        assert_eq!(
            api_status(client, &fresh).await,
            200,
            "a new login of {sub} is refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_never_brings_back_a_logged_out_session_with_the_store_file() {
    let idp = TestIdp::start().await;
    let path = store_path("flood");
    let figment = figment(&idp)
        .merge(("oidc.store", "file"))
        .merge(("oidc.store_path", path.display().to_string()));
    let client = client(helpers::bff::build_from(figment).unwrap()).await;
    flood(&client, &idp).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_never_brings_back_a_logged_out_session_with_the_memory_store() {
    let idp = TestIdp::start().await;
    let client = client(helpers::bff::build_from(figment(&idp)).unwrap()).await;
    flood(&client, &idp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_never_brings_back_a_logged_out_session_and_the_shared_set_stays_bounded_with_redis(
) {
    let redis = RedisServer::start();
    let idp = TestIdp::start().await;
    let figment = figment(&idp).merge(("oidc.redis_url", redis.url()));
    let client = client(helpers::bff::build_from(figment).unwrap()).await;
    flood(&client, &idp).await;
    let held: usize = redis
        .cli(&["zcard", "oidc-bff:revocations"])
        .trim()
        .parse()
        .unwrap();
    let sample = redis.cli(&["zrange", "oidc-bff:revocations", "0", "30"]);
    assert!(
        held <= CAPACITY + 2,
        "the shared set holds {held}: {sample}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_a_smaller_capacity_folds_the_shared_set_and_refuses_every_ended_session()
{
    let redis = RedisServer::start();
    let idp = TestIdp::start().await;
    let on_redis = |capacity: usize| {
        figment(&idp)
            .merge(("oidc.redis_url", redis.url()))
            .merge(("oidc.ended_sessions_capacity", capacity))
    };
    let large = client(helpers::bff::build_from(on_redis(CAPACITY * 10)).unwrap()).await;
    let mut ended = Vec::new();
    for i in 0..CAPACITY * 3 {
        let session = log_in_as(&large, &idp, &format!("account-{i}")).await;
        log_out(&large, &session).await;
        ended.push(session);
    }
    let held = |redis: &RedisServer| -> usize {
        let count = redis.cli(&["zcard", "oidc-bff:revocations"]);
        count.trim().parse().unwrap()
    };
    assert!(held(&redis) >= CAPACITY * 3);

    // The small instance reads the set at start, folds it into its copy, and the set with it.
    let small = client(helpers::bff::build_from(on_redis(CAPACITY)).unwrap()).await;
    helpers::wait_until(
        std::time::Duration::from_secs(10),
        "the shared set is folded",
        || async { held(&redis) <= CAPACITY + 2 },
    )
    .await;
    for (i, session) in ended.iter().enumerate().step_by(CAPACITY / 4) {
        assert_eq!(
            api_status(&small, session).await,
            401,
            "session {i} on the small"
        );
        assert_eq!(
            api_status(&large, session).await,
            401,
            "session {i} on the large"
        );
    }
}

/// The store both sets are read from, and a client on it.
async fn with_store(idp: &TestIdp, store: Arc<dyn Store>, max: usize) -> Client {
    let figment = figment(idp).merge(("oidc.max_sessions_per_user", max));
    client(helpers::bff::build_with_store(figment, store).unwrap()).await
}

async fn user_sets_shrink_at_logout_and_the_limit_ends_the_oldest(store: Arc<dyn Store>) {
    let idp = TestIdp::start().await;
    let client = with_store(&idp, store.clone(), 3).await;
    let set = format!("user-sessions:{}", helpers::bff::digest("alice"));
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(log_in_as(&client, &idp, "alice").await);
    }
    assert_eq!(store.set_members(&set).await.unwrap().len(), 3);
    log_out(&client, &sessions[1]).await;
    assert_eq!(
        store.set_members(&set).await.unwrap().len(),
        2,
        "a logout leaves the set"
    );
    sessions.push(log_in_as(&client, &idp, "alice").await);
    std::thread::sleep(std::time::Duration::from_millis(20));
    sessions.push(log_in_as(&client, &idp, "alice").await);
    assert_eq!(store.set_members(&set).await.unwrap().len(), 3);
    assert_eq!(
        api_status(&client, &sessions[0]).await,
        401,
        "the oldest was not ended"
    );
    for session in &sessions[2..] {
        assert_eq!(api_status(&client, session).await, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_session_set_shrinks_at_logout_and_past_the_limit_the_oldest_ends_in_the_file() {
    let path = store_path("sets");
    let store = Arc::new(helpers::bff::FileStore::open(&path, 1000).unwrap());
    user_sets_shrink_at_logout_and_the_limit_ends_the_oldest(store).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_session_set_shrinks_at_logout_and_past_the_limit_the_oldest_ends_in_redis() {
    let redis = RedisServer::start();
    let figment = Figment::new().merge(("oidc.redis_url", redis.url()));
    let settings = helpers::bff::redis_settings(&figment).unwrap().unwrap();
    let store = Arc::new(RedisStore::new(&settings).unwrap());
    store.start();
    user_sets_shrink_at_logout_and_the_limit_ends_the_oldest(store).await;
}
