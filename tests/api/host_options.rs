//! A host app's choices when it attaches the BFF: its own catchers and its own response
//! headers instead of the BFF's.

use crate::helpers;

use helpers::figment;
use helpers::idp::TestIdp;
use oidc_bff::{ApiUser, Bff};
use rocket::http::Header;
use rocket::local::asynchronous::Client;
use rocket::{catch, catchers, get, routes, Build, Rocket};

#[get("/mine")]
fn mine(user: ApiUser<'_>) -> String {
    user.0.sub.clone()
}

#[catch(401)]
fn host_login_required() -> &'static str {
    "the host's own 401"
}

/// A host with an API route of its own, and its own 401 catcher when `own_catcher`.
async fn host(issuer: &str, bff: Bff, own_catcher: bool) -> Client {
    let mut app: Rocket<Build> = rocket::custom(figment(issuer))
        .mount("/api", routes![mine])
        .attach(bff);
    if own_catcher {
        app = app.register("/", catchers![host_login_required]);
    }
    Client::tracked(app).await.expect("the host ignites")
}

async fn get_mine(client: &Client) -> (u16, Option<String>, String) {
    let response = client
        .get("/api/mine")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    let status = response.status().code;
    let csp = response
        .headers()
        .get_one("Content-Security-Policy")
        .map(String::from);
    (
        status,
        csp,
        response.into_string().await.unwrap_or_default(),
    )
}

#[rocket::async_test]
async fn without_catchers_and_security_headers_the_hosts_own_answer() {
    let idp = TestIdp::start().await;
    let own = host(
        &idp.issuer,
        Bff::fairing().without_catchers().without_security_headers(),
        true,
    )
    .await;
    let (status, csp, body) = get_mine(&own).await;
    assert_eq!(status, 401);
    assert_eq!(body, "the host's own 401");
    assert_eq!(csp, None, "no security headers of the BFF");
}

/// The control: by default the BFF's catchers and headers answer (a host's own root catcher
/// for the same status would collide with the BFF's: Rocket refuses to launch).
#[rocket::async_test]
async fn by_default_the_bffs_catchers_and_security_headers_answer() {
    let idp = TestIdp::start().await;
    let default = host(&idp.issuer, Bff::fairing(), false).await;
    let (status, csp, body) = get_mine(&default).await;
    assert_eq!(status, 401);
    assert!(body.contains("login_required"), "{body}");
    assert!(csp.is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
}
