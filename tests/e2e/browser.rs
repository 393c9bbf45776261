//! Chromium for the browser stories: one browser per story with a fresh profile, driven
//! through ChromeDriver, closed (and, should it outlive its WebDriver session, terminated by
//! its own PID, checked against its profile directory first) when the story ends; and what
//! the stories read of the browser beyond WebDriver (every cookie, every request it made)
//! through ChromeDriver's DevTools and log commands.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use crate::support::{terminate, TempDir};

/// Arguments for the headless Chromium; the profile directory is added per session.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,900",
];

pub const CHROMIUM_BINARY: &str = "/usr/bin/chromium";

/// One Chromium with a fresh profile (so no cookie survives from another session), driven
/// through ChromeDriver.
pub struct BrowserSession {
    pub client: Client,
    browser_pid: Option<i32>,
    profile: TempDir,
    closed: bool,
}

impl BrowserSession {
    pub async fn start(webdriver_url: &str) -> Result<Self, String> {
        let profile = TempDir::new("oidc-bff-e2e-chromium");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
            // The network part of ChromeDriver's performance log: every URL the browser
            // requested, redirects included (see `browser_requests`).
            "goog:loggingPrefs": { "performance": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM_BINARY,
                "args": args,
                "perfLoggingPrefs": { "enableNetwork": true, "enablePage": false },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        install_crypto_provider();
        let client = ClientBuilder::rustls()
            .map_err(|e| format!("TLS set-up for the WebDriver client failed: {e}"))?
            .capabilities(capabilities)
            .connect(webdriver_url)
            .await
            .map_err(|e| {
                format!("cannot start Chromium through ChromeDriver at {webdriver_url}: {e}")
            })?;
        let browser_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(Value::as_i64)
            .map(|pid| pid as i32);
        Ok(Self {
            client,
            browser_pid,
            profile,
            closed: false,
        })
    }

    /// Ends the WebDriver session (ChromeDriver quits the browser) and makes sure the browser
    /// process is gone before its profile directory is removed.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(15), self.client.clone().close()).await;
        if let Some(pid) = self.browser_pid {
            if !wait_until_gone(pid, self.profile.path(), Duration::from_secs(5)).await {
                terminate(pid);
                wait_until_gone(pid, self.profile.path(), Duration::from_secs(5)).await;
            }
        }
        self.closed = true;
    }
}

impl Drop for BrowserSession {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if let Some(pid) = self.browser_pid {
            if is_browser_with_profile(pid, self.profile.path()) {
                terminate(pid);
            }
        }
    }
}

/// fantoccini's rustls connector asks rustls for the process-wide crypto provider. This
/// package's dependency graph enables both of rustls's providers (`ring` through reqwest,
/// `aws-lc-rs` through fantoccini's hyper-rustls), so rustls cannot pick one by itself and
/// panics; choose `ring`, which the app's own HTTP client uses too.
fn install_crypto_provider() {
    // An `Err` only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether `pid` is still a live process started with this profile directory (a zombie or a
/// reused PID has another, or an empty, command line).
fn is_browser_with_profile(pid: i32, profile: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = format!("--user-data-dir={}", profile.display());
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == needle.as_bytes())
}

async fn wait_until_gone(pid: i32, profile: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while is_browser_with_profile(pid, profile) {
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// A Chrome DevTools Protocol command sent through ChromeDriver's `goog/cdp/execute`.
#[derive(Debug)]
struct CdpCommand {
    method: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(
        &self,
        _request_url: &url::Url,
    ) -> (openidconnect::http::Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (openidconnect::http::Method::POST, Some(body.to_string()))
    }
}

/// Every cookie the browser holds, for every site (WebDriver's own cookie command sees only
/// the current page's), as the DevTools Protocol describes them (`name`, `value`, `domain`, …).
pub async fn all_browser_cookies(client: &Client) -> Result<Vec<Value>, String> {
    let answer = client
        .issue_cmd(CdpCommand {
            method: "Network.getAllCookies",
            params: json!({}),
        })
        .await
        .map_err(|e| format!("Network.getAllCookies failed: {e}"))?;
    answer
        .get("cookies")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| format!("Network.getAllCookies answered {answer}"))
}

/// ChromeDriver's log command (`POST /session/{id}/se/log`), which hands over and clears a
/// log's entries.
#[derive(Debug)]
struct LogCommand {
    kind: &'static str,
}

impl fantoccini::wd::WebDriverCompatibleCommand for LogCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(
        &self,
        _request_url: &url::Url,
    ) -> (openidconnect::http::Method, Option<String>) {
        let body = json!({ "type": self.kind });
        (openidconnect::http::Method::POST, Some(body.to_string()))
    }
}

/// Every URL the browser requested (pages, redirects followed, form posts, scripts…) since the
/// last call, oldest first, from the performance log; each request is listed once (a redirect
/// is a new request to the `Location`).
pub async fn browser_requests(client: &Client) -> Result<Vec<(String, url::Url)>, String> {
    let answer = client
        .issue_cmd(LogCommand {
            kind: "performance",
        })
        .await
        .map_err(|e| format!("reading the performance log failed: {e}"))?;
    let entries = answer
        .as_array()
        .ok_or_else(|| format!("the performance log is not a list: {answer}"))?;
    let mut requests = Vec::new();
    for entry in entries {
        let Some(message) = entry.get("message").and_then(Value::as_str) else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(message) else {
            continue;
        };
        let event = &message["message"];
        if event["method"] != "Network.requestWillBeSent" {
            continue;
        }
        let request = &event["params"]["request"];
        let method = request["method"].as_str().unwrap_or_default().to_string();
        // (The fragment is sent separately; none of the URLs checked here has one.)
        if let Some(url) = request["url"]
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
        {
            requests.push((method, url));
        }
    }
    Ok(requests)
}
