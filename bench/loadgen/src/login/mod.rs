//! The login workload: `GET /login` (keep its cookies, read `state` and `nonce` from the
//! redirect), mint an ID token for that nonce, `POST /callback` with the cookies, and expect
//! the redirect that sets the session cookie.
//!
//! This module holds one login's steps, which `soak` uses too; `benchmark` is the `loadgen
//! login` command (phases, latencies, report); `code` is its code-flow split run through a real
//! IdP's sign-in form (`--flow code`).

mod benchmark;
mod code;

pub use benchmark::run;

use std::sync::Arc;
use std::time::Duration;

use crate::args::Args;
use crate::http::{cookie_header, Conn, Reply, COOKIE_HEADER};
use crate::jar::Jar;
use crate::token::{SignerPool, SigningKey, TokenTemplate};

/// How one app's login looks from outside.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub login_path: String,
    pub callback_path: String,
    pub callback_status: u16,
    pub session_cookie: String,
}

impl Target {
    /// `--app-kind bff` (oidc-bff) or `--app-kind express` (express-openid-connect).
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let base = args.text("app")?;
        let kind = args.or("app-kind", "bff".to_string())?;
        let (login_path, callback_status, session_cookie) = match kind.as_str() {
            "bff" => ("/login?returnTo=%2F", 303, "bff_session"),
            "express" => ("/login", 302, "appSession"),
            other => return Err(format!("--app-kind {other}: use bff or express")),
        };
        Ok(Self {
            base,
            login_path: args.or("login-path", login_path.to_string())?,
            callback_path: args.or("callback-path", "/callback".to_string())?,
            callback_status: args.or("callback-status", callback_status)?,
            session_cookie: args.or("session-cookie", session_cookie.to_string())?,
        })
    }
}

/// What the load generator needs to log in.
#[derive(Clone)]
pub struct Minter {
    pub signer: SignerPool,
    pub template: TokenTemplate,
}

impl Minter {
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let key = SigningKey::load(&args.text("key")?, &args.or("kid", "key-a".to_string())?)?;
        let threads: usize = args.or("signers", 1)?;
        Ok(Self {
            signer: SignerPool::start(Arc::new(key), threads),
            template: TokenTemplate {
                issuer: args.text("issuer")?,
                client_id: args.text("client-id")?,
            },
        })
    }
}

pub struct Login {
    /// The `Cookie` header value that carries the new session.
    pub session: String,
    /// Every cookie of the login's two answers, as a browser keeps them.
    pub jar: Jar,
    /// The two round trips (`/login` + `/callback`), without the time spent minting.
    pub pair: Duration,
}

/// The first step of a login: the redirect to the IdP, its `state` and `nonce`, and the
/// transient cookies to send back with the callback.
pub struct Started {
    pub state: String,
    pub nonce: String,
    pub cookies: String,
    /// The cookies of the `/login` answer, as a browser keeps them.
    pub jar: Jar,
    pub elapsed: Duration,
}

pub async fn start(conn: &mut Conn, target: &Target) -> Result<Started, String> {
    let reply = conn.get(&target.login_path, &[]).await?;
    let mut started = started_from(&reply)?;
    started
        .jar
        .update(&target.login_path, &reply.set_cookie_lines);
    Ok(started)
}

/// The login attempt that a `GET /login` answer started (the soak sends it itself, to see
/// every status).
pub fn started_from(reply: &Reply) -> Result<Started, String> {
    if !matches!(reply.status, 302 | 303) {
        return Err(format!("/login answered {}", reply.status));
    }
    let location = reply.location.as_deref().ok_or("/login without Location")?;
    let url = url::Url::parse(location).map_err(|e| format!("Location: {e}"))?;
    let mut state = None;
    let mut nonce = None;
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "state" => state = Some(value.into_owned()),
            "nonce" => nonce = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(Started {
        state: state.ok_or("no state in the redirect")?,
        nonce: nonce.ok_or("no nonce in the redirect")?,
        cookies: cookie_header(&reply.set_cookies),
        jar: Jar::default(),
        elapsed: reply.elapsed,
    })
}

pub async fn login(
    conn: &mut Conn,
    target: &Target,
    minter: &Minter,
    user: u64,
) -> Result<Login, String> {
    let started = start(conn, target).await?;
    let token = minter
        .signer
        .sign(minter.template.claims(&started.nonce, user))
        .await
        .ok_or("signer stopped")?;
    finish(conn, target, &started, &token).await
}

/// The second step: `POST /callback` with the token and the cookies of `start`.
async fn finish(
    conn: &mut Conn,
    target: &Target,
    started: &Started,
    token: &str,
) -> Result<Login, String> {
    let body = callback_body(started, token);
    let jar = started.jar.clone();
    post_callback(conn, target, &started.cookies, jar, started.elapsed, body).await
}

/// `POST /callback` with `body` and the cookies `/login` set (`cookies` as sent, `jar` as kept):
/// the session, the browser's cookies after it, and how long `/login` and this step took.
pub async fn post_callback(
    conn: &mut Conn,
    target: &Target,
    cookies: &str,
    mut jar: Jar,
    login_took: Duration,
    body: String,
) -> Result<Login, String> {
    let reply = conn
        .post_form(&target.callback_path, &[(COOKIE_HEADER, cookies)], body)
        .await?;
    if reply.status != target.callback_status {
        let text = String::from_utf8_lossy(&reply.body);
        let snippet: String = text.chars().take(200).collect();
        return Err(format!("/callback answered {}: {snippet}", reply.status));
    }
    let session = session_from(target, &reply)
        .ok_or_else(|| format!("/callback set no {} cookie", target.session_cookie))?;
    jar.update(&target.callback_path, &reply.set_cookie_lines);
    Ok(Login {
        session,
        jar,
        pair: login_took + reply.elapsed,
    })
}

/// The form the IdP would post to `/callback` for this attempt.
pub fn callback_body(started: &Started, token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token", token)
        .append_pair("state", &started.state)
        .finish()
}

/// The `Cookie` header value of the session a callback's answer set, if it set one.
pub fn session_from(target: &Target, reply: &Reply) -> Option<String> {
    // express-openid-connect splits large sessions into `appSession.0`, `.1`, ...
    let prefix = format!("{}.", target.session_cookie);
    let session: Vec<(String, String)> = reply
        .set_cookies
        .iter()
        .filter(|(n, v)| (*n == target.session_cookie || n.starts_with(&prefix)) && !v.is_empty())
        .cloned()
        .collect();
    (!session.is_empty()).then(|| cookie_header(&session))
}
