//! Running it in production: `/readyz`, request ids, JSON logs, graceful shutdown on SIGTERM
//! and `oidc-bff check`, against the app binary as operators run it (and in process where the
//! process adds nothing).

use crate::helpers;

use std::process::Command;
use std::time::{Duration, Instant};

use helpers::app_process::{api, http, log_in, AppProcess, SECRET};
use helpers::back_channel::CLIENT_SECRET;
use helpers::idp::{TestIdp, CLIENT_ID};
use serde_json::Value;

/// The JSON lines of `log`; every line must be a JSON object.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
        })
        .collect()
}

/// Polls `log` until a request line with this id appears.
async fn request_line(app: &AppProcess, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = json_lines(&app.log())
            .into_iter()
            .find(|line| line["request_id"] == id)
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {id}:\n{}",
            app.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_naming_the_idp_while_it_is_down_and_200_after_it_recovers() {
    let idp = TestIdp::start().await;
    let app = AppProcess::start(&idp, "id_token", &[]);
    let readyz = || async {
        let response = http()
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .expect("/readyz answers");
        let status = response.status().as_u16();
        let body = response.text().await.expect("a body");
        (status, serde_json::from_str::<Value>(&body).expect("JSON"))
    };
    assert_eq!(readyz().await.0, 200);

    idp.set_available(false);
    // The app reuses a check for a moment: wait for it to see the IdP down.
    helpers::wait_until(Duration::from_secs(5), "/readyz answers 503", || async {
        readyz().await.0 == 503
    })
    .await;
    let (status, body) = readyz().await;
    assert_eq!(status, 503);
    // What is not ready, and nothing of what the IdP said.
    assert_eq!(
        body["not_ready"],
        serde_json::json!(["identity provider"]),
        "{body}"
    );
    // Liveness is not readiness.
    let health = http()
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    idp.set_available(true);
    helpers::wait_until(
        Duration::from_secs(5),
        "/readyz answers 200 again",
        || async { readyz().await.0 == 200 },
    )
    .await;
    assert_eq!(readyz().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_parse_and_carry_the_callers_request_id_which_is_echoed() {
    let idp = TestIdp::start().await;
    let app = AppProcess::start(
        &idp,
        "id_token",
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "")],
    );
    let response = http()
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "probe-42.a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "probe-42.a");
    let line = request_line(&app, "probe-42.a").await;
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_request_id_is_replaced_by_a_fresh_one_in_the_response_and_the_log() {
    let idp = TestIdp::start().await;
    let app = AppProcess::start(
        &idp,
        "id_token",
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    );
    let response = http()
        .get(format!("{}/nowhere?code=secret-code", app.url))
        .header("x-request-id", "x\" injected=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let line = request_line(&app, &id).await;
    // Neither the path nor its query reach the log: only the route template, none here.
    assert_eq!(line["route"], "-");
    assert!(!app.log().contains("secret-code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_of_a_whole_code_flow_login_hold_no_token_cookie_or_secret() {
    let idp = TestIdp::start().await;
    let app = AppProcess::start(
        &idp,
        "code",
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    let session = log_in(&idp, &app, None).await;
    assert_eq!(api(&app, "/api/upstream", &session).await, 200);
    let log = app.log();
    json_lines(&log);
    let session_value = session.trim_start_matches("bff_session=");
    let mut secrets: Vec<String> = vec![
        session_value.to_string(),
        SECRET.to_string(),
        CLIENT_SECRET.to_string(),
    ];
    secrets.extend(idp.back.access_tokens.lock().unwrap().iter().cloned());
    secrets.extend(idp.back.refresh_tokens.lock().unwrap().iter().cloned());
    for secret in secrets {
        assert!(!log.contains(&secret), "the log holds a secret: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_refuses_new_ones_and_exits_cleanly() {
    let idp = TestIdp::start().await;
    // Discovery takes 3 s (and the keys 3 s more): the first /login is slow, with room for
    // the steps below on a loaded machine (1.5 s was once too little).
    idp.set_delay(Duration::from_millis(3000));
    // A grace of 20 s, not Rocket.toml's 10: the login below stays in flight ~6 s, and a fully
    // loaded machine once stretched that past the grace, which cut its answer off (as it
    // should). The login's idle keep-alive connection then holds the app until the grace ends.
    let mut app = AppProcess::start(
        &idp,
        "id_token",
        &[("ROCKET_SHUTDOWN", "{grace=20,mercy=5}")],
    );
    // The app discovers the (slow) IdP as it starts; the login waits for that discovery.
    helpers::wait_until(Duration::from_secs(5), "the app asks the IdP", || async {
        idp.discovery_fetches() >= 1
    })
    .await;
    let login = tokio::spawn(http().get(format!("{}/login", app.url)).send());
    // The login's arrival at the app cannot be observed from outside (the discovery it waits
    // for started before it): give it half a second of the three that discovery takes. Waiting
    // for the discovery fetch alone raced the warm-up discovery and lost (the signal came
    // before the app had accepted the login's connection).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !login.is_finished(),
        "the login is still waiting for the IdP"
    );
    app.terminate();
    // SIGTERM is handled asynchronously: wait until new requests are refused (a request
    // that started before the app got the signal may still be served).
    let healthz = format!("{}/healthz", app.url);
    helpers::wait_until(
        Duration::from_secs(2),
        "new requests are refused",
        || async {
            http()
                .get(&healthz)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_err()
        },
    )
    .await;
    let refused = http()
        .get(&healthz)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "a new request was served during shutdown");
    assert!(
        !login.is_finished(),
        "new requests were refused while the login was still in flight"
    );
    let response = login
        .await
        .unwrap()
        .expect("the request in flight gets its answer");
    assert_eq!(response.status(), 302, "the login in flight completed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the app did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// `oidc-bff check` with the test IdP's settings plus `env`: (exit code, output).
fn check(idp: &TestIdp, env: &[(&str, &str)]) -> (i32, String) {
    // Its own store file: the checks run in parallel, and the default file (`oidc-bff.redb`
    // in the checkout) is locked by whichever opens it first.
    let store = super::durable_store::store_path("check");
    let mut command = Command::new(env!("CARGO_BIN_EXE_oidc-bff"));
    command
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ISSUER_BASE_URL", &idp.issuer)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("SECRET", SECRET)
        .env("RUST_LOG", "off")
        .env("STORE_PATH", &store);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("check runs");
    let _ = std::fs::remove_file(&store);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_a_good_configuration_and_names_the_uris_to_register() {
    let idp = TestIdp::start().await;
    let (code, output) = check(&idp, &[("BASE_URL", "https://app.example.com")]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("https://app.example.com/callback"),
        "{output}"
    );
    assert!(output.contains("all checks passed"), "{output}");
    assert!(!output.contains(SECRET) && !output.contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_when_the_idp_does_not_answer() {
    let idp = TestIdp::start().await;
    idp.set_available(false);
    let (code, output) = check(&idp, &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("FAIL  discovery"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_plain_http_public_base_url() {
    let idp = TestIdp::start().await;
    let (code, output) = check(&idp, &[("BASE_URL", "http://app.example.com")]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("FAIL  configuration"), "{output}");
    assert!(output.contains("BASE_URL"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_bad_setting_with_its_name() {
    let idp = TestIdp::start().await;
    let (code, output) = check(&idp, &[("CLOCK_SKEW_SECS", "soon")]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("FAIL  configuration"), "{output}");
    assert!(output.contains("CLOCK_SKEW_SECS"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_when_the_idp_lacks_what_par_and_dpop_need() {
    let idp = TestIdp::start().await;
    let (code, output) = check(&idp, &[("PAR", "always"), ("DPOP", "true")]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("FAIL  FAPI 2.0 client features"),
        "{output}"
    );
    assert!(
        output.contains("pushed_authorization_request_endpoint"),
        "{output}"
    );
    assert!(
        output.contains("dpop_signing_alg_values_supported"),
        "{output}"
    );
    idp.set_metadata(serde_json::json!({
        "pushed_authorization_request_endpoint": format!("{}/par", idp.issuer),
        "dpop_signing_alg_values_supported": ["ES256"],
    }));
    let (code, output) = check(&idp, &[("PAR", "always"), ("DPOP", "true")]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("pushed (PAR)") && output.contains("DPoP-bound"),
        "{output}"
    );
}

/// The metrics text from the listener at `address`.
async fn scrape(address: &str) -> String {
    let response = http()
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels in the order the text has them), 0 if absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_after_a_login_a_refused_login_a_refresh_and_an_upstream_call() {
    let idp = TestIdp::start().await;
    let metrics_address = format!("127.0.0.1:{}", helpers::free_port());
    let app = AppProcess::start(&idp, "code", &[("METRICS_ADDRESS", &metrics_address)]);
    // Not on the public port.
    let public = http()
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);

    // A login whose access token is already due: the upstream call refreshes it first.
    idp.back
        .access_ttl
        .store(30, std::sync::atomic::Ordering::SeqCst);
    let session = log_in(&idp, &app, None).await;
    assert_eq!(api(&app, "/api/upstream", &session).await, 200);
    // A refused login: a state that is not one of ours.
    let refused = http()
        .post(format!("{}/callback", app.url))
        .form(&[("state", "forged.state"), ("id_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let text = scrape(&metrics_address).await;
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    for (series, at_least) in [
        (
            r#"oidc_bff_logins_total{outcome="accepted",reason="none"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_logins_total{outcome="rejected",reason="malformed_state"}"#,
            1.0,
        ),
        ("oidc_bff_login_duration_seconds_count", 1.0),
        (
            r#"oidc_bff_token_refreshes_total{outcome="refreshed"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_upstream_calls_total{api="upstream",status="2xx"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_upstream_call_duration_seconds_count{api="upstream"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_jwks_fetches_total{cause="discovery",outcome="ok"}"#,
            1.0,
        ),
        (r#"oidc_bff_discovery_refreshes_total{outcome="ok"}"#, 1.0),
        (
            r#"oidc_bff_http_requests_total{route="/callback",method="POST",status="3xx"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_http_requests_total{route="/callback",method="POST",status="4xx"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_store_operations_total{operation="record_once",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"oidc_bff_store_operation_duration_seconds_count{operation="get"}"#,
            1.0,
        ),
    ] {
        assert!(
            sample(&text, series) >= at_least,
            "{series} below {at_least} in:\n{text}"
        );
    }
    // Labels never carry the user or the requested path.
    assert!(
        !text.contains("user-123") && !text.contains("forged"),
        "{text}"
    );

    // They move: one more login counts.
    log_in(&idp, &app, None).await;
    let later = scrape(&metrics_address).await;
    let series = r#"oidc_bff_logins_total{outcome="accepted",reason="none"}"#;
    assert_eq!(sample(&later, series), sample(&text, series) + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_public_port_are_refused_at_start() {
    let idp = TestIdp::start().await;
    let port = helpers::free_port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_oidc-bff"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ISSUER_BASE_URL", &idp.issuer)
        .env("CLIENT_ID", CLIENT_ID)
        .env("SECRET", SECRET)
        .env("ROCKET_PORT", &port)
        .env("STORE", "memory")
        .env("METRICS_ADDRESS", format!("127.0.0.1:{port}"))
        .output()
        .expect("the app runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("METRICS_ADDRESS"), "{stderr}");
}
