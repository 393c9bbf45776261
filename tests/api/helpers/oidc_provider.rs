//! The certified `oidc-provider` (`tests/e2e/idp/server.js`) as a process on a free port, for
//! integration tests that need a real IdP's behaviour (resource indicators, client
//! credentials), with the test's client; stopped by PID when dropped. A login is driven over
//! HTTP as a browser would: the IdP's redirects, its sign-in form, its consent (automatic),
//! and its `form_post` page, whose fields the test posts to the in-process app's `/callback`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dev_idp::testing::{hidden_fields, http_client, IdpPage};
use rocket::http::Status;

use super::back_channel::CLIENT_SECRET;
use super::{free_port, TestApp, CLIENT_ID};

pub struct OidcProvider {
    pub issuer: String,
    child: Child,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/idp")
}

impl OidcProvider {
    /// Starts it with the test client (`CLIENT_ID`, `CLIENT_SECRET`, the test app's base URL)
    /// and `env` on top; panics when it does not serve discovery within 20 s.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run scripts/install-test-deps.sh"
        );
        let port = free_port();
        let log_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/api-logs");
        std::fs::create_dir_all(&log_dir).expect("log directory");
        let log = std::fs::File::create(log_dir.join(format!("oidc-provider-{port}.log")))
            .expect("log file");
        let child = Command::new("node")
            .arg(dir.join("server.js"))
            .current_dir(&dir)
            .env("IDP_PORT", port.to_string())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("APP_BASE_URL", "http://localhost:3000")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("node starts (Node.js is installed by scripts/install-test-deps.sh)");
        let provider = Self {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = http_client();
        while !http
            .get(&discovery)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "oidc-provider did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        provider
    }
}

/// The cookies the IdP set, as a browser keeps them (by name; paths do not matter here).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, page: &IdpPage) {
        for cookie in &page.set_cookie {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.0.insert(name.trim().to_string(), value.to_string());
            }
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }
}

/// Logs `username` in at `app` (configured with the provider as its issuer): `/login`, the
/// IdP's pages, and the `form_post` back to `/callback`. Panics unless the login succeeds.
pub async fn log_in(app: &TestApp, issuer: &str, username: &str, password: &str) {
    log_in_from(app, "/login?returnTo=%2F", issuer, username, password).await;
}

/// As [`log_in`], starting at `login` (e.g. `/login?idp=b` with several providers).
pub async fn log_in_from(app: &TestApp, login: &str, issuer: &str, username: &str, password: &str) {
    let response = app.client.get(login.to_string()).dispatch().await;
    assert_eq!(
        response.status(),
        Status::Found,
        "login redirects to the IdP"
    );
    let mut url = response
        .headers()
        .get_one("Location")
        .expect("Location")
        .to_string();
    let http = http_client();
    let mut jar = Jar::default();
    for _ in 0..12 {
        let page = IdpPage::read(
            http.get(&url)
                .header("cookie", jar.header())
                .send()
                .await
                .expect("IdP answers"),
        )
        .await;
        jar.take(&page);
        let page = if page.is_sign_in() {
            let action = format!("{url}/login");
            let sent = http
                .post(&action)
                .header("cookie", jar.header())
                .form(&[("login", username), ("password", password)])
                .send()
                .await
                .expect("IdP answers");
            let page = IdpPage::read(sent).await;
            jar.take(&page);
            page
        } else {
            page
        };
        if let Some(location) = &page.location {
            // A query-mode answer comes back as a redirect to the app's callback.
            if let Some(query) = location.strip_prefix("http://localhost:3000/callback?") {
                let callback = app
                    .client
                    .get(format!("/callback?{query}"))
                    .dispatch()
                    .await;
                assert_eq!(callback.status(), Status::SeeOther, "login accepted");
                return;
            }
            url = absolute(issuer, location);
            continue;
        }
        assert!(
            page.body.contains("http://localhost:3000/callback"),
            "the IdP's page is neither a redirect nor the form_post: {} {}",
            page.status,
            page.body
        );
        let fields = hidden_fields(&page.body);
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let callback = app.callback(&fields).await;
        assert_eq!(callback.status(), Status::SeeOther, "login accepted");
        return;
    }
    panic!("the IdP never sent the browser back");
}

fn absolute(issuer: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{issuer}{location}")
    } else {
        location.to_string()
    }
}

/// The claims of a JWT access token, read without checking it (the test only asks what the
/// IdP put in it); `None` for a token that is not a JWT (the opaque one for UserInfo).
pub fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}
