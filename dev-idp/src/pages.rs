//! The development IdP's HTML: the sign-in page, the form_post response, error and signed-out
//! pages. Each carries the banner that says what this IdP is. No inline script or style: the
//! scripts and the stylesheet are files under `assets/`.

use crate::accounts::{Account, ACCOUNTS, DEMO_ONE_TIME_CODE};
use crate::authorize::AuthorizationRequest;
use crate::clients::Clients;

/// The line on every page that says what this IdP is.
pub const BANNER: &str = "Development identity provider — not for production";

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, script: Option<&str>, body: &str) -> String {
    let script = script
        .map(|src| format!(r#"<script src="{src}" defer></script>"#))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · Development IdP</title>
<link rel="stylesheet" href="/assets/style.css">
{script}
</head>
<body>
<div class="banner" id="dev-idp-banner" role="note">{banner}</div>
<main>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
        banner = BANNER,
    )
}

fn hidden_fields(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(name),
                escape(value)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn account_list() -> String {
    ACCOUNTS
        .iter()
        .map(|a: &Account| {
            format!(
                r#"<li class="account">
  <img src="/avatars/{user}.svg" alt="" width="40" height="40">
  <span class="who"><strong>{name}</strong><br><span class="email">{email}</span></span>
  <span class="credentials">username <code>{user}</code> · password <code>{password}</code></span>
  <button type="button" class="use-account secondary" hidden data-username="{user}" data-password="{password}">Use</button>
</li>"#,
                user = escape(a.username),
                name = escape(&a.name()),
                email = escape(a.email),
                password = escape(a.password),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The alert after a failed attempt, or nothing.
fn error_paragraph(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                r#"<p class="error" id="error" role="alert">{}</p>"#,
                escape(e)
            )
        })
        .unwrap_or_default()
}

/// The sign-in page for an authentication request, with an error after a failed attempt.
pub fn sign_in(request: &AuthorizationRequest, username: &str, error: Option<&str>) -> String {
    let error = error_paragraph(error);
    let body = format!(
        r#"<h1>Sign in</h1>
<p>The application <code>{client}</code> asks you to sign in (scope <code>{scope}</code>).</p>
{error}
<form method="post" action="/authorize" class="sign-in" id="sign-in-form">
{hidden}
<label for="username">Username</label>
<input id="username" name="username" value="{username}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions">
<button type="submit" id="sign-in" name="action" value="sign_in">Sign in</button>
<button type="submit" id="cancel" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
</div>
</form>
<h2>Demo accounts</h2>
<ul class="accounts">
{accounts}
</ul>"#,
        client = escape(&request.client_id),
        scope = escape(&request.scope()),
        hidden = hidden_fields(&request.form_fields()),
        username = escape(username),
        accounts = account_list(),
    );
    layout("Sign in", Some("/assets/sign_in.js"), &body)
}

/// The second step of a sign-in that asked for `acr=mfa`: a one-time code (the demo code is
/// printed on the page, as the passwords are).
pub fn second_factor(request: &AuthorizationRequest, error: Option<&str>) -> String {
    let error = error_paragraph(error);
    let body = format!(
        r#"<h1>Second factor</h1>
<p>The application <code>{client}</code> asks for a stronger sign-in (<code>acr=mfa</code>): enter
the one-time code.</p>
{error}
<form method="post" action="/authorize" class="sign-in" id="second-factor-form">
{hidden}
<label for="one_time_code">One-time code</label>
<input id="one_time_code" name="one_time_code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
<div class="actions">
<button type="submit" id="verify" name="action" value="second_factor">Verify</button>
<button type="submit" id="cancel" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
</div>
</form>
<p>The demo code of every account is <code id="demo-code">{code}</code>.</p>"#,
        client = escape(&request.client_id),
        hidden = hidden_fields(&request.form_fields()),
        code = DEMO_ONE_TIME_CODE,
    );
    layout("Second factor", None, &body)
}

/// The form_post response (OAuth 2.0 Form Post Response Mode): a form that the browser posts to
/// the client's redirect URI, submitted by `form_post.js` or by hand with **Continue**.
pub fn form_post(redirect_uri: &str, fields: &[(&str, String)]) -> String {
    let body = format!(
        r#"<h1>Returning to the application</h1>
<form method="post" action="{action}" id="form-post">
{hidden}
<p>If nothing happens, press <strong>Continue</strong>.</p>
<button type="submit" id="continue">Continue</button>
</form>"#,
        action = escape(redirect_uri),
        hidden = hidden_fields(fields),
    );
    layout("Returning", Some("/assets/form_post.js"), &body)
}

pub fn error(title: &str, message: &str) -> String {
    let body = format!(
        r#"<h1 id="error-title">{}</h1>
<p id="error-message">{}</p>
<p>This error is shown here instead of being sent back to the application, because the request did not prove where to send it.</p>"#,
        escape(title),
        escape(message)
    );
    layout(title, None, &body)
}

pub fn signed_out(message: &str) -> String {
    let body = format!(
        r#"<h1 id="signed-out">Signed out</h1>
<p>{}</p>"#,
        escape(message)
    );
    layout("Signed out", None, &body)
}

/// What someone opening the IdP's address directly sees.
pub fn home(issuer: &str, clients: &Clients) -> String {
    let clients: String = clients
        .iter()
        .map(|client| {
            format!(
                "<li>Client <code>{}</code>, redirect URIs {}</li>\n",
                escape(&client.client_id),
                client
                    .redirect_uris
                    .iter()
                    .map(|uri| format!("<code>{}</code>", escape(uri)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Development identity provider</h1>
<p>A zero-setup OpenID Provider for local development and tests (started by debug builds of
oidc-bff when no issuer is configured, or on its own with <code>cargo run -p dev-idp</code>).
Its signing key is generated at each start and kept in memory.</p>
<ul>
<li>Issuer: <code>{issuer}</code> (<a href="/.well-known/openid-configuration">discovery</a>, <a href="/jwks">keys</a>)</li>
{clients}</ul>
<h2>Demo accounts</h2>
<ul class="accounts">
{accounts}
</ul>"#,
        issuer = escape(issuer),
        accounts = account_list(),
    );
    layout("Development identity provider", None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = form_post(
            "http://localhost:3000/callback",
            &[("state", r#""><script>alert(1)</script>"#.into())],
        );
        assert!(!page.contains("<script>alert"));
        assert!(page.contains(BANNER));
    }
}
