//! `loadgen login --flow code --split N`: code-flow logins through a real IdP's sign-in form
//! (the development IdP's, `dev-idp`), measured like the ID-token split run: all
//! `GET /login`s (timed), then every sign-in at the IdP (not timed: the IdP runs on the load
//! core, it is not the app's CPU), then all `POST /callback`s (timed: the app redeems each code
//! at the IdP's token endpoint, which is the app's own cost). The server's CPU is read from
//! /proc over the two timed steps only.
//!
//! A sign-in is what a browser without an IdP session does: `GET` the authorize URL of the
//! app's redirect (a pushed request's `request_uri` works the same), read the sign-in form's
//! hidden fields, `POST /authorize` with them, the account's credentials, `action=sign_in` and
//! an `Origin` header, then read the form_post page's action and hidden fields, which the
//! callback posts. No IdP cookie is kept, so every sign-in asks for the password.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::benchmark::{report, summary_lines, PhaseResult};
use super::{post_callback, Login, Target};
use crate::args::Args;
use crate::http::{cookie_header, Conn};
use crate::jar::Jar;
use crate::stats::CpuMeter;

/// `--accounts user:password,…` (default `alice:alice`): login i signs in as account
/// i mod their number, so a user's sessions stay below `MAX_SESSIONS_PER_USER` for longer.
fn accounts(args: &Args) -> Result<Vec<(String, String)>, String> {
    let list = args.or("accounts", "alice:alice".to_string())?;
    list.split(',')
        .map(|pair| {
            pair.split_once(':')
                .map(|(user, password)| (user.to_string(), password.to_string()))
                .ok_or_else(|| format!("--accounts: `{pair}` is not user:password"))
        })
        .collect()
}

/// A `GET /login` answered: where the browser goes, and the cookies to send back.
struct Started {
    authorize_url: url::Url,
    cookies: String,
    jar: Jar,
    elapsed: Duration,
}

/// A sign-in done at the IdP: the form the browser would post to the app's callback.
struct Answered {
    started: Started,
    fields: Vec<(String, String)>,
}

pub async fn run(args: &Args) -> Result<(), String> {
    let target = Target::from_args(args)?;
    let accounts = Arc::new(accounts(args)?);
    let concurrency: usize = args.or("concurrency", 32)?;
    let n: u64 = args.or("split", 2000)?;
    let warmup: u64 = args.or("warmup-logins", 200)?;
    let prefix = args.or("prefix", "code_login".to_string())?;
    let server_pid = args.opt("server-pid");

    // Warm-up (and the proof that the set-up works): the same three steps, unmeasured.
    let warm = split(&target, &accounts, concurrency, warmup.max(1), None).await?;
    if warm.phase.ok == 0 {
        let error = warm.phase.first_error.unwrap_or_default();
        return Err(format!("warm-up: no login succeeded: {error}"));
    }
    let mut result = split(&target, &accounts, concurrency, n, server_pid.as_deref()).await?;
    let timed = (result.login_step + result.callback_step).as_secs_f64();
    let ok = result.phase.ok;
    let mut lines = summary_lines(&prefix, &mut result.phase, timed);
    lines.push(format!(
        "{prefix}.login_step_secs={:.2}",
        result.login_step.as_secs_f64()
    ));
    lines.push(format!(
        "{prefix}.sign_in_step_secs={:.2}",
        result.sign_in_step.as_secs_f64()
    ));
    lines.push(format!(
        "{prefix}.callback_step_secs={:.2}",
        result.callback_step.as_secs_f64()
    ));
    if let Some(cpu) = result.server_cpu {
        lines.push(format!("{prefix}.server_cpu={:.0}", 100.0 * cpu / timed));
        lines.push(format!(
            "{prefix}.server_cpu_us_per_login={:.0}",
            cpu * 1e6 / ok.max(1) as f64
        ));
    }
    report(args, &lines, &result.phase)
}

/// What one split run came to.
struct Split {
    phase: PhaseResult,
    login_step: Duration,
    sign_in_step: Duration,
    callback_step: Duration,
    /// Server CPU seconds over the two timed steps, when its pid was given.
    server_cpu: Option<f64>,
}

