//! Helpers for tests that drive this IdP over real HTTP, as a browser would (feature
//! `testing`; never in a build without it): a free loopback port, an HTTP client that does not
//! follow redirects, the pages as a browser gets them, what a test reads on them (hidden form
//! fields, a form's action, the IdP session cookie) and the sign-in steps.
//!
//! Shared by this crate's own tests and by the tests of the apps that log in here.

use openidconnect::reqwest;

/// The name of the IdP's session cookie.
pub const SESSION_COOKIE: &str = "devidp_session";

/// A loopback port that was free a moment ago (another process can take it before it is
/// bound: callers that start a server on it retry or fail clearly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// An HTTP client that, like a test wants, does not follow redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// A page of the IdP as the browser gets it.
#[derive(Debug)]
pub struct IdpPage {
    /// The HTTP status.
    pub status: u16,
    /// `Location`, on a redirect.
    pub location: Option<String>,
    /// Every `Set-Cookie` header, in order.
    pub set_cookie: Vec<String>,
    /// `Content-Security-Policy`.
    pub csp: Option<String>,
    /// The body, as text.
    pub body: String,
}

impl IdpPage {
    /// Reads a response into a page.
    pub async fn read(response: reqwest::Response) -> Self {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("location");
        let csp = header("content-security-policy");
        let set_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let status = response.status().as_u16();
        Self {
            status,
            location,
            set_cookie,
            csp,
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// Whether this is the sign-in page (it asks for a password).
    pub fn is_sign_in(&self) -> bool {
        self.body.contains(r#"id="password""#)
    }

    /// `devidp_session=<value>` from its `Set-Cookie`, ready for a `Cookie` header.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookie
            .iter()
            .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }

    /// The hidden inputs of its forms, in order.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        hidden_fields(&self.body)
    }

    /// The hidden input `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        field(&self.body, name)
    }

    /// Where its form posts to (a form_post page: the client's redirect URI).
    pub fn form_action(&self) -> Option<String> {
        form_action(&self.body)
    }

    /// What a browser posts from a form_post page: its hidden fields, form-encoded.
    pub fn form_post_body(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.hidden_fields())
            .finish()
    }
}

/// `GET url`, with the IdP session `cookie` when there is one.
pub async fn get(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> IdpPage {
    let mut request = http.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    IdpPage::read(request.send().await.expect("IdP reachable")).await
}

/// A form POST to `url`, with the IdP session `cookie` when there is one.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    fields: &[(String, String)],
    cookie: Option<&str>,
) -> IdpPage {
    let mut request = http.post(url).form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    IdpPage::read(request.send().await.expect("IdP reachable")).await
}

/// Submits the form of `current` (a sign-in or second-factor page of the IdP at `issuer`):
/// its hidden fields and `fields` (e.g. `username` and `password`, or `action=cancel`).
pub async fn submit(
    http: &reqwest::Client,
    issuer: &str,
    current: &IdpPage,
    fields: &[(&str, &str)],
    cookie: Option<&str>,
) -> IdpPage {
    let mut form = current.hidden_fields();
    form.extend(fields.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    post_form(http, &format!("{issuer}/authorize"), &form, cookie).await
}

/// Opens `authorize_url` (an authentication request at the IdP at `issuer`) and, when the
/// sign-in page shows, signs in as the demo account `user` (whose password is its name).
/// Returns the page that follows (a form_post page when all went well) and the IdP session
/// cookie (`cookie` when there was one and no sign-in was needed).
pub async fn sign_in(
    http: &reqwest::Client,
    issuer: &str,
    authorize_url: &str,
    user: &str,
    cookie: Option<&str>,
) -> (IdpPage, Option<String>) {
    let mut page = get(http, authorize_url, cookie).await;
    let mut cookie = cookie.map(str::to_string);
    if page.is_sign_in() {
        page = submit(
            http,
            issuer,
            &page,
            &[("username", user), ("password", user)],
            None,
        )
        .await;
        cookie = page.session_cookie();
    }
    (page, cookie)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split(r#"<input type="hidden" name=""#)
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once(r#"" value=""#)?;
            let (value, _) = rest.split_once('"')?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

/// The hidden input `name` of a page.
pub fn field(html: &str, name: &str) -> Option<String> {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Where a page's form posts to (a form_post page: the client's redirect URI).
pub fn form_action(html: &str) -> Option<String> {
    let rest = html.split(r#"<form method="post" action=""#).nth(1)?;
    Some(unescape(rest.split_once('"')?.0))
}
