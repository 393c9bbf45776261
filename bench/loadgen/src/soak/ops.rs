//! The mix of operations and what each one sends: logins (and bad callbacks), API calls with
//! valid, expired, tampered, missing and logged-out cookies, logouts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::verdict::{Answer, Rule, LOGIN_CALLBACK};
use super::worker::{send, Ctx, Request, Worker};
use crate::http::COOKIE_HEADER;
use crate::login;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Op {
    Login,
    ApiValid,
    ApiExpired,
    ApiTampered,
    ApiNoCookie,
    CallbackMissingState,
    CallbackUnknownState,
    CallbackGarbageToken,
    CallbackOversized,
    CallbackJson,
    Logout,
    ApiLoggedOut,
    /// `ApiLoggedOut` after the outage window, with a cookie logged out before it.
    ApiLoggedOutBeforeOutage,
}

/// Relative frequency of each operation; `Logout` and `ApiLoggedOut` get `--logouts` each.
pub(super) const MIX: &[(Op, u32)] = &[
    (Op::Login, 10),
    (Op::ApiValid, 40),
    (Op::ApiExpired, 10),
    (Op::ApiTampered, 10),
    (Op::ApiNoCookie, 5),
    (Op::CallbackMissingState, 5),
    (Op::CallbackUnknownState, 5),
    (Op::CallbackGarbageToken, 5),
    (Op::CallbackOversized, 5),
    (Op::CallbackJson, 5),
];

pub(super) const API: &str = "/api/hello";

/// The headers of the page's `fetch`, with a cookie when there is one.
pub(super) fn api_headers(cookie: &str) -> Vec<(&str, &str)> {
    let mut h = vec![
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
        ("accept", "*/*"),
    ];
    if !cookie.is_empty() {
        h.push((COOKIE_HEADER, cookie));
    }
    h
}

