//! End-to-end tests in a real browser: headless Chromium driven over WebDriver (ChromeDriver +
//! fantoccini) through whole login stories, with the app running in this process, against two
//! identity providers in turn:
//!
//! 1. `dev-idp`: the app's built-in development IdP, which the app starts itself when no issuer
//!    is configured (as `cargo run` does), on port 4000;
//! 2. `oidc-provider`: a real, certified OpenID Provider (`tests/e2e/idp/server.js`), also on
//!    port 4000, started once the first IdP's rounds are over.
//!
//! Each story is a test of its own, named `<idp>::<story>` (e.g. `dev_idp::full_story`,
//! `oidc_provider::code_flow`), so `cargo test --test e2e two_tabs` runs the two-tabs story
//! against both IdPs and `cargo test --test e2e oidc_provider::` one IdP's. This binary has its
//! own harness (libtest-mimic): the stories run one at a time (ports 3000 and 4000 are fixed),
//! and the app is started for a "round" (an IdP and a configuration of the app) when the first
//! story of that round runs, then shared by the stories of the round that follow.
//!
//! For each IdP, the login stories (a full story, login after logout, deep link, two tabs,
//! wrong password and cancel) run with `response_type=id_token`, then the app is started again
//! with `response_type=code` for the code-flow stories: tokens on the server, refreshed after
//! they expire, revoked at logout, never in the browser. The stories are written once, against
//! an "IdP driver" (`idp_driver`) that says how each IdP signs in, cancels and logs out.
//! Against oidc-provider, the code-flow story runs once more with the app as a FAPI 2.0 client
//! (`oidc_provider::fapi_code_flow`: a second client there, `private_key_jwt`, PAR required,
//! DPoP-bound tokens and DPoP nonces).
//!
//! The app is browsed at http://localhost:3000 and the IdP lives at http://127.0.0.1:4000: two
//! different sites, so the IdP's `form_post` to `/callback` is a cross-site POST, as in
//! production, and the login cookies' `SameSite` settings are really exercised.
//!
//! Needs Debian's `chromium` and `chromium-driver` and the IdP's npm packages; install them with
//! `scripts/install-test-deps.sh`. Set `OIDC_BFF_SKIP_BROWSER_TESTS=1` to skip (every story is
//! then reported as ignored). A code-flow story that the IdP cannot serve (its discovery lacks
//! the code flow or refresh tokens) fails, unless `OIDC_BFF_E2E_ALLOW_UNSUPPORTED=1` is set, in
//! which case it passes without running and says so. Ports 3000 and 4000 must be free.
//!
//! Every step saves a screenshot as `target/e2e-screenshots/<idp>-<scenario>-<nn>-<step>.png`;
//! a failing story also saves `<idp>-<scenario>-failure.png`. Logs of the IdP and ChromeDriver
//! go to `target/e2e-logs/`.

#[path = "../api/helpers/bff.rs"]
mod bff;
mod idp_driver;
mod page;
mod store;
mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use idp_driver::{Account, Discovery, IdpDriver, DEV_IDP, OIDC_PROVIDER, OIDC_PROVIDER_FAPI};
use libtest_mimic::{Arguments, Failed, Trial};
use page::{At, Page, WAIT};
use store::{RecordingStore, StoredTokens};
use support::{
    assert_port_free, browser_requests, free_port, http_get, package_root, target_subdir, unix_now,
    wait_port_free, BrowserSession, ChildProcess, APP, APP_PORT, CHROMIUM_BINARY, IDP_PORT,
};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A story that takes longer than this is stuck (each needs a few seconds).
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);
/// The access token lifetime oidc-provider is started with, so the code-flow story sees a
/// refresh within seconds (`ACCESS_TOKEN_TTL`; the id_token stories get no access token).
const ACCESS_TOKEN_TTL_SECS: i64 = 5;

/// Set to skip every story (reported as ignored).
const SKIP_VAR: &str = "OIDC_BFF_SKIP_BROWSER_TESTS";
/// Set to let a code-flow story pass, without running, against an IdP that cannot serve it.
const ALLOW_UNSUPPORTED_VAR: &str = "OIDC_BFF_E2E_ALLOW_UNSUPPORTED";

type Scenario = fn(Page) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The login stories, run in this order against each IdP, each in a fresh browser profile.
const LOGIN_STORIES: &[(&str, Scenario)] = &[
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

/// The code-flow story, against an app started with `response_type=code`.
const CODE_FLOW_STORIES: &[(&str, Scenario)] = &[
    ("code-flow", |p| {
        Box::pin(code_flow_keeps_tokens_on_the_server(p))
    }),
    ("refused-refresh", |p| {
        Box::pin(refused_refresh_ends_the_session(p))
    }),
];

/// The code-flow story with the app as a FAPI 2.0 client (`AppMode::Fapi`), against
/// oidc-provider's second client.
const FAPI_STORIES: &[(&str, Scenario)] = &[("fapi-code-flow", |p| {
    Box::pin(fapi_code_flow_pushes_and_binds_tokens(p))
})];

/// The gateway stories: the start page's remote API buttons call the development IdP's demo
/// API through `/api/demo/…` (only the built-in IdP has it), including a step-up sign-in.
const DEV_IDP_GATEWAY_STORIES: &[(&str, Scenario)] = &[("remote-api-and-step-up", |p| {
    Box::pin(remote_api_and_step_up(p))
})];

/// The stories of an app whose session cookie is `SameSite=Strict` (`SESSION_SAMESITE`).
const STRICT_SAME_SITE_STORIES: &[(&str, Scenario)] = &[
    ("strict-same-site", |p| {
        Box::pin(strict_session_cookie_logs_in_on_the_first_page(p))
    }),
    ("strict-same-site-deep-link", |p| {
        Box::pin(deep_link_returns_to_the_page(p))
    }),
];

/// How the app is configured for a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppMode {
    IdToken,
    /// `id_token` with `SESSION_SAMESITE=strict`.
    StrictSameSite,
    /// `response_type=code` with the IdP driver's client secret.
    Code {
        refresh_margin_secs: u64,
    },
    /// `response_type=code` as a FAPI 2.0 client: `private_key_jwt` with the driver's key (no
    /// secret), `PAR=always`, `DPOP=true`.
    Fapi {
        refresh_margin_secs: u64,
    },
}

