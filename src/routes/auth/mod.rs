//! `/login`, `/callback`, `/logout` and `/backchannel-logout`: each step in the order the
//! specification gives it. Cryptography lives in `oidc`, the session cookie in `session`.

mod attempts;
mod backchannel;
mod callback;
mod failures;
mod login;
mod logout;
pub(crate) mod rate_limit;

use rocket::Route;

/// The routes of logging in and out, mounted at `/`.
pub fn routes() -> Vec<Route> {
    [
        login::routes(),
        callback::routes(),
        logout::routes(),
        backchannel::routes(),
    ]
    .concat()
}
