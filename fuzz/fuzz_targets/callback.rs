//! The login callback (`POST /callback`, the IdP's form_post) end to end: for each input a
//! fresh `GET /login` (transient cookie, state, nonce), then a callback built from the input.
//! The test IdP of `tests/support` serves discovery and JWKS on a loopback port.
//!
//! Input: byte 0 picks the mode; the rest is `returnTo\nremainder`, `returnTo` going to
//! `/login?returnTo=…`. The remainder is, by mode:
//! - 0: the whole form body, with `$STATE` replaced by the real state;
//! - 1: the `id_token` field's text;
//! - 2: `id_token` from segments split at `\n`, each base64url-encoded and joined with `.`;
//! - 3: `header\nclaims`, signed with a key the IdP publishes, so claim checks are reached.
//!
//! In modes 1–3 `state` is the real one, bit 2 of byte 0 adds `iss=<issuer>` (RFC 9207), and
//! `$ISS`, `$AUD`, `$NONCE`, `$NOW`, `$EXP`, `$OLD`, `$FUT` are replaced (see `common`).
//!
//! Checked: no 5xx but 502/503 (IdP trouble); 303 (logged in) only for a token signed with a
//! published key whose claims pass every rule; then the redirect goes to the normalized
//! `returnTo` and `/api/hello` answers 200 for the token's `sub`.
#![no_main]

mod common;

// The test IdP of the test suite (they name each other as `super::…`, hence both at the root).
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../tests/api/helpers/back_channel.rs"]
mod back_channel;
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../tests/api/helpers/idp.rs"]
mod idp;

/// What the test IdP (`idp`, which names it `super::free_port`) starts on. The app's tests
/// take it from `dev_idp::testing`, which this crate does not build.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

use std::cell::RefCell;
use std::mem::ManuallyDrop;

use idp::{Key, TestIdp, CLIENT_ID};
use libfuzzer_sys::fuzz_target;
use oidc_bff::testing::oidc::flow::normalize_return_to;
use rocket::http::{ContentType, Header, Status};
use rocket::local::blocking::Client;
use serde_json::Value;

/// The app's memory store keeps each consumed `state` for the attempt's 10 minutes and holds
/// 100,000 records; a fresh app every so often keeps the fuzzer past that check
/// (`FUZZ_CALLBACKS_PER_APP` overrides it).
const CALLBACKS_PER_APP: u32 = 50_000;

fn callbacks_per_app() -> u32 {
    static LIMIT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("FUZZ_CALLBACKS_PER_APP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CALLBACKS_PER_APP)
    })
}
const SKEW_SECS: i64 = 60;
const ALGS: &[&str] = &["RS256", "ES256"];

struct Setup {
    _runtime: tokio::runtime::Runtime,
    idp: TestIdp,
    signer: common::Signer,
    client: Client,
    callbacks: u32,
}

thread_local! {
    // Never dropped: tearing the servers down while the process exits would panic in tokio.
    static SETUP: ManuallyDrop<RefCell<Option<Setup>>> = const { ManuallyDrop::new(RefCell::new(None)) };
}

fn app(issuer: &str) -> Client {
    let figment = rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("oidc.issuer", issuer))
        .merge(("oidc.client_id", CLIENT_ID))
        .merge(("oidc.base_url", "http://localhost:3000"))
        .merge(("oidc.store", "memory"));
    let rocket = oidc_bff::build_from(figment).expect("valid configuration");
    Client::tracked(rocket).expect("app ignites")
}