/// Runs one operation; returns the operation actually done (a missing cookie pool turns an API
/// call into a login) and each request with the statuses that are right for it.
pub(super) async fn one(op: Op, ctx: &Ctx, w: &mut Worker) -> (Op, Vec<Answer>) {
    let pick = w.rng.next();
    let callback = ctx.targets[0].callback_path.as_str();
    // A 503 on /callback is documented whatever the callback carries; the bad ones below are
    // refused before the store is asked, so they keep their 400/401/413 in practice.
    let bad_callback =
        |what, body: String, expect| Request::post(what, callback, Some(body), expect, Rule::Page);
    match op {
        Op::Login => (Op::Login, login_op(ctx, w, pick, true).await.0),
        Op::ApiValid | Op::ApiTampered => {
            let Some(cookie) = ctx.shared.valid(pick) else {
                return (Op::Login, login_op(ctx, w, pick, true).await.0);
            };
            let (cookie, r) = if op == Op::ApiValid {
                (
                    cookie,
                    Request::get("GET /api/hello", API, &[200], Rule::Session),
                )
            } else {
                // A cookie that does not decrypt is no session, store or not.
                let r = Request::get("GET /api/hello (tampered)", API, &[401], Rule::Never);
                (tamper(&cookie, w.rng.next()), r)
            };
            let headers = api_headers(&cookie);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiExpired => {
            let Some(cookie) = ctx.shared.expired(pick) else {
                return Box::pin(one(Op::ApiValid, ctx, w)).await;
            };
            // The idle limit is checked before the store is asked.
            let headers = api_headers(&cookie);
            let r = Request::get("GET /api/hello (idle)", API, &[401], Rule::Never);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiNoCookie => {
            let headers = api_headers("");
            let r = Request::get("GET /api/hello (no cookie)", API, &[401], Rule::Never);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiLoggedOut | Op::ApiLoggedOutBeforeOutage => {
            let Some((before, cookie)) = ctx.shared.revoked(pick) else {
                return Box::pin(one(Op::Logout, ctx, w)).await;
            };
            // Counted apart: a logout from before the outage, tried after it, when Redis came
            // back without it (no persistence) and only the instances' copies remember it.
            let after = ctx.outage.is_some_and(|o| ctx.secs() > o.until);
            let op = if before && after {
                Op::ApiLoggedOutBeforeOutage
            } else {
                op
            };
            let headers = api_headers(&cookie);
            let r = Request::get("GET /api/hello (logged out)", API, &[401], Rule::Session);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::Logout => {
            // Its own login, set aside (other workers must not use a cookie about to end); the
            // session logged out is an older one set aside the same way.
            let (mut answers, session) = login_op(ctx, w, pick, false).await;
            let Some(cookie) = ctx.shared.spare(session) else {
                return (op, answers);
            };
            let headers = [
                (COOKIE_HEADER, cookie.as_str()),
                ("sec-fetch-site", "same-origin"),
            ];
            // A logout always answers 303 and deletes the cookie; while the store is down it
            // cannot tell the other instances (documented), so only logouts outside the window
            // are checked on them later.
            let r = Request::post("POST /logout", "/logout", None, &[303], Rule::Never);
            let mut a = send(ctx, w, r.headers(&headers)).await;
            if let Ok(reply) = &a.reply {
                let session_cookie = &ctx.targets[0].session_cookie;
                let deleted = reply
                    .set_cookies
                    .iter()
                    .any(|(n, v)| n == session_cookie && v.is_empty());
                if reply.status == 303 && !deleted {
                    a.problem = Some("the session cookie was not deleted".into());
                }
                if reply.status == 303 && !ctx.outage.is_some_and(|o| o.covers(a.sent, a.done)) {
                    let before = ctx.outage.is_some_and(|o| a.done < o.from);
                    ctx.shared.logged_out(cookie, before);
                }
            }
            answers.push(a);
            (op, answers)
        }
        Op::CallbackMissingState => {
            let r = bad_callback(
                "POST /callback (no state)",
                "id_token=abc.def.ghi".into(),
                &[400],
            );
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackUnknownState => {
            let state = URL_SAFE_NO_PAD.encode(pick.to_le_bytes().repeat(4));
            let body = format!("id_token=abc.def.ghi&state={state}");
            let r = bad_callback("POST /callback (unknown state)", body, &[400]);
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackGarbageToken => {
            let (first, started) = login_start(ctx, w).await;
            let Some(started) = started else {
                return (op, vec![first]);
            };
            let garbage = match pick % 3 {
                0 => "not-a-token".to_string(),
                1 => format!("{}.{}.{}", "eyJhbGciOiJub25lIn0", "e30", ""),
                _ => "A".repeat(2000),
            };
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token", &garbage)
                .append_pair("state", &started.state)
                .finish();
            let headers = [(COOKIE_HEADER, started.cookies.as_str())];
            let r = bad_callback("POST /callback (garbage token)", body, &[400, 401]);
            (op, vec![first, send(ctx, w, r.headers(&headers)).await])
        }
        Op::CallbackOversized => {
            let body = format!("state=abc&id_token={}", "x".repeat(ctx.oversize));
            let r = bad_callback("POST /callback (oversized)", body, &[413]);
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackJson => {
            let headers = [("content-type", "application/json")];
            let body = r#"{"id_token":"x","state":"y"}"#.to_string();
            let r = bad_callback("POST /callback (JSON)", body, &[400]);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
    }
}

/// `GET /login` on a random instance, and the attempt it started.
pub(super) async fn login_start(ctx: &Ctx, w: &mut Worker) -> (Answer, Option<login::Started>) {
    let path = ctx.targets[0].login_path.clone();
    let mut a = send(
        ctx,
        w,
        Request::get("GET /login", &path, &[302], Rule::Page),
    )
    .await;
    let started = match &a.reply {
        Ok(reply) if reply.status == 302 => match login::started_from(reply) {
            Ok(started) => Some(started),
            Err(e) => {
                a.problem = Some(e);
                None
            }
        },
        _ => None,
    };
    (a, started)
}

/// A whole login: `GET /login` on one instance, the token minted for its nonce, `POST
/// /callback` on one picked again: the attempt's cookie and `state` travel with the browser.
/// With `keep`, the new session goes to the pool the API calls use.
pub(super) async fn login_op(
    ctx: &Ctx,
    w: &mut Worker,
    pick: u64,
    keep: bool,
) -> (Vec<Answer>, Option<String>) {
    let (first, started) = login_start(ctx, w).await;
    let Some(started) = started else {
        return (vec![first], None);
    };
    let claims = ctx.minter.template.claims(&started.nonce, pick % 1000);
    let Some(token) = ctx.minter.signer.sign(claims).await else {
        return (vec![first], None);
    };
    let headers = [(COOKIE_HEADER, started.cookies.as_str())];
    let path = ctx.targets[0].callback_path.clone();
    let body = Some(login::callback_body(&started, &token));
    let r = Request::post(LOGIN_CALLBACK, &path, body, &[303], Rule::Page);
    let mut second = send(ctx, w, r.headers(&headers)).await;
    let mut session = None;
    if let Ok(reply) = &second.reply {
        if reply.status == 303 {
            session = login::session_from(&ctx.targets[0], reply);
            if session.is_none() {
                second.problem = Some("303 without a session cookie".into());
            }
        }
    }
    if let (true, Some(s)) = (keep, &session) {
        ctx.shared.remember(s.clone());
    }
    (vec![first, second], session)
}

/// A session cookie that must not decrypt: one character changed, cut short, or replaced.
pub(super) fn tamper(cookie: &str, pick: u64) -> String {
    let Some((name, value)) = cookie.split_once('=') else {
        return cookie.to_string();
    };
    let value: String = match pick % 3 {
        0 => {
            let mut bytes = value.as_bytes().to_vec();
            let i = (pick as usize / 3) % bytes.len().max(1);
            if let Some(b) = bytes.get_mut(i) {
                *b = if *b == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8(bytes).unwrap_or_default()
        }
        1 => value[..value.len() / 2].to_string(),
        _ => URL_SAFE_NO_PAD.encode(pick.to_le_bytes().repeat(100)),
    };
    format!("{name}={value}")
}
