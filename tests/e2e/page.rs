//! One browser tab's worth of helpers for the stories: explicit waits that fail with the page's
//! URL, title and text; numbered screenshots; and, for the stories that check that no token
//! reaches the browser, a record of every page source and cookie the browser held.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use url::Url;

use crate::browser::all_browser_cookies;
use crate::idp_driver::{Discovery, IdpDriver};
use crate::store::RecordingStore;
use crate::support::{APP, IDP, SECOND_IDP};

/// How long any single wait for the browser may take.
pub const WAIT: Duration = Duration::from_secs(10);
pub const POLL: Duration = Duration::from_millis(100);

/// Where the browser is expected to be.
#[derive(Clone, Copy, Debug)]
pub enum At {
    /// This path on the app (any query string).
    App(&'static str),
    /// A path starting with this on the IdP.
    Idp(&'static str),
    /// A path starting with this on the second development IdP (two providers).
    SecondIdp(&'static str),
}

impl At {
    pub fn matches(self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        match self {
            At::App(path) => origin == APP && url.path() == path,
            At::Idp(prefix) => origin == IDP && url.path().starts_with(prefix),
            At::SecondIdp(prefix) => origin == SECOND_IDP && url.path().starts_with(prefix),
        }
    }
}

/// What one probe of a wait found.
pub enum Probe<T> {
    Ready(T),
    NotYet(String),
    /// Waiting longer cannot help (e.g. the app shows an error page instead).
    Failed(String),
}

/// What the browser held at one step: the page's URL and source, and every cookie.
pub struct Seen {
    pub step: String,
    pub url: String,
    pub source: String,
    pub cookies: Vec<serde_json::Value>,
}

/// One browser session as a scenario sees it, with explicit waits and numbered screenshots.
pub struct Page {
    pub client: Client,
    /// `<idp>-<scenario>`: prefix of screenshots and failure messages.
    pub label: String,
    /// The IdP of this round, and what a story may ask of it behind the browser's back.
    pub idp: &'static IdpDriver,
    pub discovery: Arc<Discovery>,
    /// The app's store (the code-flow stories read the session's tokens from it).
    pub store: Arc<RecordingStore>,
    steps: AtomicUsize,
    shots: PathBuf,
    /// `Some` once `start_audit` was called: what the browser held at each step since.
    audit: Mutex<Option<Vec<Seen>>>,
}

impl Page {
    pub fn new(
        client: Client,
        label: String,
        idp: &'static IdpDriver,
        discovery: Arc<Discovery>,
        store: Arc<RecordingStore>,
        shots: PathBuf,
    ) -> Self {
        Self {
            client,
            label,
            idp,
            discovery,
            store,
            steps: AtomicUsize::new(0),
            shots,
            audit: Mutex::new(None),
        }
    }

    pub async fn open(&self, path: &str) {
        let url = format!("{APP}{path}");
        if let Err(e) = self.client.goto(&url).await {
            panic!(
                "{}",
                self.context(format!("could not open {url}: {e}")).await
            );
        }
    }

    /// Saves `<idp>-<scenario>-<nn>-<step>.png` (and, when auditing, what the browser holds).
    pub async fn shot(&self, step: &str) {
        let n = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        self.save_screenshot(&format!("{}-{n:02}-{step}.png", self.label))
            .await;
        self.remember(step).await;
    }

    /// From now on, every `shot` also records the page source and all the browser's cookies.
    pub async fn start_audit(&self) {
        *self.audit.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
        self.remember("audit-start").await;
    }

    /// Records what the browser holds now, if auditing.
    pub async fn remember(&self, step: &str) {
        if self
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return;
        }
        let url = self.url().await.to_string();
        let source = match self.client.source().await {
            Ok(source) => source,
            Err(e) => panic!("{}", self.context(format!("no page source: {e}")).await),
        };
        let cookies = match all_browser_cookies(&self.client).await {
            Ok(cookies) => cookies,
            Err(e) => panic!("{}", self.context(e).await),
        };
        if let Some(seen) = self
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            seen.push(Seen {
                step: step.to_string(),
                url,
                source,
                cookies,
            });
        }
    }

    /// Everything recorded since `start_audit`.
    pub fn audited(&self) -> Vec<Seen> {
        self.audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default()
    }

    pub async fn save_screenshot(&self, file: &str) {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!(
                "{}",
                self.context(format!("screenshot {file} failed: {e}")).await
            ),
        };
        let path = self.shots.join(file);
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// The current URL, title and start of the page text, for failure messages.
    pub async fn context(&self, message: String) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("<{e}>"));
        let title = self.client.title().await.unwrap_or_default();
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let text: String = text.chars().take(600).collect();
        format!(
            "[{}] {message}\n  at: {url}\n  title: {title}\n  page text: {text:?}",
            self.label
        )
    }

    /// Polls `probe` until it is ready, for at most `WAIT`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Probe<T>>,
    {
        let start = Instant::now();
        loop {
            let last = match probe(self.client.clone()).await {
                Probe::Ready(value) => return value,
                Probe::Failed(reason) => {
                    panic!(
                        "{}",
                        self.context(format!("while waiting for {what}: {reason}"))
                            .await
                    )
                }
                Probe::NotYet(reason) => reason,
            };
            if start.elapsed() > WAIT {
                panic!(
                    "{}",
                    self.context(format!(
                        "timed out after {WAIT:?} waiting for {what} (last: {last})"
                    ))
                    .await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the browser is `at` the expected place and the element `css` there shows
    /// all of `needles`; returns the element's text. An app error page ends the wait at once.
    pub async fn wait_page(&self, at: At, css: &str, needles: &[&str]) -> String {
        self.wait_page_any(&[(at, css, needles)]).await.1
    }

    /// Like `wait_page`, for whichever of several pages comes first: returns its index in
    /// `pages` and the element's text.
    pub async fn wait_page_any(&self, pages: &[(At, &str, &[&str])]) -> (usize, String) {
        let what = pages
            .iter()
            .map(|(at, css, needles)| format!("{css} containing {needles:?} at {at:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let pages: Vec<(At, String, Vec<String>)> = pages
            .iter()
            .map(|(at, css, needles)| {
                (
                    *at,
                    css.to_string(),
                    needles.iter().map(|n| n.to_string()).collect(),
                )
            })
            .collect();
        self.wait_for(&what, |client| {
            let pages = pages.clone();
            async move {
                let mut waiting = Vec::new();
                for (index, (at, css, needles)) in pages.iter().enumerate() {
                    match probe_page(&client, *at, css, needles).await {
                        Probe::Ready(text) => return Probe::Ready((index, text)),
                        Probe::Failed(reason) => return Probe::Failed(reason),
                        Probe::NotYet(reason) => waiting.push(reason),
                    }
                }
                Probe::NotYet(waiting.join("; "))
            }
        })
        .await
    }

    /// An element on the current page, waited for with fantoccini's explicit wait.
    pub async fn element(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{}",
                self.context(format!("no element {css} within {WAIT:?}: {e}"))
                    .await
            ),
        }
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.click().await {
            panic!(
                "{}",
                self.context(format!("clicking {css} failed: {e}")).await
            );
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let element = self.element(css).await;
        let result = async {
            element.clear().await?;
            element.send_keys(value).await
        }
        .await;
        if let Err(e) = result {
            panic!(
                "{}",
                self.context(format!("typing into {css} failed: {e}")).await
            );
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn url(&self) -> Url {
        match self.client.current_url().await {
            Ok(url) => url,
            Err(e) => panic!("[{}] no current URL: {e}", self.label),
        }
    }

    /// The HTTP status of the current document, from the Navigation Timing API.
    pub async fn response_status(&self) -> Option<u64> {
        let script = "const n = performance.getEntriesByType('navigation')[0]; \
                      return n && typeof n.responseStatus === 'number' ? n.responseStatus : null;";
        self.client.execute(script, vec![]).await.ok()?.as_u64()
    }
}

/// One look at the browser for `wait_page`.
async fn probe_page(client: &Client, at: At, css: &str, needles: &[String]) -> Probe<String> {
    let url = match client.current_url().await {
        Ok(url) => url,
        Err(e) => return Probe::NotYet(e.to_string()),
    };
    if !at.matches(&url) {
        // An app error page where something else was expected ends the wait, but only if the
        // browser was still there after the page was read: the page may have changed between
        // reading the URL and reading the page.
        if url.origin().ascii_serialization() == APP && css != "#error-title" {
            if let Some(error) = app_error_page(client, &url).await {
                if client.current_url().await.is_ok_and(|now| now == url) {
                    return Probe::Failed(error);
                }
            }
        }
        return Probe::NotYet(format!("at {url}"));
    }
    // Fully loaded, so deferred scripts (the Call API button's handler) have run.
    match client.execute("return document.readyState", vec![]).await {
        Ok(state) if state == "complete" => {}
        Ok(state) => return Probe::NotYet(format!("document {state}")),
        Err(e) => return Probe::NotYet(e.to_string()),
    }
    let element = match client.find(Locator::Css(css)).await {
        Ok(element) => element,
        Err(e) => return Probe::NotYet(format!("{css}: {e}")),
    };
    match element.text().await {
        Ok(text) if needles.iter().all(|n| text.contains(n.as_str())) => Probe::Ready(text),
        Ok(text) => Probe::NotYet(format!("{css} shows {text:?}")),
        Err(e) => Probe::NotYet(e.to_string()),
    }
}

/// The title and message of an app error page (`#error-title`), if the browser shows one.
async fn app_error_page(client: &Client, url: &Url) -> Option<String> {
    let title = client
        .find(Locator::Css("#error-title"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let message = match client.find(Locator::Css("#error-message")).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    Some(format!(
        "the app shows the error page {title:?} at {url}: {message}"
    ))
}