impl AppMode {
    fn needs_code_flow(self) -> bool {
        matches!(self, AppMode::Code { .. } | AppMode::Fapi { .. })
    }
}

/// One app configuration against one IdP, and the stories run against it, in this order.
struct Round {
    idp: &'static IdpDriver,
    mode: AppMode,
    stories: &'static [(&'static str, Scenario)],
}

/// Every round, in the order they run: the development IdP's, then oidc-provider's (which
/// needs port 4000 after the development IdP has left it).
fn rounds() -> Vec<Round> {
    vec![
        Round {
            idp: &DEV_IDP,
            mode: AppMode::IdToken,
            stories: LOGIN_STORIES,
        },
        // No waiting for its access tokens to expire (the oidc-provider round does that): a
        // refresh margin longer than any lifetime makes every upstream call refresh.
        Round {
            idp: &DEV_IDP,
            mode: AppMode::Code {
                refresh_margin_secs: 10 * 365 * 24 * 3600,
            },
            stories: CODE_FLOW_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::Code {
                refresh_margin_secs: 10 * 365 * 24 * 3600,
            },
            stories: DEV_IDP_GATEWAY_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::StrictSameSite,
            stories: STRICT_SAME_SITE_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::IdToken,
            stories: LOGIN_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::Code {
                refresh_margin_secs: 1,
            },
            stories: CODE_FLOW_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER_FAPI,
            mode: AppMode::Fapi {
                refresh_margin_secs: 1,
            },
            stories: FAPI_STORIES,
        },
    ]
}

