//! The release binary's default store across a restart and a crash (the same file each time):
//! ended sessions stay ended, code-flow sessions keep their tokens, a used `state` stays used,
//! and a login begun before a deploy completes after it.

use super::store_path;
use crate::helpers::app_process::{
    api, callback, log_in, logout, start_login, AppProcess, LoginStart,
};
use crate::helpers::idp::TestIdp;

/// The app on the store file at `path` (the default store, named so it survives the process).
fn on_file(idp: &TestIdp, response_type: &str, path: &std::path::Path) -> AppProcess {
    let path = path.display().to_string();
    AppProcess::start(idp, response_type, &[("STORE_PATH", &path)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_logged_out_session_stays_out_and_a_code_flow_session_keeps_its_tokens() {
    let idp = TestIdp::start().await;
    let path = store_path("restart");
    let first = on_file(&idp, "code", &path);
    let kept = log_in(&idp, &first, None).await;
    let ended = log_in(&idp, &first, None).await;
    assert_eq!(api(&first, "/api/upstream", &kept).await, 200);
    logout(&first, &ended).await;
    assert_eq!(api(&first, "/api/hello", &ended).await, 401);
    drop(first);

    let second = on_file(&idp, "code", &path);
    assert_eq!(
        api(&second, "/api/hello", &ended).await,
        401,
        "a session logged out before the restart works again"
    );
    assert_eq!(
        api(&second, "/api/upstream", &kept).await,
        200,
        "a code-flow session lost its tokens in the restart"
    );
    let _ = std::fs::remove_file(&path);
}

/// A login's answer (ID token and `state`) for an attempt begun at `app`.
fn answer(idp: &TestIdp, start: &LoginStart) -> Vec<(&'static str, String)> {
    let token = idp.token(&idp.claims(&start.nonce));
    vec![("id_token", token), ("state", start.state.clone())]
}

async fn post(app: &AppProcess, start: &LoginStart, fields: &[(&str, String)]) -> (u16, String) {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = callback(app, &start.cookie, &fields).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_used_before_a_deploy_is_refused_after_it_and_a_login_begun_before_completes() {
    let idp = TestIdp::start().await;
    let path = store_path("replay");
    let first = on_file(&idp, "id_token", &path);
    let used = start_login(&first).await;
    let used_answer = answer(&idp, &used);
    assert_eq!(post(&first, &used, &used_answer).await.0, 303);
    let pending = start_login(&first).await;
    first.stop_gracefully();

    let second = on_file(&idp, "id_token", &path);
    let (status, page) = post(&second, &used, &used_answer).await;
    assert_eq!(status, 400, "a replayed login response was accepted");
    assert!(page.contains("already used"), "{page}");
    let (status, page) = post(&second, &pending, &answer(&idp, &pending)).await;
    assert_eq!(
        status, 303,
        "a login begun before a deploy failed after it: {page}"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_a_state_used_just_before_it_is_refused_and_new_logins_work() {
    let idp = TestIdp::start().await;
    let path = store_path("replay-crash");
    let first = on_file(&idp, "id_token", &path);
    let mut used = Vec::new();
    for _ in 0..3 {
        let start = start_login(&first).await;
        let fields = answer(&idp, &start);
        assert_eq!(post(&first, &start, &fields).await.0, 303);
        used.push((start, fields));
    }
    // SIGKILL the moment the last login has answered: its `state` may not be on disk yet.
    drop(first);

    let second = on_file(&idp, "id_token", &path);
    for (start, fields) in &used {
        let (status, page) = post(&second, start, fields).await;
        assert_eq!(
            status, 400,
            "a login response replayed after a crash was accepted"
        );
        assert!(page.contains("log in again"), "{page}");
    }
    assert!(
        second.log().contains("did not close the store file"),
        "the crash was not noticed: {}",
        second.log()
    );
    let fresh = start_login(&second).await;
    let (status, page) = post(&second, &fresh, &answer(&idp, &fresh)).await;
    assert_eq!(status, 303, "a new login after the crash failed: {page}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_right_after_a_logout_answers_loses_no_ended_session() {
    let idp = TestIdp::start().await;
    let path = store_path("crash");
    let first = on_file(&idp, "id_token", &path);
    let mut ended = Vec::new();
    for _ in 0..5 {
        ended.push(log_in(&idp, &first, None).await);
    }
    for session in &ended {
        logout(&first, session).await;
    }
    // SIGKILL the moment the last logout has answered: no shutdown, no flush.
    drop(first);

    let second = on_file(&idp, "id_token", &path);
    for session in &ended {
        assert_eq!(
            api(&second, "/api/hello", session).await,
            401,
            "an ended session came back"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_file_stops_with_one_line_naming_it() {
    let idp = TestIdp::start().await;
    let path = store_path("two-processes");
    let _first = on_file(&idp, "id_token", &path);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-bff"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ISSUER_BASE_URL", &idp.issuer)
        .env("CLIENT_ID", crate::helpers::idp::CLIENT_ID)
        .env("STORE_PATH", &path)
        .env("ROCKET_PORT", crate::helpers::free_port().to_string())
        .output()
        .expect("the binary runs");
    assert!(!status.status.success());
    let output = String::from_utf8_lossy(&status.stdout).to_string()
        + &String::from_utf8_lossy(&status.stderr);
    assert!(output.contains("locked by another process"), "{output}");
    assert!(output.contains(&path.display().to_string()), "{output}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_refuses_a_login_answer_from_before_its_restart() {
    let idp = TestIdp::start().await;
    let first = AppProcess::start(&idp, "id_token", &[("STORE", "memory")]);
    let start = start_login(&first).await;
    let fields = answer(&idp, &start);
    assert_eq!(post(&first, &start, &fields).await.0, 303);
    first.stop_gracefully();

    // The memory store forgot which states were used: none from before it may be.
    let second = AppProcess::start(&idp, "id_token", &[("STORE", "memory")]);
    let (status, page) = post(&second, &start, &fields).await;
    assert_eq!(status, 400, "a login response was replayed after a restart");
    assert!(page.contains("restarted"), "{page}");
}
