//! End-to-end tests in a real browser: headless Chromium driven over WebDriver (ChromeDriver +
//! fantoccini) through the whole login story against a real OpenID Provider (`oidc-provider`,
//! `tests/e2e/idp/server.js`), with the app running in this process.
//!
//! The app is browsed at http://localhost:3000 and the IdP lives at http://127.0.0.1:4000: two
//! different sites, so the IdP's `form_post` to `/callback` is a cross-site POST, as in
//! production, and the login cookies' `SameSite` settings are really exercised.
//!
//! Needs Debian's `chromium` and `chromium-driver` and the IdP's npm packages; install them with
//! `scripts/install-test-deps.sh`. Set `OIDC_BFF_SKIP_BROWSER_TESTS=1` to skip this test, or
//! `E2E_SCENARIO=<name>` to run only one scenario. Ports 3000 and 4000 must be free.
//!
//! Every step saves a screenshot as `target/e2e-screenshots/<scenario>-<nn>-<step>.png`; a
//! failing scenario also saves `<scenario>-failure.png`. Logs of the IdP and ChromeDriver go
//! to `target/e2e-logs/`.

mod e2e_support;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e_support::{
    assert_port_free, free_port, http_get, package_root, target_subdir, BrowserSession,
    ChildProcess, CHROMIUM_BINARY,
};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use url::Url;

const APP: &str = "http://localhost:3000";
const APP_PORT: u16 = 3000;
const IDP: &str = "http://127.0.0.1:4000";
const IDP_PORT: u16 = 4000;
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any single wait for the browser may take.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// A scenario that takes longer than this is stuck (each needs a few seconds).
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

type Scenario = fn(Page) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Run in this order, each in a fresh browser profile.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("full-story", |p| Box::pin(full_story(p))),
    ("login-after-logout", |p| {
        Box::pin(login_after_logout_asks_for_credentials(p))
    }),
    ("deep-link", |p| Box::pin(deep_link_returns_to_the_page(p))),
    ("two-tabs", |p| Box::pin(two_tabs_log_in_at_once(p))),
    ("wrong-password-and-cancel", |p| {
        Box::pin(wrong_password_then_cancel(p))
    }),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_stories() {
    if std::env::var_os("OIDC_BFF_SKIP_BROWSER_TESTS").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("browser end-to-end tests skipped (OIDC_BFF_SKIP_BROWSER_TESTS is set)");
        return;
    }
    check_prerequisites();
    let started = Instant::now();
    let shots = fresh_screenshot_dir();
    let logs = target_subdir("e2e-logs");

    // 1. The identity provider.
    assert_port_free(IDP_PORT, "the test IdP");
    let mut idp = {
        let mut command = Command::new("node");
        command
            .arg("tests/e2e/idp/server.js")
            .current_dir(package_root())
            .env("IDP_PORT", IDP_PORT.to_string())
            .env("CLIENT_ID", "oidc-bff")
            .env("CLIENT_SECRET", "oidc-bff-secret")
            .env("APP_BASE_URL", APP)
            .env("AUTO_CONSENT", "1")
            .env_remove("ACCESS_TOKEN_TTL")
            .env_remove("ID_TOKEN_TTL")
            .env_remove("CONFORM_ID_TOKEN_CLAIMS")
            .env_remove("PKCE_REQUIRED");
        ChildProcess::spawn("test IdP (node)", command, logs.join("idp.log"))
    };
    idp.wait_until_serving(
        IDP_PORT,
        "/.well-known/openid-configuration",
        Duration::from_secs(30),
        |status, body| status == 200 && body.contains("\"issuer\""),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // 2. ChromeDriver on a free port.
    let driver_port = free_port();
    let mut chromedriver = {
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={driver_port}"));
        ChildProcess::spawn("chromedriver", command, logs.join("chromedriver.log"))
    };
    chromedriver
        .wait_until_serving(
            driver_port,
            "/status",
            Duration::from_secs(20),
            |status, body| status == 200 && body.contains("\"ready\":true"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let webdriver_url = format!("http://127.0.0.1:{driver_port}");

    // 3. The app, in this process.
    let app = AppServer::launch().await;
    eprintln!(
        "[e2e] IdP, ChromeDriver and app ready after {:.1?}",
        started.elapsed()
    );

    // 4. The scenarios, one after the other, each with its own browser.
    let only = std::env::var("E2E_SCENARIO").ok().filter(|s| !s.is_empty());
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, scenario) in SCENARIOS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        ran += 1;
        let began = Instant::now();
        let outcome = run_scenario(name, *scenario, &webdriver_url, &shots).await;
        let took = began.elapsed();
        match outcome {
            Ok(()) => eprintln!("[e2e] ok    {name} ({took:.1?})"),
            Err(message) => {
                eprintln!("[e2e] FAIL  {name} ({took:.1?}):\n{message}");
                failures.push(format!("{name}: {message}"));
            }
        }
        if let Err(e) = idp.check_running() {
            failures.push(e);
            break;
        }
        if let Err(e) = chromedriver.check_running() {
            failures.push(e);
            break;
        }
        if app.has_stopped() {
            failures.push("the app stopped during the scenarios".into());
            break;
        }
    }
    assert!(ran > 0, "E2E_SCENARIO={only:?} names no scenario");

    app.stop().await;
    drop(chromedriver);
    drop(idp);
    eprintln!(
        "[e2e] {ran} scenario(s) in {:.1?}; screenshots in {}",
        started.elapsed(),
        shots.display()
    );
    if !failures.is_empty() {
        panic!(
            "{} browser scenario(s) failed (logs in {}):\n\n{}",
            failures.len(),
            logs.display(),
            failures.join("\n\n")
        );
    }
}