fn setup() -> Setup {
    // Templates and `public/` are found relative to the working directory.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repo root");
    // The app logs every rejected login; quiet unless asked for (RUST_LOG=debug).
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "off");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let idp = runtime.block_on(TestIdp::start());
    idp.publish(vec![
        Key::rsa(common::RSA_KID, "rsa-a.pem"),
        Key::ec(common::EC_KID, "ec-a.pem"),
    ]);
    let client = app(&idp.issuer);
    Setup {
        _runtime: runtime,
        idp,
        signer: common::Signer::load(),
        client,
        callbacks: 0,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn run(setup: &mut Setup, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (return_to, remainder) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(return_to) = std::str::from_utf8(return_to) else {
        return;
    };

    setup.callbacks += 1;
    if setup.callbacks > callbacks_per_app() {
        setup.client = app(&setup.idp.issuer);
        setup.callbacks = 1;
    }
    let client = &setup.client;

    // 1. /login, as the browser follows the page's link.
    let login_uri = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", return_to)
            .finish()
    );
    let login = client.get(login_uri).dispatch();
    assert_eq!(
        login.status(),
        Status::Found,
        "/login for returnTo {return_to:?}"
    );
    let location = login.headers().get_one("Location").expect("Location");
    let authorize = url::Url::parse(location).expect("absolute IdP URL");
    let param = |name: &str| {
        authorize
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .expect("state and nonce in the authorization request")
    };
    let (state, nonce) = (param("state"), param("nonce"));
    drop(login);

    // 2. The callback built from the input.
    let ctx = common::Ctx {
        issuer: &setup.idp.issuer,
        client_id: CLIENT_ID,
        nonce: &nonce,
        now: now(),
        skew: SKEW_SECS,
    };
    let mode = selector & 3;
    let mut token = None;
    let body: Vec<u8> = if mode == 0 {
        replace(remainder, b"$STATE", state.as_bytes())
    } else {
        let remainder = common::substitute(remainder, &ctx);
        let id_token = match mode {
            1 => String::from_utf8_lossy(&remainder).into_owned(),
            2 => common::join_segments(remainder.split(|&b| b == b'\n'), false),
            _ => {
                let (header, claims) = match remainder.iter().position(|&b| b == b'\n') {
                    Some(at) => (&remainder[..at], &remainder[at + 1..]),
                    None => (&[][..], &remainder[..]),
                };
                setup.signer.sign(header, claims)
            }
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("id_token", &id_token)
            .append_pair("state", &state);
        if selector & 4 != 0 {
            form.append_pair("iss", &setup.idp.issuer);
        }
        token = Some(id_token);
        form.finish().into_bytes()
    };
    let response = client
        .post("/callback")
        .header(ContentType::Form)
        .body(&body)
        .dispatch();
    let status = response.status();
    let redirect = response.headers().get_one("Location").map(str::to_string);
    let page = response.into_string().unwrap_or_default();
    let shown = || String::from_utf8_lossy(&body).into_owned();

    assert!(
        status.code < 500 || status.code == 502 || status.code == 503,
        "status {status} for callback body {}\nreturnTo {return_to:?}\nanswer: {}",
        shown(),
        page.chars().take(2000).collect::<String>()
    );
    if status != Status::SeeOther {
        return;
    }

    // 3. Logged in: only with a signed token that passes every rule.
    assert_eq!(mode, 3, "login accepted without a signature: {}", shown());
    let token = token.expect("mode 3 has a token");
    let claims = common::check_accepted(&token, &ctx, ALGS, None, None, false)
        .unwrap_or_else(|violation| panic!("{violation}: {token}"));
    let expected_target = normalize_return_to(Some(return_to));
    assert_eq!(
        redirect.as_deref(),
        Some(expected_target.as_str()),
        "redirect after login, returnTo {return_to:?}"
    );
    let hello = client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch();
    assert_eq!(hello.status(), Status::Ok, "session after login");
    let answer: Value = serde_json::from_str(&hello.into_string().unwrap_or_default())
        .expect("/api/hello answers JSON");
    if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
        assert_eq!(answer["sub"].as_str(), Some(sub), "session's sub");
    }
}

fn replace(input: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    SETUP.with(|cell| {
        let mut slot = cell.borrow_mut();
        let setup = slot.get_or_insert_with(setup);
        run(setup, data);
    });
});
