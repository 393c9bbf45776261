//! Two app processes sharing one Redis (standalone, then a 3-master cluster), in front of the
//! in-process test IdP: a session from A works on B; a logout on A is refused on B within the
//! documented window; a back-channel logout posted to B ends the session on A; one `state`
//! posted to both at once makes one session; 20 calls split across A and B at the access
//! token's expiry make one refresh; ended sessions stay ended across a Redis restart.

use crate::helpers;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use helpers::app_process::{api, callback, http, log_in, logout, start_login, AppProcess};
use helpers::idp::{now, TestIdp, CLIENT_ID};
use helpers::redis::{RedisCluster, RedisServer};
use rocket::futures::future::join_all;
use serde_json::json;
/// What the README promises: a logout reaches every instance within this.
const WINDOW: Duration = Duration::from_secs(1);

/// How long until `instance` refuses `session` (polling), or `None` past `limit`.
async fn refused_within(instance: &AppProcess, session: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if api(instance, "/api/hello", session).await == 401 {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// A logout token from the test IdP, signed with its key.
fn logout_token(idp: &TestIdp, sid: &str) -> String {
    let t = now();
    let claims = json!({
        "iss": idp.issuer, "aud": CLIENT_ID, "iat": t, "exp": t + 120,
        "jti": format!("jti-{}", rand_suffix()), "sid": sid,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    idp.token(&claims)
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The whole story on the Redis at `redis_url`; `restart` restarts that Redis in between.
async fn story(redis_url: &str, mut restart: impl FnMut()) {
    let idp = TestIdp::start().await;
    let a = AppProcess::start(&idp, "id_token", &[("REDIS_URL", redis_url)]);
    let b = AppProcess::start(&idp, "id_token", &[("REDIS_URL", redis_url)]);

    // A session from A works on B.
    let session = log_in(&idp, &a, Some("idp-session-1")).await;
    assert_eq!(api(&b, "/api/hello", &session).await, 200);

    // A logout on A is refused on B within the window.
    logout(&a, &session).await;
    let took = refused_within(&b, &session, WINDOW).await;
    assert!(
        took.is_some(),
        "B still accepts the session after {WINDOW:?}"
    );

    // A back-channel logout posted to B ends the session on A.
    let other = log_in(&idp, &a, Some("idp-session-2")).await;
    assert_eq!(api(&a, "/api/hello", &other).await, 200);
    let response = http()
        .post(format!("{}/backchannel-logout", b.url))
        .form(&[("logout_token", logout_token(&idp, "idp-session-2"))])
        .send()
        .await
        .expect("back-channel logout answers");
    assert_eq!(response.status(), 200);
    assert!(
        refused_within(&a, &other, WINDOW).await.is_some(),
        "A still accepts a session the IdP ended through B"
    );

    // One state posted to A and B at once: exactly one session.
    let start = start_login(&a).await;
    let token = idp.token(&idp.claims(&start.nonce));
    let fields = [
        ("id_token", token.as_str()),
        ("state", start.state.as_str()),
    ];
    let (to_a, to_b) = tokio::join!(
        callback(&a, &start.cookie, &fields),
        callback(&b, &start.cookie, &fields)
    );
    let mut statuses = [to_a.status().as_u16(), to_b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 400]);
    // The loser lost the race for the state (not, say, its cookie or the token).
    let loser = if to_a.status().as_u16() == 400 {
        to_a
    } else {
        to_b
    };
    let body = loser.text().await.expect("the refusal's page");
    assert!(
        body.contains("This login response was already used"),
        "the refusal names the used state: {body}"
    );

    // A session nobody ended, to tell "ended sessions stay ended" from "every session is
    // refused" after the restart.
    let kept = log_in(&idp, &a, Some("idp-session-3")).await;
    assert_eq!(api(&b, "/api/hello", &kept).await, 200);

    // Ended sessions stay ended across a restart of Redis.
    drop((a, b));
    restart();
    let a = AppProcess::start(&idp, "id_token", &[("REDIS_URL", redis_url)]);
    // Until it has read the revocations, an instance answers 503 rather than guess.
    a.wait_ready().await;
    assert_eq!(api(&a, "/api/hello", &session).await, 401);
    assert_eq!(api(&a, "/api/hello", &other).await, 401);
    // ... while the one nobody ended still works, and new logins do.
    assert_eq!(
        api(&a, "/api/hello", &kept).await,
        200,
        "a session nobody ended survives the restart"
    );
    let fresh = log_in(&idp, &a, Some("idp-session-4")).await;
    assert_eq!(api(&a, "/api/hello", &fresh).await, 200);
}

/// 20 upstream calls split across A and B when the access token is due: one refresh.
async fn one_refresh_for_twenty_calls(redis_url: &str) {
    let idp = TestIdp::start().await;
    let a = AppProcess::start(&idp, "code", &[("REDIS_URL", redis_url)]);
    let b = AppProcess::start(&idp, "code", &[("REDIS_URL", redis_url)]);
    idp.back.access_ttl.store(30, Ordering::SeqCst); // inside the 60 s margin
    let session = log_in(&idp, &a, None).await;
    idp.back.access_ttl.store(3600, Ordering::SeqCst);
    *idp.back.refresh_delay.lock().unwrap() = Duration::from_millis(300);
    let calls = (0..20).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        let session = session.clone();
        async move { api(instance, "/api/upstream", &session).await }
    });
    let statuses = join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(idp.back.refresh_count.load(Ordering::SeqCst), 1);
    // Nobody was logged out.
    assert_eq!(api(&b, "/api/hello", &session).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_logouts_and_states_on_standalone_redis() {
    let mut redis = RedisServer::start_persistent();
    let url = redis.url();
    story(&url, || redis.restart()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_refresh_once_for_twenty_split_calls_on_standalone_redis() {
    let redis = RedisServer::start();
    one_refresh_for_twenty_calls(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_logouts_and_states_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    // The cluster runs without persistence: "restart" is a no-op here, and the story then
    // checks the revocations survive the app instances' restart.
    story(&cluster.url(), || {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_refresh_once_for_twenty_split_calls_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    one_refresh_for_twenty_calls(&cluster.url()).await;
}
