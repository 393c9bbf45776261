//! Error pages and catchers. Every error a person sees is a page with a plain reason, a way
//! forward and the request id that also appears in the log line and the `X-Request-Id` header; never a trace or a token.

use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Redirect, Responder};
use rocket::Either;
use rocket::{catch, catchers, Catcher, Request};
use rocket_dyn_templates::tera::Context;

use super::views::View;

use crate::hooks::Forbidden;
use crate::session::LoginRequired;

pub use crate::telemetry::request_id;

/// An error page: status, a title, a sentence saying what happened, and a link to go on.
#[derive(Debug)]
pub struct ErrorPage {
    /// The HTTP status.
    pub status: Status,
    /// The page's heading.
    pub title: &'static str,
    /// What happened, in a sentence.
    pub message: String,
    /// A link to go on: label and target.
    pub action: Option<(&'static str, String)>,
}

impl ErrorPage {
    /// A page with the default way on (back to the start page).
    pub fn new(status: Status, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            action: None,
        }
    }

    /// Offers `label` linking to `href` instead.
    pub fn with_action(mut self, label: &'static str, href: impl Into<String>) -> Self {
        self.action = Some((label, href.into()));
        self
    }

    /// Offers to log in again.
    pub fn try_login_again(self) -> Self {
        self.with_action("Try logging in again", "/login")
    }
}

impl<'r> Responder<'r, 'static> for ErrorPage {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let id = request_id(req);
        let (action_label, action_href) = self
            .action
            .unwrap_or(("Back to the start page", "/".into()));
        let mut context = Context::new();
        context.insert("status", &self.status.code);
        context.insert("title", self.title);
        context.insert("message", &self.message);
        context.insert("action_label", action_label);
        context.insert("action_href", &action_href);
        context.insert("request_id", &id);
        let page = View::new("error", context);
        response::Response::build_from(page.respond_to(req)?)
            .status(self.status)
            .header(Header::new("Cache-Control", "no-store"))
            .ok()
    }
}

/// A JSON answer built in one step. Rocket's `(ContentType, String)` builds a plain-text
/// answer, merges it into a second one and then replaces its content type: a fifth of what a
/// logged-out script's 401 costs beyond Rocket's own request handling (callgrind).
struct JsonBody(String);

impl<'r> Responder<'r, 'static> for JsonBody {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        response::Response::build()
            .header(ContentType::JSON)
            .sized_body(self.0.len(), std::io::Cursor::new(self.0))
            .ok()
    }
}

/// 401 from a session guard: JSON for scripts, a redirect to log in for browser navigations.
#[catch(401)]
fn login_required(req: &Request<'_>) -> Either<Redirect, JsonBody> {
    let required = req.local_cache(|| LoginRequired {
        return_to: "/".into(),
        redirect: false,
    });
    if required.redirect {
        Either::Left(Redirect::found(required.login_url()))
    } else {
        // Written directly: this answer is on the hot path of every logged-out script call.
        // The URL is form-encoded (letters, digits, `*-._+%/?=`): nothing to escape in JSON.
        let url = required.login_url();
        let mut body = String::with_capacity(48 + url.len());
        body.push_str(r#"{"error":"login_required","login_url":""#);
        body.push_str(&url);
        body.push_str(r#""}"#);
        Either::Right(JsonBody(body))
    }
}

/// 503 from a session guard that cannot check the session (the store's list of ended sessions
/// is out of date): JSON for scripts, a page for navigations; the cookie is kept either way.
#[catch(503)]
fn unavailable(req: &Request<'_>) -> Either<ErrorPage, (Status, (ContentType, &'static str))> {
    if crate::session::is_navigation(req) {
        Either::Left(logged(
            req,
            ErrorPage::new(
                Status::ServiceUnavailable,
                "Temporarily unavailable",
                "Your session cannot be checked right now. Please try again in a moment.",
            )
            .with_action("Try again", req.uri().to_string()),
        ))
    } else {
        Either::Right((
            Status::ServiceUnavailable,
            (
                ContentType::JSON,
                r#"{"error":"temporarily_unavailable","message":"the session cannot be checked right now; try again in a moment"}"#,
            ),
        ))
    }
}

#[catch(400)]
fn bad_request(req: &Request<'_>) -> ErrorPage {
    logged(
        req,
        ErrorPage::new(
            Status::BadRequest,
            "Bad request",
            "The request could not be understood.",
        ),
    )
}

#[catch(403)]
fn forbidden(req: &Request<'_>) -> Either<ErrorPage, (Status, (ContentType, &'static str))> {
    let reason = *req.local_cache(|| Forbidden::CrossSite);
    if crate::session::is_navigation(req) {
        let message = match reason {
            Forbidden::CrossSite => "This request is not allowed.",
            Forbidden::ClaimRule => "Your account is not allowed to use this.",
        };
        Either::Left(logged(
            req,
            ErrorPage::new(Status::Forbidden, "Forbidden", message),
        ))
    } else {
        let body = match reason {
            Forbidden::CrossSite => {
                r#"{"error":"forbidden","message":"this request is not allowed: API calls that change something must come from this site's page, with the header X-CSRF: 1"}"#
            }
            Forbidden::ClaimRule => {
                r#"{"error":"forbidden","message":"your account is not allowed to use this"}"#
            }
        };
        Either::Right((Status::Forbidden, (ContentType::JSON, body)))
    }
}

#[catch(404)]
fn not_found(req: &Request<'_>) -> ErrorPage {
    ErrorPage::new(
        Status::NotFound,
        "Not found",
        format!("There is nothing at {}.", req.uri().path()),
    )
}

#[catch(413)]
fn too_large(req: &Request<'_>) -> ErrorPage {
    logged(
        req,
        ErrorPage::new(
            Status::PayloadTooLarge,
            "Request too large",
            "The request body is larger than this server accepts.",
        ),
    )
}

#[catch(422)]
fn unprocessable(req: &Request<'_>) -> ErrorPage {
    logged(
        req,
        ErrorPage::new(
            Status::BadRequest,
            "Bad request",
            "The submitted form could not be read.",
        ),
    )
}

#[catch(500)]
fn internal(req: &Request<'_>) -> ErrorPage {
    logged(
        req,
        ErrorPage::new(
            Status::InternalServerError,
            "Something went wrong",
            "The server could not complete this request.",
        ),
    )
}

#[catch(default)]
fn other(status: Status, req: &Request<'_>) -> ErrorPage {
    logged(
        req,
        ErrorPage::new(
            status,
            "Request failed",
            status.reason().unwrap_or("The request failed.").to_string(),
        ),
    )
}

fn logged(req: &Request<'_>, page: ErrorPage) -> ErrorPage {
    tracing::info!(
        request_id = %request_id(req),
        status = page.status.code,
        method = %req.method(),
        path = %req.uri().path(),
        "{}",
        page.title
    );
    page
}

/// Every catcher of the app, mounted at `/`.
pub fn catchers() -> Vec<Catcher> {
    catchers![
        login_required,
        unavailable,
        bad_request,
        forbidden,
        not_found,
        too_large,
        unprocessable,
        internal,
        other
    ]
}
