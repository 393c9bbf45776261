//! The app binary as its own process (as operators run it), in front of the in-process test
//! IdP, stopped by PID when dropped; and the HTTP steps a browser takes against it.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openidconnect::reqwest;
use serde_json::json;

use super::back_channel::CLIENT_SECRET;
use super::free_port;
use super::idp::{TestIdp, CLIENT_ID};

pub const SECRET: &str = "app-process-test-secret-0123456789abcdef";

/// One app process, stopped by PID when dropped. Its standard output (the log) goes to a
/// file that [`AppProcess::log`] reads.
pub struct AppProcess {
    pub url: String,
    pub port: u16,
    pub child: Child,
    log_path: PathBuf,
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// A store file path for the app on `port`, with no file there yet.
pub fn fresh_store_file(port: u16) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("oidc-bff-test-{port}.redb"));
    let _ = std::fs::remove_file(&path);
    path
}

impl AppProcess {
    /// The app against `idp` with the given response type and extra environment (an empty
    /// value unsets the variable).
    pub fn start(idp: &TestIdp, response_type: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!("oidc-bff-test-{port}.log"));
        let log = File::create(&log_path).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_oidc-bff"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ISSUER_BASE_URL", &idp.issuer)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("RESPONSE_TYPE", response_type)
            .env("BASE_URL", "http://localhost:3000")
            .env("SECRET", SECRET)
            .env("RUST_LOG", "warn")
            // Its own store file, unless the test names one (to restart on the same file).
            .env("STORE_PATH", fresh_store_file(port))
            .stdout(Stdio::from(log))
            .stderr(Stdio::inherit());
        for (name, value) in env {
            match value.is_empty() {
                true => command.env_remove(name),
                false => command.env(name, value),
            };
        }
        let child = command.spawn().expect("the app binary starts");
        let process = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            child,
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "app on {port} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    /// Waits until `/readyz` answers 200 (the IdP answers, and a shared store is reachable and
    /// its revocations read), as a load balancer would before sending it traffic.
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.url);
        super::wait_until(Duration::from_secs(15), "the app is ready", || async {
            http()
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops it as a deploy would (SIGTERM) and waits until it has exited.
    pub fn stop_gracefully(mut self) {
        self.terminate();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("the app's status").is_none() {
            assert!(Instant::now() < deadline, "the app did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (as an orchestrator stopping it would).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// `name=value` of each cookie a response sets (values as sent: still percent-encoded).
pub fn cookies(response: &reqwest::Response, prefix: &str) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| pair.starts_with(prefix) && !pair.ends_with('='))
        .map(str::to_string)
        .collect()
}

pub struct LoginStart {
    pub cookie: String,
    pub state: String,
    pub nonce: String,
    pub challenge: Option<String>,
}

pub async fn start_login(app: &AppProcess) -> LoginStart {
    let response = http()
        .get(format!("{}/login", app.url))
        .send()
        .await
        .expect("/login answers");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let params: HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    LoginStart {
        cookie: cookies(&response, "bff_login_").join("; "),
        state: params["state"].clone(),
        nonce: params["nonce"].clone(),
        challenge: params.get("code_challenge").cloned(),
    }
}

pub async fn callback(
    app: &AppProcess,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(format!("{}/callback", app.url))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .expect("/callback answers")
}

/// A whole login at `app`; `sid` goes into the ID token (implicit flow only). Returns the
/// session cookie.
pub async fn log_in(idp: &TestIdp, app: &AppProcess, sid: Option<&str>) -> String {
    let start = start_login(app).await;
    let response = match &start.challenge {
        Some(challenge) => {
            let code = idp.back.grant_code(&start.nonce, challenge);
            callback(
                app,
                &start.cookie,
                &[("code", &code), ("state", &start.state)],
            )
            .await
        }
        None => {
            let mut claims = idp.claims(&start.nonce);
            if let Some(sid) = sid {
                claims["sid"] = json!(sid);
            }
            let token = idp.token(&claims);
            callback(
                app,
                &start.cookie,
                &[("id_token", &token), ("state", &start.state)],
            )
            .await
        }
    };
    assert_eq!(response.status(), 303, "login accepted");
    cookies(&response, "bff_session=")
        .pop()
        .expect("a session cookie")
}

/// The status of `GET path` as a script's `fetch` sends it (0 when nothing answered).
pub async fn api(app: &AppProcess, path: &str, session: &str) -> u16 {
    http()
        .get(format!("{}{path}", app.url))
        .header("cookie", session)
        .header("sec-fetch-mode", "cors")
        .header("sec-fetch-dest", "empty")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

pub async fn logout(app: &AppProcess, session: &str) {
    let response = http()
        .post(format!("{}/logout", app.url))
        .header("cookie", session)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("/logout answers");
    assert_eq!(response.status(), 303);
}
