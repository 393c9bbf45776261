//! The app under test, served by Rocket on the harness's runtime, configured for a round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::idp_driver::IdpDriver;
use crate::store::{self, RecordingStore};
use crate::support::{self, assert_port_free, http_get, package_root, APP, APP_PORT, IDP_PORT};
use crate::{bff, token_echo, AppMode};

/// The app served by Rocket on this test's runtime.
pub struct AppServer {
    shutdown: rocket::Shutdown,
    /// The stand-in API of the resource round.
    echo: Option<tokio::task::JoinHandle<()>>,
    /// The second oidc-provider (another issuer) of the two-provider round against it.
    second_idp: Option<support::ChildProcess>,
    task: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

impl AppServer {
    pub async fn launch(idp: &IdpDriver, mode: AppMode, store: Arc<RecordingStore>) -> Self {
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
        let mut second_idp = None;
        if let AppMode::TwoProviders = mode {
            // A second IdP, another issuer: `/login` shows the choice.
            assert_port_free(support::SECOND_IDP_PORT, "the second identity provider");
            if idp.built_in {
                figment = figment.merge(("oidc.dev_idp_second_port", support::SECOND_IDP_PORT));
            } else {
                second_idp = Some(second_oidc_provider(idp).await);
                figment = figment.merge((
                    "oidc.providers.second",
                    serde_json::json!({
                        "issuer": support::SECOND_IDP,
                        "client_id": idp.client_id,
                        "client_secret": idp.client_secret,
                        "response_type": "code",
                        "label": "Second IdP",
                    }),
                ));
            }
        }
        if let AppMode::ShortSession = mode {
            figment = figment.merge(("oidc.session_idle_timeout_secs", 65));
        }
        if let (
            AppMode::IdToken
            | AppMode::StrictSameSite
            | AppMode::ShortSession
            | AppMode::TwoProviders,
            false,
        ) = (mode, idp.built_in)
        {
            // Without a client secret the app would push its request (`PAR=auto`, and
            // oidc-provider offers PAR to every client) with `client_id` alone, which
            // oidc-provider refuses (`invalid_client`): the app's first client there is
            // registered with `client_secret_basic`. The id_token stories keep the request in
            // the URL, as before PAR; the code-flow rounds push, authenticated.
            figment = figment.merge(("oidc.par", "never"));
        }
        let mut echo = None;
        if let AppMode::ResourceApis = mode {
            // Four APIs on one stand-in: two with a resource each (one narrowed to a scope),
            // one with the session's token, one with the app's own token for a resource.
            let url = format!("http://127.0.0.1:{}", token_echo::PORT);
            figment = figment
                .merge(("oidc.response_type", "code"))
                .merge(("oidc.client_secret", idp.client_secret))
                .merge(("oidc.scopes", "openid profile email api:write"));
            for (name, resource, scopes, token) in [
                ("orders", Some("https://orders.example"), None, "user"),
                (
                    "stock",
                    Some("https://stock.example"),
                    Some("api:read"),
                    "user",
                ),
                ("general", None, None, "user"),
                (
                    "reports",
                    Some("https://reports.example"),
                    Some("api:read"),
                    "client",
                ),
            ] {
                let key = |k: &str| format!("oidc.remote_apis.{name}.{k}");
                figment = figment
                    .merge((key("url"), format!("{url}/{name}")))
                    .merge((key("token"), token));
                if let Some(resource) = resource {
                    figment = figment.merge((key("resource"), resource));
                }
                if let Some(scopes) = scopes {
                    figment = figment.merge((key("scopes"), scopes));
                }
            }
            echo = Some(token_echo::start().await);
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
        let server = Self {
            shutdown,
            echo,
            second_idp,
            task,
        };
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

    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(mut self) {
        // By PID, with the app (its port is free for the next round).
        drop(self.second_idp.take());
        if let Some(echo) = &self.echo {
            echo.abort();
        }
        self.shutdown.clone().notify();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A second oidc-provider on `SECOND_IDP_PORT`, with the round's client (code flow).
async fn second_oidc_provider(idp: &IdpDriver) -> support::ChildProcess {
    let logs = package_root().join("target/e2e-logs");
    let _ = std::fs::create_dir_all(&logs);
    let mut command = std::process::Command::new("node");
    command
        .arg("tests/e2e/idp/server.js")
        .current_dir(package_root())
        .env("IDP_PORT", support::SECOND_IDP_PORT.to_string())
        .env("CLIENT_ID", idp.client_id)
        .env("CLIENT_SECRET", idp.client_secret)
        .env("APP_BASE_URL", APP)
        .env("AUTO_CONSENT", "1");
    let mut node = support::ChildProcess::spawn(
        "the second oidc-provider (node)",
        command,
        logs.join("second-idp.log"),
    );
    node.wait_until_serving(
        support::SECOND_IDP_PORT,
        "/.well-known/openid-configuration",
        Duration::from_secs(30),
        |status, body| status == 200 && body.contains("\"issuer\""),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    node
}
