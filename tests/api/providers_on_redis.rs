//! Two app processes sharing one Redis, each with two identity providers (the single-issuer
//! one, A, and `[oidc.providers.b]`, B): a session from B works on both instances; a
//! back-channel logout from B posted to one instance ends B's session on the other, and A's
//! user with the same `sub` stays logged in.

use crate::helpers;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use helpers::app_process::{api, callback, cookies, http, AppProcess};
use helpers::idp::{TestIdp, CLIENT_ID};
use helpers::redis::RedisServer;
use serde_json::json;

/// A configuration file naming B (Rocket reads `ROCKET_CONFIG`); removed when dropped.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn naming(b: &TestIdp) -> Self {
        let path = super::durable_store::store_path("providers").with_extension("toml");
        let text = format!(
            "[default.oidc.providers.b]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n",
            b.issuer
        );
        std::fs::write(&path, text).expect("config file");
        Self(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A login of `sub` at the provider `idp` of `app`, signed by `signer`; the session cookie.
async fn log_in_at(app: &AppProcess, idp: &str, signer: &TestIdp, sub: &str) -> String {
    let response = http()
        .get(format!("{}/login?idp={idp}", app.url))
        .send()
        .await
        .expect("/login answers");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&signer.issuer), "{location}");
    let params: HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let cookie = cookies(&response, "bff_login_").join("; ");
    let mut claims = signer.claims(&params["nonce"]);
    claims["sub"] = json!(sub);
    let token = signer.token(&claims);
    let fields = [
        ("id_token", token.as_str()),
        ("state", params["state"].as_str()),
        ("iss", signer.issuer.as_str()),
    ];
    let response = callback(app, &cookie, &fields).await;
    assert_eq!(response.status(), 303, "login of {sub} at {idp} accepted");
    cookies(&response, "bff_session=")
        .pop()
        .expect("a session cookie")
}

async fn refused_within(app: &AppProcess, session: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if api(app, "/api/hello", session).await == 401 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_from_provider_b_reaches_both_instances_and_spares_provider_as_users() {
    let redis = RedisServer::start();
    let (a_idp, b_idp) = (TestIdp::start().await, TestIdp::start().await);
    let config = ConfigFile::naming(&b_idp);
    let env = [
        ("REDIS_URL", redis.url()),
        ("ROCKET_CONFIG", config.0.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let one = AppProcess::start(&a_idp, "id_token", &env);
    let two = AppProcess::start(&a_idp, "id_token", &env);
    one.wait_ready().await;
    two.wait_ready().await;

    let at_b = log_in_at(&one, "b", &b_idp, "alice").await;
    let at_a = log_in_at(&one, "default", &a_idp, "alice").await;
    assert_eq!(
        api(&two, "/api/hello", &at_b).await,
        200,
        "B's session on the other instance"
    );
    assert_eq!(api(&two, "/api/hello", &at_a).await, 200);

    let token = b_idp.logout_token(&b_idp.logout_claims(None, Some("alice")));
    let response = http()
        .post(format!("{}/backchannel-logout", two.url))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("back-channel logout answers");
    assert_eq!(response.status(), 200);
    assert!(
        refused_within(&one, &at_b, Duration::from_secs(1)).await,
        "B's alice still works on the first instance"
    );
    assert_eq!(
        api(&one, "/api/hello", &at_a).await,
        200,
        "A's alice is someone else"
    );
    assert_eq!(api(&two, "/api/hello", &at_a).await, 200);
}
