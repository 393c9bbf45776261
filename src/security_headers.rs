//! Security headers on every response, and `Cache-Control: no-store` wherever claims or API
//! answers could otherwise be cached.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

/// The policy of every answer that is not an HTML page (JSON, redirects, scripts, styles): it
/// loads nothing and is framed nowhere, should a browser ever render it as a document.
pub const NOT_A_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

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
        let (mut html, mut has_policy) = (false, false);
        for header in res.headers().iter() {
            if header.name == "Content-Type" {
                html = is_html(&header.value);
            } else if header.name == "Content-Security-Policy" {
                has_policy = true;
            }
        }
        // A relayed API answer keeps the gateway's sandbox policy.
        if !has_policy {
            let policy = if html {
                self.content_security_policy
            } else {
                NOT_A_PAGE_POLICY
            };
            res.set_header(Header::new("Content-Security-Policy", policy));
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

/// Whether a `Content-Type` value is an HTML document (`text/html` or XHTML, any case, any
/// parameters).
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

#[cfg(test)]
mod tests {
    use super::is_html;

    #[test]
    fn only_html_content_types_are_pages() {
        for page in [
            "text/html",
            "text/html; charset=utf-8",
            "TEXT/HTML;charset=UTF-8",
            "application/xhtml+xml",
        ] {
            assert!(is_html(page), "{page}");
        }
        for other in [
            "application/json",
            "text/plain",
            "text/htmlx",
            "",
            "image/svg+xml",
        ] {
            assert!(!is_html(other), "{other}");
        }
    }
}
