//! A host app keeps what it set up itself when it attaches the BFF: its own log subscriber
//! receives the BFF's events (the BFF installs none), its own Shield's headers are on every
//! answer next to the BFF's, and a configuration error fails ignition with the one-line
//! reason in the host's log. A binary of its own: the subscriber is process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rocket::figment::Figment;
use rocket::local::asynchronous::Client;

/// Everything the host's subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the host's subscriber for this process (it panics if one is already installed).
fn install_host_log() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    captured
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn figment() -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("secret_key", vec![9u8; 64]))
        .merge(("oidc.base_url", "http://localhost:3000"))
        // Tests run side by side; the default store file is one per working directory.
        .merge(("oidc.store", "memory"))
        .merge(("oidc.dev_idp_port", free_port()))
}

// One test: the subscriber is process-wide, and the steps depend on their order.
#[rocket::async_test]
async fn a_host_keeps_its_own_subscriber_and_shield_and_gets_the_bffs_errors_in_its_log() {
    // 1. The BFF installs no subscriber of its own, so the host can install its own after
    //    building and igniting the app (`init` panics when one is already installed).
    let first = Client::tracked(orders_example::app(figment()))
        .await
        .expect("the example ignites");
    assert!(
        !tracing::dispatcher::has_been_set(),
        "the BFF installed a global log subscriber"
    );
    drop(first);
    let log = install_host_log();

    // 2. The BFF's events reach the host's subscriber: the development IdP's start-up warning.
    let app = Client::tracked(orders_example::app(figment()))
        .await
        .expect("the example ignites");
    assert!(
        log.text().contains("DEVELOPMENT identity provider"),
        "the host's subscriber got no event of the BFF: {}",
        log.text()
    );

    // 3. The host's Shield: its own Permissions-Policy on the BFF's answers as on its own, with
    //    the BFF's headers next to it.
    for path in ["/healthz", "/api/orders", "/login?returnTo=%2F%2Fevil"] {
        let response = app.get(path).dispatch().await;
        let headers = response.headers();
        let permissions = headers.get_one("Permissions-Policy").unwrap_or_default();
        assert!(
            permissions.contains("camera=()") && permissions.contains("geolocation=()"),
            "{path}: the host's Permissions-Policy is missing: {permissions:?}"
        );
        assert!(
            headers
                .get_one("Content-Security-Policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{path}: the BFF's CSP is missing"
        );
        assert_eq!(headers.get_one("X-Content-Type-Options"), Some("nosniff"));
    }

    // 4. A configuration error fails ignition, its one-line reason in the host's log.
    let broken = orders_example::app(figment().merge(("oidc.secret", "too short")));
    let error = Client::tracked(broken)
        .await
        .expect_err("a short SECRET stops ignition");
    assert!(error.to_string().contains("fairing"), "{error}");
    let text = log.text();
    let line = text
        .lines()
        .find(|line| line.contains("oidc-bff: SECRET (oidc.secret) is invalid"))
        .unwrap_or_else(|| panic!("no one-line reason in the host's log: {text}"));
    assert!(line.contains("at least 32 random bytes"), "{line}");
}