fn check_prerequisites() {
    let hint = "run scripts/install-test-deps.sh (or set OIDC_BFF_SKIP_BROWSER_TESTS=1 to skip)";
    for binary in [CHROMIUM_BINARY, CHROMEDRIVER] {
        assert!(
            PathBuf::from(binary).exists(),
            "{binary} is missing: {hint}"
        );
    }
    let idp_modules = package_root().join("tests/e2e/idp/node_modules/oidc-provider");
    assert!(
        idp_modules.exists(),
        "{} is missing: {hint}",
        idp_modules.display()
    );
}

/// `target/e2e-screenshots`, emptied of the PNGs of earlier runs.
fn fresh_screenshot_dir() -> PathBuf {
    let dir = target_subdir("e2e-screenshots");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "png") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir
}

/// Runs one scenario in its own browser. The scenario runs as a task so that a failed
/// assertion (a panic) is caught here and the browser is still closed properly.
async fn run_scenario(
    name: &'static str,
    scenario: Scenario,
    webdriver_url: &str,
    shots: &std::path::Path,
) -> Result<(), String> {
    let session = BrowserSession::start(webdriver_url).await?;
    let page = Page {
        client: session.client.clone(),
        scenario: name,
        steps: AtomicUsize::new(0),
        shots: shots.to_path_buf(),
    };
    let mut task = tokio::spawn(scenario(page));
    let outcome = match tokio::time::timeout(SCENARIO_LIMIT, &mut task).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(match error.try_into_panic() {
            Ok(payload) => payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()),
            Err(error) => error.to_string(),
        }),
        Err(_) => {
            task.abort();
            Err(format!("[{name}] did not finish within {SCENARIO_LIMIT:?}"))
        }
    };
    if outcome.is_err() {
        let screenshot = tokio::time::timeout(WAIT, session.client.screenshot()).await;
        if let Ok(Ok(png)) = screenshot {
            let _ = std::fs::write(shots.join(format!("{name}-failure.png")), png);
        }
    }
    session.close().await;
    outcome
}

