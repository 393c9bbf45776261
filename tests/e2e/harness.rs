//! The harness of the browser stories: the shared runtime, ChromeDriver and oidc-provider,
//! the app of the current round (started by the first story of a round, stopped when the next
//! round begins), and one story run in its own browser.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;

use crate::app_server::AppServer;
use crate::browser::{BrowserSession, CHROMIUM_BINARY};
use crate::idp_driver::{Discovery, IdpDriver, OIDC_PROVIDER, OIDC_PROVIDER_FAPI};
use crate::page::{Page, WAIT};
use crate::store::RecordingStore;
use crate::support::{
    assert_port_free, free_port, package_root, target_subdir, wait_port_free, ChildProcess, APP,
    APP_PORT, IDP_PORT,
};
use crate::{AppMode, Scenario, ACCESS_TOKEN_TTL_SECS, ALLOW_UNSUPPORTED_VAR, SKIP_VAR};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A story that takes longer than this is stuck (each needs a few seconds).
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// What the stories share: a runtime (the app runs on it between stories), ChromeDriver, the
/// current round's app and oidc-provider, all started when a story first needs them.
#[derive(Default)]
pub struct Harness {
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
    pub fn run_story(
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
    pub fn finish(mut self) {
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
