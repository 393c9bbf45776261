//! The CSRF defence of every API (OAuth 2.0 for Browser-Based Applications, its BFF section):
//! a request with an unsafe method (anything but GET, HEAD, OPTIONS) must carry `X-CSRF: 1`,
//! which a cross-site form cannot send and a cross-site script cannot add without a CORS
//! preflight this app never approves; and when the browser says where it comes from
//! (`Sec-Fetch-Site`), it must be `same-origin`.

use rocket::http::Method;
use rocket::Request;

/// The header the page's script sends on every API call.
pub const CSRF_HEADER: &str = "X-CSRF";

/// Why the request is refused, or `None` when it may go on.
pub fn refusal(req: &Request<'_>) -> Option<&'static str> {
    if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        return None;
    }
    let headers = req.headers();
    if headers.get_one(CSRF_HEADER).map(str::trim) != Some("1") {
        return Some("an API call with this method must carry the header X-CSRF: 1");
    }
    match headers.get_one("Sec-Fetch-Site") {
        Some(site) if !site.trim().eq_ignore_ascii_case("same-origin") => {
            Some("the browser says this request comes from another site")
        }
        _ => None,
    }
}
