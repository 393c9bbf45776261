//! What every page of the development IdP shares: the HTML response, the headers on every
//! response, and the refusal of cross-site form posts.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::{Request, Response};

/// An HTML page and its status.
pub struct Page(pub Status, pub String);

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Response::build_from((ContentType::HTML, self.1).respond_to(req)?)
            .status(self.0)
            .ok()
    }
}

/// Refuses a sign-in form posted from another site (login CSRF), as Fetch Metadata tells.
pub struct SameOrigin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SameOrigin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.headers().get_one("Sec-Fetch-Site") {
            Some(site) if !matches!(site, "same-origin" | "none") => {
                Outcome::Error((Status::Forbidden, ()))
            }
            _ => Outcome::Success(SameOrigin),
        }
    }
}

/// Headers on every response of the IdP: no inline script or style, forms only to itself and to
/// the clients, no framing, nothing cached (the pages carry tokens).
pub struct SecurityHeaders {
    csp: String,
}

impl SecurityHeaders {
    /// `client_origins`: where the IdP's pages may post forms (the clients' redirect URIs).
    pub fn new(client_origins: &[String]) -> Self {
        Self {
            csp: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
                client_origins.join(" ")
            ),
        }
    }
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "development IdP security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, _req: &'r Request<'_>, res: &mut Response<'r>) {
        res.set_header(Header::new("Content-Security-Policy", self.csp.clone()));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("Referrer-Policy", "no-referrer"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        res.set_header(Header::new("Cache-Control", "no-store"));
    }
}

/// `DPoP-Nonce` on every answer of the token endpoint and the resources when nonces are
/// required (RFC 9449 §8.2, §9): the client uses it in its next proof.
pub struct DpopNonces;

#[rocket::async_trait]
impl Fairing for DpopNonces {
    fn info(&self) -> Info {
        Info {
            name: "development IdP DPoP nonces",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let path = req.uri().path();
        let dpop_endpoint = path == crate::discovery::TOKEN_PATH
            || path == crate::discovery::PAR_PATH
            || path == crate::discovery::USERINFO_PATH
            || path.starts_with(crate::demo_api::BASE_PATH);
        if !dpop_endpoint {
            return;
        }
        let nonce = req
            .rocket()
            .state::<std::sync::Arc<crate::state::IdpState>>()
            .and_then(|idp| idp.dpop.nonce());
        if let Some(nonce) = nonce {
            res.set_header(Header::new(crate::dpop::NONCE_HEADER, nonce));
        }
    }
}
