//! Security headers on every response, and `Cache-Control: no-store` wherever claims or API
//! answers could otherwise be cached.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

/// The fairing that sets the security headers on every response.
pub struct SecurityHeaders {
    /// Built once per app and leaked, so each response borrows it instead of copying it.
    content_security_policy: &'static str,
    /// Only sent when the app is served over https.
    strict_transport_security: bool,
}

impl SecurityHeaders {
    /// No inline script or style anywhere; profile pictures may come over https or from the
    /// IdP's own origin (a development IdP on plain http).
    pub fn new(https: bool, issuer_origin: Option<&str>) -> Self {
        let idp_images = issuer_origin
            .filter(|origin| origin.starts_with("http"))
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default();
        Self {
            content_security_policy: Box::leak(
                format!(
                    "default-src 'self'; script-src 'self'; style-src 'self'; \
                 img-src 'self' https: data:{idp_images}; connect-src 'self'; object-src 'none'; \
                 base-uri 'none'; frame-ancestors 'none'"
                )
                .into_boxed_str(),
            ),
            strict_transport_security: https,
        }
    }
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        // A relayed API answer keeps the gateway's sandbox policy.
        if !res.headers().contains("Content-Security-Policy") {
            res.set_header(Header::new(
                "Content-Security-Policy",
                self.content_security_policy,
            ));
        }
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        // Not `no-referrer`: with it, browsers send `Origin: null` on same-origin form POSTs.
        res.set_header(Header::new("Referrer-Policy", "strict-origin"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        let path = req.uri().path();
        if !path.starts_with("/static/") && path != "/.well-known/jwks.json" {
            // Pages depend on who is logged in; API answers carry personal data.
            res.set_header(Header::new("Cache-Control", "no-store"));
        }
        if self.strict_transport_security {
            res.set_header(Header::new(
                "Strict-Transport-Security",
                "max-age=31536000; includeSubDomains",
            ));
        }
    }
}
