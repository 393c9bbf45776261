//! The session cookie, read through the real request path (`GET /api/hello` as a script's
//! `fetch`), and the session's JSON decoder.
//!
//! Byte 0 picks the mode, the rest is mode-specific:
//! - mode 0: the rest is the `bff_session` cookie as the browser sends it. Nobody without the
//!   key can produce a cookie that decrypts, so the answer must be 401, never 200 or 500;
//! - mode 1: the rest is the decrypted cookie's JSON: `serde_json::from_slice::<Session>` must
//!   not panic, and a parsed session must survive a serialize/parse round trip;
//! - mode 2: the rest is encrypted with the app's own key (what a holder of the key, i.e. the
//!   app itself, could write), so the checks behind the decryption are reached: 200 or 401;
//! - mode 3: like 2, but the rest is parsed as a `Session` first and its `created`/`seen` are
//!   set near the current time from its first 8 bytes, so live, expired and renewable
//!   sessions all occur; the answer must be 200 exactly when the session is within its limits.
#![no_main]

use std::mem::ManuallyDrop;

use libfuzzer_sys::fuzz_target;
use oidc_bff::Session;
use rocket::http::{Cookie, Header, Status};
use rocket::local::blocking::Client;
use serde_json::Value;

/// The app's defaults (README: configuration).
const IDLE_TIMEOUT: i64 = 86_400;
const ABSOLUTE_LIFETIME: i64 = 604_800;

thread_local! {
    /// libFuzzer calls the target from one thread; the blocking client is not `Sync`.
    /// Never dropped: tearing the app down while the process exits could panic in tokio.
    static CLIENT: ManuallyDrop<Client> = ManuallyDrop::new(app());
}

fn app() -> Client {
    {
        // Templates and `public/` are found relative to the working directory.
        std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repo root");
        // The app logs every rejected login; quiet unless asked for (RUST_LOG=debug).
        if std::env::var_os("RUST_LOG").is_none() {
            std::env::set_var("RUST_LOG", "off");
        }
        let figment = rocket::Config::figment()
            .merge(("log_level", "off"))
            .merge(("secret_key", vec![7u8; 64]))
            // Nothing listens there; /api/hello does not need the IdP.
            .merge(("oidc.issuer", "http://127.0.0.1:9"))
            .merge(("oidc.client_id", "fuzz-client"))
            .merge(("oidc.base_url", "http://localhost:3000"))
            .merge(("oidc.store", "memory"));
        let rocket = oidc_bff::build_from(figment).expect("valid configuration");
        Client::untracked(rocket).expect("app ignites")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `GET /api/hello` with the given session cookie; status and body.
fn hello(cookie: Cookie<'static>, encrypt: bool) -> (Status, String) {
    CLIENT.with(|client| {
        let request = client
            .get("/api/hello")
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"));
        let request = if encrypt {
            request.private_cookie(cookie)
        } else {
            request.cookie(cookie)
        };
        let response = request.dispatch();
        let status = response.status();
        (status, response.into_string().unwrap_or_default())
    })
}

fn check_answer(status: Status, body: &str, session: Option<&Session>, context: &str) {
    match status.code {
        200 => {
            let session = session.unwrap_or_else(|| panic!("200 for a non-session: {context}"));
            let json: Value = serde_json::from_str(body).expect("200 answers JSON");
            assert_eq!(
                json["sub"].as_str(),
                Some(session.sub.as_str()),
                "{context}"
            );
        }
        401 => {
            let json: Value = serde_json::from_str(body).expect("401 answers JSON");
            assert_eq!(json["error"], "login_required", "{context}");
        }
        other => panic!("status {other} for {context}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector & 3 {
        0 => {
            let Ok(value) = std::str::from_utf8(rest) else {
                return;
            };
            // As a browser's `Cookie` header would carry it (percent-encoded if need be).
            let cookie = match Cookie::parse_encoded(format!("bff_session={value}")) {
                Ok(parsed) if parsed.name() == "bff_session" => parsed.into_owned(),
                _ => Cookie::new("bff_session", value.to_string()),
            };
            let (status, body) = hello(cookie, false);
            assert_eq!(status, Status::Unauthorized, "cookie {value:?}: {body}");
            check_answer(status, &body, None, value);
        }
        1 => {
            if let Ok(session) = serde_json::from_slice::<Session>(rest) {
                let _ = session.display_name();
                let json = serde_json::to_vec(&session).expect("a session serializes");
                let again: Session = serde_json::from_slice(&json).expect("and parses again");
                assert_eq!(again, session);
            }
        }
        2 => {
            let Ok(plaintext) = std::str::from_utf8(rest) else {
                return;
            };
            let session = serde_json::from_str::<Session>(plaintext).ok();
            let (status, body) = hello(Cookie::new("bff_session", plaintext.to_string()), true);
            check_answer(status, &body, session.as_ref(), plaintext);
        }
        _ => {
            if rest.len() < 8 {
                return;
            }
            let (times, json) = rest.split_at(8);
            let Ok(mut session) = serde_json::from_slice::<Session>(json) else {
                return;
            };
            let now = now();
            let created_ago = i64::from(u32::from_le_bytes(times[..4].try_into().unwrap()))
                % (ABSOLUTE_LIFETIME + 600)
                - 300;
            let seen_ago = i64::from(u32::from_le_bytes(times[4..].try_into().unwrap()))
                % (IDLE_TIMEOUT + 600)
                - 300;
            session.created = now - created_ago;
            session.seen = now - seen_ago;
            let plaintext = serde_json::to_string(&session).expect("a session serializes");
            let (status, body) = hello(Cookie::new("bff_session", plaintext.clone()), true);
            check_answer(status, &body, Some(&session), &plaintext);
            // Within its limits, a few seconds from every edge (the clock moves meanwhile):
            let live_until = (session.seen + IDLE_TIMEOUT).min(session.created + ABSOLUTE_LIFETIME);
            let margin = 3;
            let clearly_live = now + margin < live_until && session.seen + margin < now + 60;
            let clearly_dead = now > live_until + margin || session.seen > now + 60 + margin;
            if clearly_live {
                assert_eq!(status, Status::Ok, "live session refused: {plaintext}");
            } else if clearly_dead {
                assert_eq!(
                    status,
                    Status::Unauthorized,
                    "dead session accepted: {plaintext}"
                );
            }
        }
    }
});
