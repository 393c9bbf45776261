//! The gateway to the APIs behind the BFF (OAuth 2.0 for Browser-Based Applications, its BFF
//! section): `/api/<name>/<rest>?<query>` goes to `<url>/<rest>?<query>` of the API configured
//! under `name`, any method, bodies streamed both ways, with the session's access token when
//! the API's token policy asks for it. Only configured names are reachable and the path
//! cannot leave the API's base URL ([`path`]); cookies, credentials and hop-by-hop headers
//! stay behind ([`headers`]); unsafe methods need the CSRF marks ([`crate::csrf`]).
//!
//! Answers of its own, all JSON: 400 (a path that would leave the base), 403 (CSRF), 413 (a
//! body over the limit), 401/302 (no session, policy `user`), 401 `step_up_required` (the API
//! asks for a stronger login, RFC 9470: [`step_up`]), 502 (the API cannot be reached or
//! broke off), 504 (the API did not answer in time).

mod answer;
mod apis;
mod credentials;
pub mod headers;
pub mod path;
mod relay;
pub mod step_up;

pub use apis::Gateway;

use std::sync::Arc;

use rocket::http::{Method, Status};
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

/// Below every route of the app and of a host app at the same path: `/api/hello`,
/// `/api/upstream` and a host's own `/api/orders` always win.
const GATEWAY_RANK: isize = 20;

/// The gateway's routes: every method at `/api/<name>/<rest..>`.
pub fn routes() -> Vec<Route> {
    [
        Method::Get,
        Method::Head,
        Method::Options,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ]
    .into_iter()
    .map(|method| Route::ranked(GATEWAY_RANK, method, "/api/<_..>", GatewayRoute))
    .collect()
}

#[derive(Clone)]
struct GatewayRoute;

#[rocket::async_trait]
impl Handler for GatewayRoute {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let Some(gateway) = req.rocket().state::<Arc<Gateway>>() else {
            return Outcome::forward(data, Status::NotFound);
        };
        let raw_path = req.uri().path().as_str();
        let after_api = raw_path.strip_prefix("/api/").unwrap_or_default();
        let (name, rest) = after_api.split_once('/').unwrap_or((after_api, ""));
        let Some(api) = gateway.apis.get(name) else {
            return Outcome::forward(data, Status::NotFound);
        };
        relay::relay(gateway, api, rest, req, data).await
    }
}
