//! `/login`, `/callback` and `/logout`: the login attempt's steps in the order the
//! specification gives them. Cryptography lives in `oidc`, the session cookie in `session`.

mod attempts;
mod callback;
mod failures;
mod login;
mod logout;

use rocket::Route;

/// The routes of logging in and out, mounted at `/`.
pub fn routes() -> Vec<Route> {
    [login::routes(), callback::routes(), logout::routes()].concat()
}
