//! The `dev-idp` binary: flags, a client from `--client` or `DEV_IDP_CLIENTS`, and a clear
//! refusal of a bad client spec.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const ENV: [&str; 10] = [
    "DEV_IDP_ADDRESS",
    "DEV_IDP_PORT",
    "DEV_IDP_ISSUER",
    "DEV_IDP_CLIENTS",
    "DEV_IDP_ACCESS_TOKEN_TTL",
    "DEV_IDP_REFRESH_TOKEN_TTL",
    "DEV_IDP_CODE_TTL",
    "DEV_IDP_REQUIRE_PAR",
    "DEV_IDP_DPOP_NONCE",
    "DEV_IDP_DPOP_SKEW",
];

/// `dev-idp` with none of its environment variables inherited.
fn dev_idp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dev-idp"));
    for name in ENV {
        command.env_remove(name);
    }
    command
}

/// A running `dev-idp` process, killed when dropped (also when a test panics).
struct Process {
    child: Child,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dev-idp --port <free> --issuer http://127.0.0.1:<port>` with `args` and `env`, and
/// waits until discovery answers. A port taken meanwhile: another one.
async fn spawn(args: &[&str], env: &[(&str, &str)]) -> Process {
    for _ in 0..3 {
        let port = free_port().to_string();
        let url = format!("http://127.0.0.1:{port}");
        let child = dev_idp()
            .args(["--port", &port, "--issuer", &url])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dev-idp starts");
        let mut process = Process { child, url };
        if wait_until_ready(&mut process).await {
            return process;
        }
    }
    panic!("dev-idp did not start listening");
}

/// Whether discovery answers before the process exits or 60 s pass.
async fn wait_until_ready(process: &mut Process) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    let discovery = format!("{}/.well-known/openid-configuration", process.url);
    while Instant::now() < deadline {
        if let Ok(Some(_exited)) = process.child.try_wait() {
            return false;
        }
        if let Ok(response) = openidconnect::reqwest::get(&discovery).await {
            if response.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("dev-idp did not answer within 60 s");
}

/// Its discovery document, and the pages an authorization request for each client gets.
async fn check_clients(process: &Process, clients: &[(&str, &str)], unknown: &str) {
    let http = openidconnect::reqwest::Client::new();
    let discovery = http
        .get(format!("{}/.well-known/openid-configuration", process.url))
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&discovery.text().await.unwrap()).unwrap();
    assert_eq!(doc["issuer"], process.url.as_str());
    let authorize = |client_id: &str, redirect_uri: &str| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("response_type", "id_token"),
                ("response_mode", "form_post"),
                ("scope", "openid"),
                ("state", "s"),
                ("nonce", "n"),
            ])
            .finish();
        format!("{}/authorize?{query}", process.url)
    };
    for (client_id, redirect_uri) in clients.iter().copied().chain([(unknown, clients[0].1)]) {
        let response = http
            .get(authorize(client_id, redirect_uri))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(body.contains(BANNER));
        if client_id == unknown {
            assert_eq!(status, 400, "the unknown client {client_id}");
            assert!(!body.contains(r#"id="password""#));
            assert!(body.contains("client_id"), "{body}");
        } else {
            assert_eq!(status, 200, "{client_id}: {body}");
            assert!(body.contains(r#"id="password""#), "the sign-in page");
        }
    }
}

#[rocket::async_test]
async fn the_binary_serves_the_client_given_with_client_and_the_issuer_given_with_issuer() {
    let process = spawn(
        &[
            "--client",
            "id=a,secret=s,redirect_uri=http://localhost:8000/callback",
        ],
        &[],
    )
    .await;
    check_clients(
        &process,
        &[("a", "http://localhost:8000/callback")],
        "oidc-bff-dev",
    )
    .await;
}

#[rocket::async_test]
async fn the_binary_tells_a_client_given_a_backchannel_logout_uri() {
    let mut receiver = crate::receiver::Receiver::start().await;
    let spec = format!(
        "id=a,secret=s,redirect_uri=http://localhost:8000/callback,backchannel_logout_uri={}",
        receiver.uri
    );
    let process = spawn(&["--client", &spec], &[]).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "a"),
            ("redirect_uri", "http://localhost:8000/callback"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("scope", "openid"),
            ("state", "s"),
            ("nonce", "n"),
        ])
        .finish();
    let sign_in = http
        .get(format!("{}/authorize?{query}", process.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut fields = hidden_fields(&sign_in);
    fields.push(("username".into(), "bob".into()));
    fields.push(("password".into(), "bob".into()));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let signed_in = http
        .post(format!("{}/authorize", process.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("devidp_session="))
        .and_then(|c| c.split(';').next())
        .expect("an IdP session")
        .to_string();
    http.get(format!("{}/end_session", process.url))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    let token = receiver.next().await;
    assert_eq!(claims(&token)["aud"], "a");
}

#[rocket::async_test]
async fn the_binary_reads_several_clients_from_dev_idp_clients() {
    let clients = "id=a,secret=s,redirect_uri=http://localhost:8000/callback;\
                   id=b,secret=t,redirect_uri=http://localhost:9000/cb,\
                   post_logout_redirect_uri=http://localhost:9000/";
    let process = spawn(&[], &[("DEV_IDP_CLIENTS", clients)]).await;
    check_clients(
        &process,
        &[
            ("a", "http://localhost:8000/callback"),
            ("b", "http://localhost:9000/cb"),
        ],
        "c",
    )
    .await;
}

#[test]
fn a_bad_client_spec_stops_the_binary_with_a_clear_message() {
    for (spec, message) in [
        ("id=a,secret=s", "the client has no redirect_uri="),
        (
            "id=a,redirect_uri=http://localhost/cb",
            "the client has no secret=",
        ),
        (
            "secret=s,redirect_uri=http://localhost/cb",
            "the client has no id=",
        ),
        (
            "id=a,secret=s,redirect_uri=not a url",
            "`not a url` is not a URL",
        ),
        (
            "id=a,secret=s,redirect_uri=http://localhost/cb,colour=red",
            "unknown client field `colour`",
        ),
        ("id=a,secret", "`secret` is not name=value"),
        (
            "id=a,secret=s,redirect_uri=http://localhost/cb,backchannel_logout_uri=nope",
            "`nope` is not a URL",
        ),
        (
            "id=a,secret=s,redirect_uri=http://localhost/cb,\
             backchannel_logout_uri=http://localhost/b,backchannel_logout_uri=http://localhost/c",
            "more than one backchannel_logout_uri=",
        ),
        (
            "id=a,secret=s,jwks_uri=http://localhost/jwks,redirect_uri=http://localhost/cb",
            "not both",
        ),
        (
            "id=a,token_endpoint_auth_method=private_key_jwt,redirect_uri=http://localhost/cb",
            "needs jwks_uri=",
        ),
        (
            "id=a,jwks_uri=nope,redirect_uri=http://localhost/cb",
            "`nope` is not a URL",
        ),
        (
            "id=a,secret=s,token_endpoint_auth_method=private_key_jwt,\
             redirect_uri=http://localhost/cb",
            "does not fit",
        ),
    ] {
        let output = dev_idp()
            .args(["--port", &free_port().to_string(), "--client", spec])
            .stdin(Stdio::null())
            .output()
            .expect("dev-idp runs");
        assert!(!output.status.success(), "{spec}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--client"), "{spec}: {stderr}");
        assert!(stderr.contains(message), "{spec}: {stderr}");
    }
}

#[rocket::async_test]
async fn the_binary_requires_par_and_dpop_nonces_and_takes_a_private_key_jwt_client() {
    let key = crate::signer::EcKey::generate();
    let jwks = crate::jwks_server::JwksServer::start(key.jwks()).await;
    let client = format!(
        "id=fapi,jwks_uri={},token_endpoint_auth_method=private_key_jwt,\
         redirect_uri=http://localhost:3000/callback",
        jwks.uri
    );
    let process = spawn(
        &["--require-par", "--client", &client],
        &[("DEV_IDP_DPOP_NONCE", "true")],
    )
    .await;
    let http = openidconnect::reqwest::Client::new();
    let discovery = http
        .get(format!("{}/.well-known/openid-configuration", process.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    assert_eq!(discovery["require_pushed_authorization_requests"], true);

    let plain = http
        .get(format!(
            "{}/authorize?client_id=fapi&redirect_uri=http://localhost:3000/callback\
             &response_type=code&response_mode=form_post&scope=openid&code_challenge={CHALLENGE}\
             &code_challenge_method=S256",
            process.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400, "not pushed");

    let token = format!("{}/token", process.url);
    let no_nonce = http
        .post(&token)
        .header("DPoP", key.proof("POST", &token))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert!(no_nonce.headers().contains_key("dpop-nonce"));
    let body: Value = serde_json::from_str(&no_nonce.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");

    let assertion = key.assertion("fapi", &process.url);
    let revoked = http
        .post(format!("{}/revoke", process.url))
        .form(&[
            ("token", "x"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200, "the client's key from its jwks_uri");
}
