//! The release binary's default store across a restart and a crash (the same file each time):
//! ended sessions stay ended, code-flow sessions keep their tokens, a used `state` stays used.

use super::store_path;
use crate::helpers::app_process::{api, callback, log_in, logout, start_login, AppProcess};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_used_before_a_restart_is_refused_after_it() {
    let idp = TestIdp::start().await;
    let path = store_path("replay");
    let first = on_file(&idp, "id_token", &path);
    let start = start_login(&first).await;
    let token = idp.token(&idp.claims(&start.nonce));
    let fields = [
        ("id_token", token.as_str()),
        ("state", start.state.as_str()),
    ];
    let response = callback(&first, &start.cookie, &fields).await;
    assert_eq!(response.status(), 303);
    drop(first);

    let second = on_file(&idp, "id_token", &path);
    let replayed = callback(&second, &start.cookie, &fields).await;
    assert_eq!(
        replayed.status(),
        400,
        "a replayed login response was accepted"
    );
    let page = replayed.text().await.unwrap();
    assert!(page.contains("already used"), "{page}");
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