/// A story's test name: `dev_idp::full_story`, `oidc_provider::fapi_code_flow`.
fn trial_name(idp: &IdpDriver, story: &str) -> String {
    // The FAPI client is oidc-provider's second client: its stories are oidc-provider's.
    let idp = if idp.built_in {
        "dev_idp"
    } else {
        "oidc_provider"
    };
    format!("{idp}::{}", story.replace('-', "_"))
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // Ports 3000 and 4000 are fixed: one story at a time.
    args.test_threads = Some(1);
    let skip = std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    if skip && !args.list {
        eprintln!("browser end-to-end tests skipped ({SKIP_VAR} is set): every story is ignored");
    }
    let harness = Arc::new(Mutex::new(Harness::default()));
    let mut trials = Vec::new();
    for round in rounds() {
        for &(story, scenario) in round.stories {
            let harness = harness.clone();
            let (idp, mode) = (round.idp, round.mode);
            let trial = Trial::test(trial_name(idp, story), move || {
                let mut harness = harness.lock().unwrap_or_else(|e| e.into_inner());
                harness.run_story(idp, mode, story, scenario)
            });
            trials.push(trial.with_ignored_flag(skip));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    let harness = std::mem::take(&mut *harness.lock().unwrap_or_else(|e| e.into_inner()));
    harness.finish();
    conclusion.exit_code()
}

/// What the stories share: a runtime (the app runs on it between stories), ChromeDriver, the
/// current round's app and oidc-provider, all started when a story first needs them.
#[derive(Default)]
struct Harness {
    started: Option<Started>,
    round: Option<RunningRound>,
    /// oidc-provider, once a story against it has run.
    node: Option<ChildProcess>,
    /// Why the stories cannot go on (a process they need died): the later ones fail at once.
    broken: Option<String>,
    /// How many stories ran.
    ran: usize,
}

/// What every round shares, started with the first story.
struct Started {
    runtime: tokio::runtime::Runtime,
    began: Instant,
    webdriver_url: String,
    shots: PathBuf,
    logs: PathBuf,
    chromedriver: ChildProcess,
}

/// The app of the current round.
struct RunningRound {
    idp: &'static IdpDriver,
    mode: AppMode,
    app: AppServer,
    store: Arc<RecordingStore>,
    discovery: Arc<Discovery>,
}

impl Harness {
    /// Runs one story, starting what it needs first (ChromeDriver, its round's app, and
    /// oidc-provider) and leaving them running for the next story.
    fn run_story(
        &mut self,
        idp: &'static IdpDriver,
        mode: AppMode,
        story: &str,
        scenario: Scenario,
    ) -> Result<(), Failed> {
        if let Some(why) = &self.broken {
            return Err(format!("not run: {why}").into());
        }
        if self.started.is_none() {
            self.started = Some(Started::start());
        }
        let started = self.started.as_ref().expect("started above");
        let runtime = started.runtime.handle().clone();
        runtime.block_on(async {
            self.enter_round(idp, mode).await;
            let round = self.round.as_ref().expect("entered above");
            let started = self.started.as_ref().expect("started above");
            if mode.needs_code_flow() {
                if let Err(missing) = round.discovery.supports_code_flow_with_refresh() {
                    let why = format!(
                        "{} cannot do the code flow with refresh tokens (its discovery has \
                         {missing})",
                        idp.name
                    );
                    if std::env::var_os(ALLOW_UNSUPPORTED_VAR).is_some_and(|v| v == "1") {
                        eprintln!("[e2e] {story} NOT RUN ({ALLOW_UNSUPPORTED_VAR}=1): {why}");
                        return Ok(());
                    }
                    return Err(format!(
                        "{why}: the story cannot run (set {ALLOW_UNSUPPORTED_VAR}=1 to let it \
                         pass without running)"
                    )
                    .into());
                }
            }
            let label = format!("{}-{story}", idp.name);
            self.ran += 1;
            let began = Instant::now();
            let page = |client| {
                Page::new(
                    client,
                    label.clone(),
                    idp,
                    round.discovery.clone(),
                    round.store.clone(),
                    started.shots.clone(),
                )
            };
            let result = run_scenario(
                &label,
                scenario,
                page,
                &started.webdriver_url,
                &started.shots,
            )
            .await;
            let took = began.elapsed();
            match &result {
                Ok(()) => eprintln!("[e2e] ok    {label} ({took:.1?})"),
                Err(message) => eprintln!("[e2e] FAIL  {label} ({took:.1?}):\n{message}"),
            }
            let mut broken = Vec::new();
            if let Some(node) = self.node.as_mut() {
                broken.extend(node.check_running().err());
            }
            if let Some(started) = self.started.as_mut() {
                broken.extend(started.chromedriver.check_running().err());
            }
            if self.round.as_ref().is_some_and(|r| r.app.has_stopped()) {
                broken.push("the app stopped during the story".to_string());
            }
            if !broken.is_empty() {
                let why = broken.join("; ");
                self.broken = Some(why.clone());
                return Err(match result {
                    Ok(()) => why,
                    Err(message) => format!("{message}\n\nthen: {why}"),
                }
                .into());
            }
            result.map_err(|message| {
                let logs = self.started.as_ref().map(|s| s.logs.display().to_string());
                Failed::from(format!("{message}\n(logs in {})", logs.unwrap_or_default()))
            })
        })
    }

    /// Makes the round of (`idp`, `mode`) the running one: stops the app of another round
    /// (and oidc-provider when the next round uses the development IdP, which needs its
    /// port), then starts oidc-provider if needed and the app.
    async fn enter_round(&mut self, idp: &'static IdpDriver, mode: AppMode) {
        if let Some(round) = &self.round {
            if std::ptr::eq(round.idp, idp) && round.mode == mode {
                return;
            }
        }
        if let Some(round) = self.round.take() {
            round.stop().await;
        }
        if idp.built_in {
            if let Some(node) = self.node.take() {
                drop(node);
                wait_port_free(IDP_PORT, "oidc-provider", Duration::from_secs(10)).await;
            }
        } else if self.node.is_none() {
            let logs = &self.started.as_ref().expect("started first").logs;
            self.node = Some(start_oidc_provider(logs).await);
        }
        let began = Instant::now();
        let store = RecordingStore::new();
        let app = AppServer::launch(idp, mode, store.clone()).await;
        let discovery = Discovery::fetch(IDP_PORT)
            .await
            .unwrap_or_else(|e| panic!("{}: no discovery document: {e}", idp.name));
        eprintln!(
            "[e2e] {} round ({mode:?}): app ready after {:.1?}",
            idp.name,
            began.elapsed()
        );
        self.round = Some(RunningRound {
            idp,
            mode,
            app,
            store,
            discovery: Arc::new(discovery),
        });
    }

    /// Stops whatever is still running, by PID.
    fn finish(mut self) {
        let Some(started) = self.started.take() else {
            return;
        };
        started.runtime.block_on(async {
            if let Some(round) = self.round.take() {
                round.stop().await;
            }
            if let Some(node) = self.node.take() {
                drop(node);
                wait_port_free(IDP_PORT, "oidc-provider", Duration::from_secs(10)).await;
            }
        });
        eprintln!(
            "[e2e] {} story(ies) in {:.1?}; screenshots in {}",
            self.ran,
            started.began.elapsed(),
            started.shots.display()
        );
        drop(started);
    }
}

impl Started {
    /// The runtime, the screenshot and log directories, and ChromeDriver on a free port; the
    /// fixed ports must be free.
    fn start() -> Self {
        check_prerequisites();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let shots = fresh_screenshot_dir();
        let logs = target_subdir("e2e-logs");
        assert_port_free(APP_PORT, "the app");
        assert_port_free(IDP_PORT, "the identity providers");
        let driver_port = free_port();
        let mut chromedriver = {
            let mut command = Command::new(CHROMEDRIVER);
            command.arg(format!("--port={driver_port}"));
            ChildProcess::spawn("chromedriver", command, logs.join("chromedriver.log"))
        };
        runtime
            .block_on(chromedriver.wait_until_serving(
                driver_port,
                "/status",
                Duration::from_secs(20),
                |status, body| status == 200 && body.contains("\"ready\":true"),
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            runtime,
            began: Instant::now(),
            webdriver_url: format!("http://127.0.0.1:{driver_port}"),
            shots,
            logs,
            chromedriver,
        }
    }
}

impl RunningRound {
    /// Stops the app (and with it a built-in IdP) and waits for their ports.
    async fn stop(self) {
        self.app.stop().await;
        wait_port_free(APP_PORT, "the app", Duration::from_secs(15)).await;
        if self.idp.built_in {
            wait_port_free(IDP_PORT, "the development IdP", Duration::from_secs(15)).await;
        }
    }
}

/// oidc-provider on port 4000 with a short access token lifetime.
async fn start_oidc_provider(logs: &Path) -> ChildProcess {
    wait_port_free(IDP_PORT, "the development IdP", Duration::from_secs(15)).await;
    let idp_modules = package_root().join("tests/e2e/idp/node_modules/oidc-provider");
    assert!(
        idp_modules.exists(),
        "{} is missing: run scripts/install-test-deps.sh (or set {SKIP_VAR}=1 to skip)",
        idp_modules.display()
    );
    let mut command = Command::new("node");
    command
        .arg("tests/e2e/idp/server.js")
        .current_dir(package_root())
        .env("IDP_PORT", IDP_PORT.to_string())
        .env("CLIENT_ID", OIDC_PROVIDER.client_id)
        .env("CLIENT_SECRET", OIDC_PROVIDER.client_secret)
        .env("FAPI_CLIENT_ID", OIDC_PROVIDER_FAPI.client_id)
        .env_remove("DPOP_REQUIRE_NONCE")
        .env("APP_BASE_URL", APP)
        .env("AUTO_CONSENT", "1")
        .env("ACCESS_TOKEN_TTL", ACCESS_TOKEN_TTL_SECS.to_string())
        .env_remove("ID_TOKEN_TTL")
        .env_remove("CONFORM_ID_TOKEN_CLAIMS")
        .env_remove("PKCE_REQUIRED");
    let mut node = ChildProcess::spawn("oidc-provider (node)", command, logs.join("idp.log"));
    node.wait_until_serving(
        IDP_PORT,
        "/.well-known/openid-configuration",
        Duration::from_secs(30),
        |status, body| status == 200 && body.contains("\"issuer\""),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    node
}

/// Chromium and ChromeDriver, which every story needs (oidc-provider's npm packages are
/// checked when it is started).
fn check_prerequisites() {
    let hint = format!("run scripts/install-test-deps.sh (or set {SKIP_VAR}=1 to skip)");
    for binary in [CHROMIUM_BINARY, CHROMEDRIVER] {
        assert!(
            PathBuf::from(binary).exists(),
            "{binary} is missing: {hint}"
        );
    }
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
    label: &str,
    scenario: Scenario,
    page: impl FnOnce(fantoccini::Client) -> Page,
    webdriver_url: &str,
    shots: &Path,
) -> Result<(), String> {
    let session = BrowserSession::start(webdriver_url).await?;
    let mut task = tokio::spawn(scenario(page(session.client.clone())));
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
            Err(format!(
                "[{label}] did not finish within {SCENARIO_LIMIT:?}"
            ))
        }
    };
    if outcome.is_err() {
        let screenshot = tokio::time::timeout(WAIT, session.client.screenshot()).await;
        if let Ok(Ok(png)) = screenshot {
            let _ = std::fs::write(shots.join(format!("{label}-failure.png")), png);
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
    async fn launch(idp: &IdpDriver, mode: AppMode, store: Arc<RecordingStore>) -> Self {
        assert_port_free(APP_PORT, "the app");
        let mut figment = rocket::Config::figment()
            .merge(("port", APP_PORT))
            .merge(("address", "127.0.0.1"))
            .merge(("log_level", "off"))
            // Ctrl-C should end the test process (and, through the terminal, the IdP and the
            // browser), not only the app inside it.
            .merge(("shutdown.ctrlc", false))
            .merge(("oidc.base_url", APP))
            .merge(("oidc.secret", store::SECRET));
        if idp.built_in {
            // No issuer, as with `cargo run`: the app starts its development IdP.
            assert_port_free(IDP_PORT, "the development IdP");
            figment = figment.merge(("oidc.dev_idp_port", IDP_PORT));
        } else {
            figment = figment
                .merge(("oidc.issuer", support::IDP))
                .merge(("oidc.client_id", idp.client_id));
        }
        if let AppMode::StrictSameSite = mode {
            figment = figment.merge(("oidc.session_samesite", "strict"));
        }
        if let (AppMode::IdToken | AppMode::StrictSameSite, false) = (mode, idp.built_in) {
            // Without a client secret the app would push its request (`PAR=auto`, and
            // oidc-provider offers PAR to every client) with `client_id` alone, which
            // oidc-provider refuses (`invalid_client`): the app's first client there is
            // registered with `client_secret_basic`. The id_token stories keep the request in
            // the URL, as before PAR; the code-flow rounds push, authenticated.
            figment = figment.merge(("oidc.par", "never"));
        }
        if let AppMode::Code {
            refresh_margin_secs,
        } = mode
        {
            figment = figment
                .merge(("oidc.response_type", "code"))
                .merge(("oidc.client_secret", idp.client_secret))
                .merge(("oidc.refresh_margin_secs", refresh_margin_secs));
        }
        if let AppMode::Fapi {
            refresh_margin_secs,
        } = mode
        {
            let key = idp
                .client_key
                .unwrap_or_else(|| panic!("{}: a FAPI round needs the client's key", idp.name));
            figment = figment
                .merge(("oidc.response_type", "code"))
                .merge(("oidc.client_auth", "private_key_jwt"))
                .merge((
                    "oidc.client_private_key",
                    package_root().join(key).display().to_string(),
                ))
                .merge(("oidc.par", "always"))
                .merge(("oidc.dpop", true))
                .merge(("oidc.refresh_margin_secs", refresh_margin_secs));
        }
        let rocket = bff::build_with_store(figment, store)
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
            match http_get(APP_PORT, "localhost:3000", "/").await {
                Ok((200, _)) => break,
                Ok((status, _)) => panic!("the app answered GET / with {status}"),
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    panic!("the app did not answer on port {APP_PORT}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
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
// Steps shared by the scenarios

/// On the IdP's sign-in page: types the credentials and submits. The caller waits for what
/// comes next (WebDriver's click does not reliably wait for the form's navigation).
async fn submit_idp_login(p: &Page, username: &str, password: &str) {
    let idp = p.idp;
    p.wait_page(At::Idp(idp.sign_in_path), idp.password_field, &[])
        .await;
    p.fill(idp.username_field, username).await;
    p.fill(idp.password_field, password).await;
    p.shot("idp-login-filled").await;
    p.click(idp.submit).await;
}

async fn sign_in(p: &Page, account: &Account) {
    submit_idp_login(p, account.username, account.password).await;
}

/// Waits for the IdP's sign-in page.
async fn expect_idp_sign_in_page(p: &Page) {
    p.wait_page(At::Idp(p.idp.sign_in_path), p.idp.password_field, &[])
        .await;
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

/// From a logged-in page: Log out, confirm at the IdP if it asks, back at the app's start page.
/// `at_confirmation` runs while the IdP's confirmation page is shown (the app's part of the
/// logout is done by then, the IdP's is not); it is not called for an IdP that does not ask.
async fn log_out_everywhere_and<F, Fut>(p: &Page, at_confirmation: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    p.click("#logout").await;
    let logged_out: &[&str] = &["You are logged out"];
    let mut pages = vec![(At::App("/"), "#status", logged_out)];
    let confirmation = p.idp.logout_confirmation.as_ref();
    let text;
    if let Some(confirmation) = confirmation {
        text = [confirmation.text];
        pages.push((At::Idp(confirmation.path), confirmation.button, &text));
    }
    let (page, _) = p.wait_page_any(&pages).await;
    if page == 1 {
        let confirmation = confirmation.expect("only listed with a confirmation page");
        p.shot("idp-logout-confirm").await;
        at_confirmation().await;
        p.click(confirmation.button).await;
    }
    expect_logged_out_at_start_page(p).await;
    p.shot("logged-out").await;
}

async fn log_out_everywhere(p: &Page) {
    log_out_everywhere_and(p, || async {}).await;
}

// ------------------------------------------------------------------------------------------
// Login stories (response_type=id_token)

/// a. Logged out → Call API prompts → log in at the IdP → logged in, API answers, profile
/// shows the claims → log out at the IdP → logged out, Call API prompts again.
async fn full_story(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.shot("start-logged-out").await;

    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login").await;

    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    assert_eq!(
        p.client.title().await.unwrap_or_default(),
        p.idp.sign_in_title
    );
    p.shot("idp-login").await;

    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
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
            &[&format!("Hello, {}", alice.name), "\"sub\""],
        )
        .await;
    assert!(
        json.contains(&format!("\"sub\": \"{}\"", alice.sub)),
        "API answer: {json}"
    );
    p.shot("api-answers").await;
    let readme = p.idp.name == OIDC_PROVIDER.name;
    if readme {
        p.save_screenshot("readme-logged-in.png").await;
    }

    p.open("/profile").await;
    p.wait_page(At::App("/profile"), "#claims", &[alice.name, alice.email])
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
    if readme {
        p.save_screenshot("readme-profile.png").await;
    }

    log_out_everywhere(&p).await;
    expect_api_asks_to_log_in(&p).await;
    p.shot("api-needs-login-again").await;
}

/// b. Logging in again while the IdP session lasts needs no password (single sign-on), but
/// after logging out it does: the IdP session ended too.
async fn login_after_logout_asks_for_credentials(p: Page) {
    let (alice, bob) = (&p.idp.alice, &p.idp.bob);
    p.open("/login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("logged-in").await;

    // Control: with the IdP session alive, a new login comes straight back without a form.
    p.open("/login").await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("sso-without-form").await;

    log_out_everywhere(&p).await;

    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    let typed = p
        .element(p.idp.password_field)
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(typed.is_empty(), "the password field is empty");
    p.shot("idp-asks-again").await;

    // A fresh login may even be someone else.
    sign_in(&p, bob).await;
    expect_logged_in_at_start_page(&p, bob.name).await;
    p.shot("logged-in-as-bob").await;
}

/// With a `SameSite=Strict` session cookie, the first page after the IdP's cross-site POST is
/// already logged in (the callback hands over through a same-origin page), and the API
/// answers.
async fn strict_session_cookie_logs_in_on_the_first_page(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    p.click("#login").await;
    expect_idp_sign_in_page(&p).await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    p.shot("strict-logged-in").await;
    p.click("#call-api").await;
    let answer = p.wait_page(At::App("/"), "#api-json", &[alice.sub]).await;
    assert!(answer.contains(alice.sub), "{answer}");
}

/// c. A logged-out visit to /profile goes through the IdP's login and lands on /profile.
async fn deep_link_returns_to_the_page(p: Page) {
    let alice = &p.idp.alice;
    p.open("/profile").await;
    expect_idp_sign_in_page(&p).await;
    p.shot("redirected-to-idp").await;

    sign_in(&p, alice).await;
    let claims = p
        .wait_page(At::App("/profile"), "#claims", &[alice.name, alice.email])
        .await;
    assert!(claims.contains(alice.sub), "{claims}");
    assert_eq!(p.url().await.as_str(), format!("{APP}/profile"));
    p.shot("back-at-profile").await;
}

/// d. Two tabs start a login each before either finishes; both complete and return to
/// their own pages.
async fn two_tabs_log_in_at_once(p: Page) {
    let alice = &p.idp.alice;
    let first = p.client.window().await.expect("current window");
    p.open("/login?returnTo=/profile").await;
    expect_idp_sign_in_page(&p).await;
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
    expect_idp_sign_in_page(&p).await;
    p.shot("tab2-idp-login").await;

    // Finish tab 1 first.
    p.client
        .switch_to_window(first.clone())
        .await
        .expect("switch to tab 1");
    sign_in(&p, alice).await;
    p.wait_page(At::App("/profile"), "#claims", &[alice.name])
        .await;
    p.shot("tab1-logged-in").await;

    // Then tab 2, whose IdP page was loaded before tab 1 logged in: it shows the form unless
    // the IdP already moved it along.
    p.client
        .switch_to_window(second.clone())
        .await
        .expect("switch to tab 2");
    let url = p.url().await;
    if At::Idp(p.idp.sign_in_path).matches(&url) && p.exists(p.idp.password_field).await {
        sign_in(&p, alice).await;
    }
    expect_logged_in_at_start_page(&p, alice.name).await;
    assert!(!p.exists("#error-title").await, "no error page in tab 2");
    p.shot("tab2-logged-in").await;

    // Both tabs share the browser's session cookie: tab 1 is still logged in.
    p.client
        .switch_to_window(first)
        .await
        .expect("switch to tab 1");
    p.client.refresh().await.expect("reload tab 1");
    p.wait_page(At::App("/profile"), "#claims", &[alice.name])
        .await;
    assert!(!p.exists("#error-title").await, "no error page in tab 1");
    p.shot("tab1-still-logged-in").await;
}

/// e. A wrong password shows the IdP's error; cancelling there brings the user back to the
/// app's "Login cancelled" page (401), still logged out.
async fn wrong_password_then_cancel(p: Page) {
    let idp = p.idp;
    p.open("/login").await;
    submit_idp_login(&p, idp.alice.username, "not-her-password").await;
    let error = p
        .wait_page(
            At::Idp(idp.sign_in_path),
            idp.sign_in_error,
            &[idp.wrong_password_message],
        )
        .await;
    assert!(
        error.trim().starts_with(idp.wrong_password_message),
        "{error:?}"
    );
    assert!(
        p.exists(idp.password_field).await,
        "the form is shown again"
    );
    p.shot("idp-wrong-password").await;

    p.click(idp.cancel).await;
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

// ------------------------------------------------------------------------------------------
// Gateway story (response_type=code, development IdP)

/// Clicks the button `button` and waits for the JSON answer holding every one of `needles`.
async fn call_remote(p: &Page, button: &str, needles: &[&str]) -> String {
    clear_api_result(p).await;
    p.click(button).await;
    let json = p.wait_page(At::App("/"), "#api-json", needles).await;
    assert!(!p.exists("#api-error").await, "no error next to the answer");
    json
}

/// Logged out, the remote API answers anonymously (policy `user-or-none`) and the sensitive one
/// prompts for a login; logged in, the remote API names the user (a password sign-in, `acr`
/// `pwd`); the sensitive one then asks for a stronger sign-in, whose link leads through the
/// IdP's second factor back to the page, after which the sensitive API answers.
async fn remote_api_and_step_up(p: Page) {
    let alice = &p.idp.alice;
    p.open("/").await;
    expect_logged_out_at_start_page(&p).await;
    let anonymous = call_remote(&p, "#call-remote", &["anonymous"]).await;
    assert!(!anonymous.contains(alice.sub), "{anonymous}");
    clear_api_result(&p).await;
    p.click("#call-sensitive").await;
    p.wait_page(At::App("/"), "#login-prompt", &["You are not logged in"])
        .await;
    p.shot("remote-api-logged-out").await;

    p.click("#login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    let sub = format!("\"sub\": \"{}\"", alice.sub);
    call_remote(&p, "#call-remote", &[&sub, "\"acr\": \"pwd\""]).await;
    p.shot("remote-api-logged-in").await;

    clear_api_result(&p).await;
    p.click("#call-sensitive").await;
    p.wait_page(
        At::App("/"),
        "#step-up-prompt",
        &["This needs a stronger sign-in"],
    )
    .await;
    let href = p
        .element("#step-up")
        .await
        .attr("href")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(
        href.starts_with("/login?acr_values=mfa") && href.contains("returnTo=%2F"),
        "step-up link {href:?}"
    );
    p.shot("step-up-prompt").await;
    p.click("#step-up").await;
    // The IdP session (password) is still there: only the second factor is asked.
    p.wait_page(At::Idp("/authorize"), "#one_time_code", &[])
        .await;
    assert!(!p.exists("#password").await, "no password again");
    p.fill("#one_time_code", "123456").await;
    p.shot("idp-second-factor").await;
    p.click("#verify").await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    let json = call_remote(
        &p,
        "#call-sensitive",
        &["\"acr\": \"mfa\"", "the vault is open"],
    )
    .await;
    assert!(json.contains(&sub), "{json}");
    p.shot("sensitive-api-after-step-up").await;
    log_out_everywhere(&p).await;
}

// ------------------------------------------------------------------------------------------
// Code-flow story (response_type=code)

/// Removes the API buttons' last answer from the page, so that waiting for the next one cannot
/// be satisfied by the same text from before.
async fn clear_api_result(p: &Page) {
    p.client
        .execute(
            "document.getElementById('api-result').replaceChildren(); return true;",
            vec![],
        )
        .await
        .expect("clear the earlier answer");
}

/// Clicks Call upstream API and returns the JSON it shows.
async fn call_upstream(p: &Page, account: &Account) -> String {
    clear_api_result(p).await;
    p.click("#call-upstream").await;
    let sub = format!("\"sub\": \"{}\"", account.sub);
    let json = p
        .wait_page(At::App("/"), "#api-json", &[&sub, account.email])
        .await;
    assert!(!p.exists("#api-error").await, "no error next to the answer");
    json
}

/// Makes the server's access token due for a refresh: waits until it has expired when its
/// lifetime is short (oidc-provider with `ACCESS_TOKEN_TTL`); otherwise the round's refresh
/// margin makes every use refresh anyway. Returns whether it waited.
async fn let_access_token_expire(p: &Page, tokens: &StoredTokens) -> bool {
    let expires_at = tokens
        .expires_at
        .unwrap_or_else(|| panic!("[{}] the stored tokens have no expiry", p.label));
    let left = expires_at - unix_now();
    if left > 2 * ACCESS_TOKEN_TTL_SECS {
        return false;
    }
    let pause = Duration::from_millis(((left.max(0) + 2) * 1000) as u64);
    eprintln!(
        "[e2e] {}: waiting {pause:?} for the access token to expire",
        p.label
    );
    tokio::time::sleep(pause).await;
    true
}

/// Asserts what introspection says of `token`, when the IdP has introspection.
async fn expect_active(p: &Page, token: &str, hint: &str, expected: bool, why: &str) {
    if let Some(answer) = p.discovery.token_is_active(p.idp, token, hint).await {
        let active = answer.unwrap_or_else(|e| panic!("[{}] {e}", p.label));
        assert_eq!(
            active, expected,
            "[{}] introspection of the {hint}: {why}",
            p.label
        );
    }
}

/// Logged in with `response_type=code`: the page names the user (from UserInfo: oidc-provider's
/// code-flow ID token carries `sub` only); Call upstream API answers with UserInfo through the
/// access token the server keeps; once that token has expired, the server refreshes it; logging
/// out revokes the refresh token at the IdP; and no token ever reaches the browser.
async fn code_flow_keeps_tokens_on_the_server(p: Page) {
    code_flow_story(&p, false).await;
}

/// The code-flow story with the app as a FAPI 2.0 client of oidc-provider (`AppMode::Fapi`),
/// and what FAPI adds: the browser's URL at the IdP holds `client_id` and `request_uri` only
/// (the request was pushed, client-authenticated with `private_key_jwt`); the access tokens,
/// first and refreshed, are bound to the session's DPoP key (introspection's `cnf.jkt` is that
/// key's thumbprint) and useless as Bearer tokens; UserInfo answers the app's DPoP proofs
/// (oidc-provider asks for its nonces at the token endpoint and UserInfo alike).
async fn fapi_code_flow_pushes_and_binds_tokens(p: Page) {
    code_flow_story(&p, true).await;
}

/// The request parameters oidc-provider must never see in the browser's URL when the request
/// was pushed.
const PUSHED_ONLY: &[&str] = &[
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "scope",
    "response_mode",
];

/// Every request the browser made since the last look: its URLs at the IdP's authorization
/// endpoint hold `client_id` (this client's) and a PAR `request_uri`, nothing else; it never
/// called the PAR or token endpoints itself, and no IdP URL it requested carries a parameter
/// that only the push may carry.
async fn expect_only_request_references(p: &Page) {
    let requests = browser_requests(&p.client)
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    let endpoint = |name: &str| {
        p.discovery
            .endpoint(name)
            .unwrap_or_else(|| panic!("[{}] discovery has no {name}", p.label))
    };
    let same = |a: &url::Url, b: &url::Url| a.origin() == b.origin() && a.path() == b.path();
    let (authorize, par, token) = (
        endpoint("authorization_endpoint"),
        endpoint("pushed_authorization_request_endpoint"),
        endpoint("token_endpoint"),
    );
    let mut authorizations = 0;
    for (method, url) in &requests {
        assert!(
            !same(url, &par) && !same(url, &token),
            "[{}] the browser itself called {method} {url}",
            p.label
        );
        let names: Vec<String> = url.query_pairs().map(|(n, _)| n.into_owned()).collect();
        if url.origin() == authorize.origin() {
            for name in &names {
                assert!(
                    !PUSHED_ONLY.contains(&name.as_str()),
                    "[{}] the browser's URL at the IdP carries {name}: {method} {url}",
                    p.label
                );
            }
        }
        if !same(url, &authorize) {
            continue;
        }
        authorizations += 1;
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["client_id", "request_uri"],
            "[{}] the authorization request in the browser's URL: {url}",
            p.label
        );
        let value = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        assert_eq!(value("client_id"), p.idp.client_id, "[{}] {url}", p.label);
        assert!(
            value("request_uri").starts_with("urn:ietf:params:oauth:request_uri:"),
            "[{}] a pushed request's reference: {url}",
            p.label
        );
    }
    assert!(
        authorizations > 0,
        "[{}] the browser never went to the authorization endpoint {authorize}; it requested: \
         {:?}",
        p.label,
        requests
            .iter()
            .map(|(m, u)| format!("{m} {u}"))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "[e2e] {}: the browser reached the authorization endpoint {authorizations} time(s) \
         with client_id and request_uri only",
        p.label
    );
}

/// Asserts that `access_token` is bound to the DPoP key kept with `tokens`: introspection
/// says `token_type` DPoP with that key's thumbprint as `cnf.jkt`, and UserInfo refuses the
/// token presented as a Bearer token.
async fn expect_bound_to_session_key(p: &Page, tokens: &StoredTokens, why: &str) {
    let stored = tokens
        .dpop_key
        .as_deref()
        .unwrap_or_else(|| panic!("[{}] no DPoP key was kept with the tokens", p.label));
    let key = bff::DpopKey::from_stored(stored)
        .unwrap_or_else(|| panic!("[{}] the kept DPoP key does not load", p.label));
    let answer = p
        .discovery
        .introspect(p.idp, &tokens.access_token, "access_token")
        .await
        .unwrap_or_else(|| panic!("[{}] oidc-provider has no introspection", p.label))
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    assert_eq!(
        (
            answer["active"].as_bool(),
            answer["token_type"].as_str(),
            answer["cnf"]["jkt"].as_str(),
            answer["client_id"].as_str(),
        ),
        (
            Some(true),
            Some("DPoP"),
            Some(key.thumbprint()),
            Some(p.idp.client_id)
        ),
        "[{}] the {why} access token is bound to the session's DPoP key",
        p.label
    );
    let (status, challenge) = p
        .discovery
        .userinfo_without_proof(&format!("Bearer {}", tokens.access_token))
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    assert!(
        status == 401 && challenge.contains("invalid_token"),
        "[{}] UserInfo refuses the {why} DPoP-bound token as a Bearer token: {status} {challenge}",
        p.label
    );
}

/// The code-flow story; `fapi`: with the FAPI checks (see
/// `fapi_code_flow_pushes_and_binds_tokens`).
async fn code_flow_story(p: &Page, fapi: bool) {
    let (idp, alice) = (p.idp, &p.idp.alice);
    let earlier_sessions = p.store.token_keys();
    p.start_audit().await;
    p.open("/").await;
    expect_logged_out_at_start_page(p).await;
    p.shot("start-logged-out").await;

    if fapi {
        // What the browser requested so far is of no interest.
        browser_requests(&p.client)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    }
    p.click("#login").await;
    sign_in(p, alice).await;
    expect_logged_in_at_start_page(p, alice.name).await;
    p.shot("logged-in").await;
    if fapi {
        expect_only_request_references(p).await;
    }

    let json = call_upstream(p, alice).await;
    assert!(json.contains(alice.name), "UserInfo names alice: {json}");
    p.shot("upstream-answers").await;

    // The tokens, as the server keeps them: both alive at the IdP.
    let first = p.store.new_session_tokens(&earlier_sessions).await;
    let first_refresh = first
        .refresh_token
        .clone()
        .unwrap_or_else(|| panic!("[{}] no refresh token was stored", p.label));
    expect_active(p, &first.access_token, "access_token", true, "fresh").await;
    expect_active(p, &first_refresh, "refresh_token", true, "fresh").await;
    if fapi {
        expect_bound_to_session_key(p, &first, "first").await;
    }

    let waited = let_access_token_expire(p, &first).await;
    if waited {
        expect_active(
            p,
            &first.access_token,
            "access_token",
            false,
            "expired before the second call",
        )
        .await;
    }

    let writes_before = p.store.put_count(&first.key);
    let json = call_upstream(p, alice).await;
    assert!(json.contains(alice.email), "{json}");
    p.shot("upstream-answers-after-refresh").await;
    let second = p
        .store
        .tokens(&first.key)
        .await
        .unwrap_or_else(|| panic!("[{}] the tokens are gone after the refresh", p.label));
    assert!(
        p.store.put_count(&first.key) > writes_before,
        "[{}] the refreshed tokens were stored",
        p.label
    );
    // (Plain `assert!`s: a failure message should not print tokens.)
    assert!(
        second.access_token != first.access_token,
        "[{}] a new access token after the refresh",
        p.label
    );
    // (A forced refresh may come within the same second as the first tokens.)
    assert!(
        second.expires_at > first.expires_at || (!waited && second.expires_at >= first.expires_at),
        "[{}] with a later expiry",
        p.label
    );
    let refresh = second
        .refresh_token
        .clone()
        .unwrap_or_else(|| panic!("[{}] the refresh token was lost at refresh", p.label));
    let rotated = refresh != first_refresh;
    eprintln!(
        "[e2e] {}: access token refreshed; refresh token {}",
        p.label,
        if rotated { "rotated" } else { "kept" }
    );
    if rotated {
        expect_active(p, &first_refresh, "refresh_token", false, "rotated away").await;
    }
    expect_active(p, &second.access_token, "access_token", true, "new").await;
    expect_active(p, &refresh, "refresh_token", true, "current").await;
    if fapi {
        assert!(
            second.dpop_key == first.dpop_key,
            "[{}] the session keeps its DPoP key across the refresh",
            p.label
        );
        expect_bound_to_session_key(p, &second, "refreshed").await;
    }
    assert_eq!(
        p.store.token_keys().len(),
        earlier_sessions.len() + 1,
        "[{}] the refreshed tokens replaced the session's, under the same key",
        p.label
    );

    // Log out: the app revokes the refresh token before it sends the browser to the IdP, so
    // on the IdP's confirmation page it is already dead (whatever the IdP does afterwards).
    log_out_everywhere_and(p, || async {
        expect_active(
            p,
            &refresh,
            "refresh_token",
            false,
            "revoked by the app at logout, before the IdP's own logout",
        )
        .await;
    })
    .await;
    assert!(
        p.store.tokens(&first.key).await.is_none(),
        "[{}] the server forgot the tokens at logout",
        p.label
    );
    expect_active(p, &refresh, "refresh_token", false, "revoked at logout").await;
    expect_active(
        p,
        &second.access_token,
        "access_token",
        false,
        "revoked with its grant at logout",
    )
    .await;
    let (status, answer) = p
        .discovery
        .refresh_grant(idp, &refresh)
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    assert_eq!(
        (status, answer.get("error").and_then(|e| e.as_str())),
        (400, Some("invalid_grant")),
        "[{}] a refresh with the revoked token is refused: {answer}",
        p.label
    );

    // The browser never held a token: not in any page, URL or cookie.
    let seen = p.audited();
    let mut tokens = vec![
        ("access token", first.access_token.as_str()),
        ("refresh token", first_refresh.as_str()),
        ("refreshed access token", second.access_token.as_str()),
    ];
    if rotated {
        tokens.push(("rotated refresh token", refresh.as_str()));
    }
    let mut session_cookie_seen = false;
    for step in &seen {
        for cookie in &step.cookies {
            let name = cookie.get("name").and_then(|n| n.as_str()).unwrap_or("");
            session_cookie_seen |= name == "bff_session";
        }
        let cookies = serde_json::to_string(&step.cookies).unwrap_or_default();
        for (what, token) in &tokens {
            for (place, text) in [
                ("page source", &step.source),
                ("URL", &step.url),
                ("cookies", &cookies),
            ] {
                assert!(
                    !text.contains(token),
                    "[{}] the {what} is in the browser's {place} at step {:?} ({})",
                    p.label,
                    step.step,
                    step.url
                );
            }
        }
    }
    assert!(
        seen.len() >= 6 && session_cookie_seen,
        "[{}] the audit cannot have read the browser: {} steps, session cookie seen: {}",
        p.label,
        seen.len(),
        session_cookie_seen
    );
}

/// A refresh the IdP refuses (the grant was revoked behind the app's back) ends the session:
/// Call upstream API prompts for a new login and the page shows the user logged out, as the
/// README promises.
async fn refused_refresh_ends_the_session(p: Page) {
    let (idp, alice) = (p.idp, &p.idp.alice);
    let earlier_sessions = p.store.token_keys();
    p.open("/login").await;
    sign_in(&p, alice).await;
    expect_logged_in_at_start_page(&p, alice.name).await;
    call_upstream(&p, alice).await;
    p.shot("upstream-answers").await;

    let tokens = p.store.new_session_tokens(&earlier_sessions).await;
    let refresh = tokens
        .refresh_token
        .clone()
        .unwrap_or_else(|| panic!("[{}] no refresh token was stored", p.label));
    p.discovery
        .revoke(idp, &refresh, "refresh_token")
        .await
        .unwrap_or_else(|e| panic!("[{}] {e}", p.label));
    expect_active(&p, &refresh, "refresh_token", false, "revoked by the test").await;
    let_access_token_expire(&p, &tokens).await;

    // (Only through /api/upstream: when /profile is the first to meet the refused refresh, the
    // app forgets the tokens but keeps the session, and Call upstream API then answers 409
    // "no access token: the app logs in with response_type=id_token": a bug in the profile
    // route, which ignores a refused refresh. Visit /profile here first once it is fixed.)
    clear_api_result(&p).await;
    p.click("#call-upstream").await;
    p.wait_page(At::App("/"), "#login-prompt", &["You are not logged in"])
        .await;
    p.shot("upstream-asks-to-log-in").await;
    assert!(
        p.store.tokens(&tokens.key).await.is_none(),
        "[{}] the server forgot the dead tokens",
        p.label
    );

    p.client.refresh().await.expect("reload the page");
    expect_logged_out_at_start_page(&p).await;
    p.shot("logged-out").await;
}