/// The app served by Rocket on this test's runtime.
struct AppServer {
    shutdown: rocket::Shutdown,
    task: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

impl AppServer {
    async fn launch() -> Self {
        assert_port_free(APP_PORT, "the app");
        let figment = rocket::Config::figment()
            .merge(("port", APP_PORT))
            .merge(("address", "127.0.0.1"))
            .merge(("log_level", "off"))
            // Ctrl-C should end the test process (and, through the terminal, the IdP and the
            // browser), not only the app inside it.
            .merge(("shutdown.ctrlc", false))
            .merge(("oidc.issuer", IDP))
            .merge(("oidc.client_id", "oidc-bff"))
            .merge(("oidc.base_url", APP));
        let rocket = oidc_bff::build_from(figment)
            .unwrap_or_else(|e| panic!("app configuration refused: {e}"))
            .ignite()
            .await
            .unwrap_or_else(|e| panic!("app did not ignite: {e}"));
        let shutdown = rocket.shutdown();
        let task = tokio::spawn(rocket.launch());
        let server = Self { shutdown, task };
        let start = Instant::now();
        loop {
            if server.has_stopped() {
                let error = match server.task.await {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => "stopped".into(),
                    Err(e) => e.to_string(),
                };
                panic!("the app did not start: {error}");
            }
            match http_get(APP_PORT, "localhost:3000", "/") {
                Ok((200, _)) => break,
                Ok((status, _)) => panic!("the app answered GET / with {status}"),
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    panic!("the app did not answer on port {APP_PORT}: {e}")
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
        server
    }

    fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    async fn stop(self) {
        self.shutdown.clone().notify();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

// ------------------------------------------------------------------------------------------
// Browser helpers

/// Where the browser is expected to be.
#[derive(Clone, Copy, Debug)]
enum At {
    /// This path on the app (any query string).
    App(&'static str),
    /// A path starting with this on the IdP.
    Idp(&'static str),
}

impl At {
    fn matches(self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        match self {
            At::App(path) => origin == APP && url.path() == path,
            At::Idp(prefix) => origin == IDP && url.path().starts_with(prefix),
        }
    }
}

/// What one probe of a wait found.
enum Probe<T> {
    Ready(T),
    NotYet(String),
    /// Waiting longer cannot help (e.g. the app shows an error page instead).
    Failed(String),
}

/// One browser session as a scenario sees it, with explicit waits and numbered screenshots.
struct Page {
    client: Client,
    scenario: &'static str,
    steps: AtomicUsize,
    shots: PathBuf,
}

impl Page {
    async fn open(&self, path: &str) {
        let url = format!("{APP}{path}");
        if let Err(e) = self.client.goto(&url).await {
            panic!(
                "{}",
                self.context(format!("could not open {url}: {e}")).await
            );
        }
    }

    /// Saves `<scenario>-<nn>-<step>.png`.
    async fn shot(&self, step: &str) {
        let n = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        self.save_screenshot(&format!("{}-{n:02}-{step}.png", self.scenario))
            .await;
    }

    async fn save_screenshot(&self, file: &str) {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!(
                "{}",
                self.context(format!("screenshot {file} failed: {e}")).await
            ),
        };
        let path = self.shots.join(file);
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// The current URL, title and start of the page text, for failure messages.
    async fn context(&self, message: String) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("<{e}>"));
        let title = self.client.title().await.unwrap_or_default();
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let text: String = text.chars().take(600).collect();
        format!(
            "[{}] {message}\n  at: {url}\n  title: {title}\n  page text: {text:?}",
            self.scenario
        )
    }

    /// Polls `probe` until it is ready, for at most `WAIT`.
    async fn wait_for<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Probe<T>>,
    {
        let start = Instant::now();
        loop {
            let last = match probe(self.client.clone()).await {
                Probe::Ready(value) => return value,
                Probe::Failed(reason) => {
                    panic!(
                        "{}",
                        self.context(format!("while waiting for {what}: {reason}"))
                            .await
                    )
                }
                Probe::NotYet(reason) => reason,
            };
            if start.elapsed() > WAIT {
                panic!(
                    "{}",
                    self.context(format!(
                        "timed out after {WAIT:?} waiting for {what} (last: {last})"
                    ))
                    .await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the browser is `at` the expected place and the element `css` there shows
    /// all of `needles`; returns the element's text. An app error page ends the wait at once.
    async fn wait_page(&self, at: At, css: &str, needles: &[&str]) -> String {
        let what = format!("{css} containing {needles:?} at {at:?}");
        let css = css.to_string();
        let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
        self.wait_for(&what, |client| {
            let css = css.clone();
            let needles = needles.clone();
            async move {
                let url = match client.current_url().await {
                    Ok(url) => url,
                    Err(e) => return Probe::NotYet(e.to_string()),
                };
                if !at.matches(&url) {
                    // An app error page where something else was expected ends the wait, but
                    // only if the browser was still there after the page was read: the page
                    // may have changed between reading the URL and reading the page.
                    if url.origin().ascii_serialization() == APP && css != "#error-title" {
                        if let Some(error) = app_error_page(&client, &url).await {
                            if client.current_url().await.is_ok_and(|now| now == url) {
                                return Probe::Failed(error);
                            }
                        }
                    }
                    return Probe::NotYet(format!("at {url}"));
                }
                // Fully loaded, so deferred scripts (the Call API button's handler) have run.
                match client.execute("return document.readyState", vec![]).await {
                    Ok(state) if state == "complete" => {}
                    Ok(state) => return Probe::NotYet(format!("document {state}")),
                    Err(e) => return Probe::NotYet(e.to_string()),
                }
                let element = match client.find(Locator::Css(&css)).await {
                    Ok(element) => element,
                    Err(e) => return Probe::NotYet(format!("{css}: {e}")),
                };
                match element.text().await {
                    Ok(text) if needles.iter().all(|n| text.contains(n.as_str())) => {
                        Probe::Ready(text)
                    }
                    Ok(text) => Probe::NotYet(format!("{css} shows {text:?}")),
                    Err(e) => Probe::NotYet(e.to_string()),
                }
            }
        })
        .await
    }

    /// An element on the current page, waited for with fantoccini's explicit wait.
    async fn element(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{}",
                self.context(format!("no element {css} within {WAIT:?}: {e}"))
                    .await
            ),
        }
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.click().await {
            panic!(
                "{}",
                self.context(format!("clicking {css} failed: {e}")).await
            );
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let element = self.element(css).await;
        let result = async {
            element.clear().await?;
            element.send_keys(value).await
        }
        .await;
        if let Err(e) = result {
            panic!(
                "{}",
                self.context(format!("typing into {css} failed: {e}")).await
            );
        }
    }

    async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    async fn url(&self) -> Url {
        match self.client.current_url().await {
            Ok(url) => url,
            Err(e) => panic!("[{}] no current URL: {e}", self.scenario),
        }
    }

    /// The HTTP status of the current document, from the Navigation Timing API.
    async fn response_status(&self) -> Option<u64> {
        let script = "const n = performance.getEntriesByType('navigation')[0]; \
                      return n && typeof n.responseStatus === 'number' ? n.responseStatus : null;";
        self.client.execute(script, vec![]).await.ok()?.as_u64()
    }
}

/// The title and message of an app error page (`#error-title`), if the browser shows one.
async fn app_error_page(client: &Client, url: &Url) -> Option<String> {
    let title = client
        .find(Locator::Css("#error-title"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let message = match client.find(Locator::Css("#error-message")).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    Some(format!(
        "the app shows the error page {title:?} at {url}: {message}"
    ))
}

// ------------------------------------------------------------------------------------------
// Steps shared by the scenarios

/// On the IdP's login form: types the credentials and submits. The caller waits for what
/// comes next (WebDriver's click does not reliably wait for the form's navigation).
async fn submit_idp_login(p: &Page, login: &str, password: &str) {
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    p.fill("#login", login).await;
    p.fill("#password", password).await;
    p.shot("idp-login-filled").await;
    p.click("#submit").await;
}

async fn expect_logged_in_at_start_page(p: &Page, name: &str) {
    let status = p
        .wait_page(At::App("/"), "#status", &[&format!("Logged in as {name}")])
        .await;
    assert_eq!(status.trim(), format!("Logged in as {name}"));
    let shown = p
        .element("#user-name")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(shown.trim(), name, "the navigation bar names the user");
    assert!(!p.exists("#login").await, "no Log in link while logged in");
}

async fn expect_logged_out_at_start_page(p: &Page) {
    let status = p
        .wait_page(At::App("/"), "#status", &["You are logged out"])
        .await;
    assert_eq!(status.trim(), "You are logged out");
    assert!(p.exists("#login").await, "the Log in link is shown");
    assert!(
        !p.exists("#logout").await,
        "no Log out button while logged out"
    );
}

/// Clicks Call API and waits for the "not logged in" prompt.
async fn expect_api_asks_to_log_in(p: &Page) {
    p.click("#call-api").await;
    let prompt = p
        .wait_page(At::App("/"), "#login-prompt", &["You are not logged in"])
        .await;
    assert!(
        prompt.contains("Log in"),
        "the prompt links to the login: {prompt:?}"
    );
    let href = p
        .element("#login-again")
        .await
        .attr("href")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(href.starts_with("/login?returnTo="), "login link {href:?}");
}

/// From a logged-in page: Log out, confirm at the IdP, back at the app's start page.
async fn log_out_everywhere(p: &Page) {
    p.click("#logout").await;
    p.wait_page(
        At::Idp("/session/end"),
        "#logout-confirm",
        &["Yes, sign me out"],
    )
    .await;
    p.shot("idp-logout-confirm").await;
    p.click("#logout-confirm").await;
    expect_logged_out_at_start_page(p).await;
    p.shot("logged-out").await;
}

// ------------------------------------------------------------------------------------------
// Scenarios

/// a. Logged out → Call API prompts → log in at the IdP → logged in, API answers, profile
/// shows the claims → log out at the IdP → logged out, Call API prompts again.
async fn full_story(p: Page) {
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.shot("start-logged-out").await;

    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login").await;

    p.click("#login").await;
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    assert_eq!(
        p.client.title().await.unwrap_or_default(),
        "Sign in - Test IdP"
    );
    p.shot("idp-login").await;

    submit_idp_login(&p, "alice", "alice-password").await;
    expect_logged_in_at_start_page(&p, "Alice Liddell").await;
    assert_eq!(
        p.url().await.as_str(),
        format!("{APP}/"),
        "back at the start page"
    );
    p.shot("logged-in").await;

    p.click("#call-api").await;
    let json = p
        .wait_page(
            At::App("/"),
            "#api-json",
            &["Hello, Alice Liddell", "\"sub\""],
        )
        .await;
    assert!(json.contains("\"sub\": \"alice\""), "API answer: {json}");
    p.shot("api-answers").await;
    p.save_screenshot("readme-logged-in.png").await;

    p.open("/profile").await;
    p.wait_page(
        At::App("/profile"),
        "#claims",
        &["Alice Liddell", "alice@example.com"],
    )
    .await;
    let mut names = Vec::new();
    for cell in p
        .client
        .find_all(Locator::Css("#claims td.claim-name"))
        .await
        .unwrap_or_default()
    {
        names.push(cell.text().await.unwrap_or_default());
    }
    for claim in ["sub", "name", "email"] {
        assert!(
            names.iter().any(|n| n == claim),
            "the claims table lists {claim}: {names:?}"
        );
    }
    p.shot("profile").await;
    p.save_screenshot("readme-profile.png").await;

    log_out_everywhere(&p).await;
    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login-again").await;
}

/// b. Logging in again while the IdP session lasts needs no password (single sign-on), but
/// after logging out it does: the IdP session ended too.
async fn login_after_logout_asks_for_credentials(p: Page) {
    p.open("/login").await;
    submit_idp_login(&p, "alice", "alice-password").await;
    expect_logged_in_at_start_page(&p, "Alice Liddell").await;
    p.shot("logged-in").await;

    // Control: with the IdP session alive, a new login comes straight back without a form.
    p.open("/login").await;
    expect_logged_in_at_start_page(&p, "Alice Liddell").await;
    p.shot("sso-without-form").await;

    log_out_everywhere(&p).await;

    p.click("#login").await;
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    let typed = p
        .element("#password")
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(typed.is_empty(), "the password field is empty");
    p.shot("idp-asks-again").await;

    // A fresh login may even be someone else.
    submit_idp_login(&p, "bob", "bob-password").await;
    expect_logged_in_at_start_page(&p, "Bob Builder").await;
    p.shot("logged-in-as-bob").await;
}

/// c. A logged-out visit to /profile goes through the IdP's login and lands on /profile.
async fn deep_link_returns_to_the_page(p: Page) {
    p.open("/profile").await;
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    p.shot("redirected-to-idp").await;

    submit_idp_login(&p, "alice", "alice-password").await;
    let claims = p
        .wait_page(
            At::App("/profile"),
            "#claims",
            &["Alice Liddell", "alice@example.com"],
        )
        .await;
    assert!(claims.contains("alice"), "{claims}");
    assert_eq!(p.url().await.as_str(), format!("{APP}/profile"));
    p.shot("back-at-profile").await;
}

/// d. Two tabs start a login each before either finishes; both complete and return to
/// their own pages.
async fn two_tabs_log_in_at_once(p: Page) {
    let first = p.client.window().await.expect("current window");
    p.open("/login?returnTo=/profile").await;
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    p.shot("tab1-idp-login").await;

    let second = p
        .client
        .new_window(true)
        .await
        .expect("a second tab")
        .handle;
    p.client
        .switch_to_window(second.clone())
        .await
        .expect("switch to tab 2");
    p.open("/login?returnTo=/").await;
    p.wait_page(At::Idp("/interaction/"), "#password", &[])
        .await;
    p.shot("tab2-idp-login").await;

    // Finish tab 1 first.
    p.client
        .switch_to_window(first.clone())
        .await
        .expect("switch to tab 1");
    submit_idp_login(&p, "alice", "alice-password").await;
    p.wait_page(At::App("/profile"), "#claims", &["Alice Liddell"])
        .await;
    p.shot("tab1-logged-in").await;

    // Then tab 2, whose IdP page was loaded before tab 1 logged in: it shows the form unless
    // the IdP already moved it along.
    p.client
        .switch_to_window(second.clone())
        .await
        .expect("switch to tab 2");
    let url = p.url().await;
    if At::Idp("/interaction/").matches(&url) && p.exists("#password").await {
        submit_idp_login(&p, "alice", "alice-password").await;
    }
    expect_logged_in_at_start_page(&p, "Alice Liddell").await;
    assert!(!p.exists("#error-title").await, "no error page in tab 2");
    p.shot("tab2-logged-in").await;

    // Both tabs share the browser's session cookie: tab 1 is still logged in.
    p.client
        .switch_to_window(first)
        .await
        .expect("switch to tab 1");
    p.client.refresh().await.expect("reload tab 1");
    p.wait_page(At::App("/profile"), "#claims", &["Alice Liddell"])
        .await;
    assert!(!p.exists("#error-title").await, "no error page in tab 1");
    p.shot("tab1-still-logged-in").await;
}

/// e. A wrong password shows the IdP's error; cancelling there brings the user back to the
/// app's "Login cancelled" page (401), still logged out.
async fn wrong_password_then_cancel(p: Page) {
    p.open("/login").await;
    submit_idp_login(&p, "alice", "not-her-password").await;
    let error = p
        .wait_page(
            At::Idp("/interaction/"),
            "#error",
            &["Invalid username or password."],
        )
        .await;
    assert_eq!(error.trim(), "Invalid username or password.");
    assert!(p.exists("#password").await, "the form is shown again");
    p.shot("idp-wrong-password").await;

    p.click("#cancel").await;
    let title = p
        .wait_page(At::App("/callback"), "#error-title", &["Login cancelled"])
        .await;
    assert_eq!(title.trim(), "Login cancelled");
    let message = p
        .element("#error-message")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        message.contains("access_denied"),
        "the page says why: {message:?}"
    );
    let footer = p
        .element(".request-id")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        footer.contains("Error 401"),
        "a 401 page, not a 500: {footer:?}"
    );
    assert_eq!(
        p.response_status().await,
        Some(401),
        "HTTP status of the callback's answer"
    );
    let action = p.element("#error-action").await;
    assert_eq!(
        action.attr("href").await.ok().flatten().as_deref(),
        Some("/login")
    );
    p.shot("login-cancelled").await;

    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.shot("still-logged-out").await;
}