async fn split(
    target: &Target,
    accounts: &Arc<Vec<(String, String)>>,
    concurrency: usize,
    n: u64,
    server_pid: Option<&str>,
) -> Result<Split, String> {
    let per_worker = n.div_ceil(concurrency as u64);
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(Conn::new(&target.base)?);
    }

    // Step 1 (timed): the redirects to the IdP.
    let meter = server_pid.map(CpuMeter::start);
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut started = Vec::new();
            for _ in 0..per_worker {
                started.push(start(&mut conn, &target).await);
            }
            (conn, started)
        }));
    }
    let mut steps = Vec::new();
    for task in tasks {
        steps.push(task.await.map_err(|e| e.to_string())?);
    }
    let login_step = clock.elapsed();
    let cpu_first = meter
        .as_ref()
        .and_then(CpuMeter::read)
        .map(|(used, _)| used);

    // Step 2 (not timed): the sign-ins at the IdP, one IdP connection per app connection.
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for (worker, (conn, started)) in steps.into_iter().enumerate() {
        let accounts = accounts.clone();
        tasks.push(tokio::spawn(async move {
            let mut idp: Option<Conn> = None;
            let mut answered = Vec::new();
            for (i, step) in started.into_iter().enumerate() {
                let (username, password) = &accounts[(worker + i) % accounts.len()];
                let outcome = match step {
                    Ok(step) => sign_in(&mut idp, step, username, password).await,
                    Err(e) => Err(e),
                };
                answered.push(outcome);
            }
            (conn, answered)
        }));
    }
    let mut prepared = Vec::new();
    for task in tasks {
        prepared.push(task.await.map_err(|e| e.to_string())?);
    }
    let sign_in_step = clock.elapsed();

    // Step 3 (timed): the callbacks, each of which redeems its code at the IdP.
    let meter = server_pid.map(CpuMeter::start);
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for (mut conn, answered) in prepared {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = PhaseResult::default();
            for outcome in answered {
                let done = match outcome {
                    Ok(answered) => callback(&mut conn, &target, answered).await,
                    Err(e) => Err(e),
                };
                result.record(done);
            }
            result
        }));
    }
    let mut phase = PhaseResult::default();
    for task in tasks {
        phase.merge(task.await.map_err(|e| e.to_string())?);
    }
    let callback_step = clock.elapsed();
    let cpu_second = meter
        .as_ref()
        .and_then(CpuMeter::read)
        .map(|(used, _)| used);
    Ok(Split {
        phase,
        login_step,
        sign_in_step,
        callback_step,
        server_cpu: cpu_first.zip(cpu_second).map(|(a, b)| a + b),
    })
}

async fn start(conn: &mut Conn, target: &Target) -> Result<Started, String> {
    let reply = conn.get(&target.login_path, &[]).await?;
    if !matches!(reply.status, 302 | 303) {
        return Err(format!("/login answered {}", reply.status));
    }
    let location = reply.location.as_deref().ok_or("/login without Location")?;
    let authorize_url = url::Url::parse(location).map_err(|e| format!("Location: {e}"))?;
    let mut jar = Jar::default();
    jar.update(&target.login_path, &reply.set_cookie_lines);
    Ok(Started {
        authorize_url,
        cookies: cookie_header(&reply.set_cookies),
        jar,
        elapsed: reply.elapsed,
    })
}

/// The browser at the IdP: the sign-in page, the credentials, the form_post page.
async fn sign_in(
    idp: &mut Option<Conn>,
    started: Started,
    username: &str,
    password: &str,
) -> Result<Answered, String> {
    let url = &started.authorize_url;
    let origin = url.origin().ascii_serialization();
    let conn = match idp {
        Some(conn) => conn,
        None => idp.insert(Conn::new(&origin)?),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let page = conn.get(&path, &[]).await?;
    if page.status != 200 {
        return Err(format!("the IdP's sign-in page answered {}", page.status));
    }
    let (_, fields) = form_of(&String::from_utf8_lossy(&page.body))?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .append_pair("username", username)
        .append_pair("password", password)
        .append_pair("action", "sign_in")
        .finish();
    let answer = conn
        .post_form(url.path(), &[("origin", &origin)], form)
        .await?;
    if answer.status != 200 {
        return Err(format!("the IdP's sign-in answered {}", answer.status));
    }
    let (action, fields) = form_of(&String::from_utf8_lossy(&answer.body))?;
    if !action.ends_with("/callback") {
        return Err(format!(
            "the IdP answered a form to `{action}`, not a callback"
        ));
    }
    Ok(Answered { started, fields })
}

async fn callback(conn: &mut Conn, target: &Target, answered: Answered) -> Result<Login, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&answered.fields)
        .finish();
    let started = answered.started;
    post_callback(
        conn,
        target,
        &started.cookies,
        started.jar,
        started.elapsed,
        body,
    )
    .await
}

/// The action of a page's first form and its hidden fields, HTML-unescaped (the development
/// IdP writes `<input type="hidden" name="…" value="…">`).
fn form_of(page: &str) -> Result<(String, Vec<(String, String)>), String> {
    let action = page
        .split_once("<form method=\"post\" action=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(action, _)| unescape(action))
        .ok_or("the IdP's page has no form")?;
    let mut fields = Vec::new();
    for piece in page.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = piece
            .split_once('"')
            .ok_or("a hidden field without its end")?;
        let value = rest
            .strip_prefix(" value=\"")
            .and_then(|rest| rest.split_once('"'))
            .map(|(value, _)| value)
            .ok_or("a hidden field without a value")?;
        fields.push((unescape(name), unescape(value)));
    }
    if fields.is_empty() {
        return Err("the IdP's form has no hidden fields".into());
    }
    Ok((action, fields))
}

/// The five escapes of the development IdP's pages (`&` last, so `&amp;lt;` stays `&lt;`).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_post_page_gives_its_action_and_unescaped_fields() {
        let page = r#"<form method="post" action="http://localhost:3700/callback" id="form-post">
<input type="hidden" name="code" value="a&amp;b">
<input type="hidden" name="state" value="&quot;s&#39;&lt;&gt;&amp;lt;">
</form>"#;
        let (action, fields) = form_of(page).unwrap();
        assert_eq!(action, "http://localhost:3700/callback");
        assert_eq!(
            fields,
            vec![
                ("code".to_string(), "a&b".to_string()),
                ("state".to_string(), "\"s'<>&lt;".to_string()),
            ]
        );
    }

    #[test]
    fn a_page_without_a_form_is_an_error() {
        assert!(form_of("<p>error</p>").is_err());
    }
}
