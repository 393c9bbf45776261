//! `GET /healthz`: liveness for load balancers, and the benchmark's floor (no session work).

use rocket::{get, routes, Route};

/// `GET /healthz`.
pub fn routes() -> Vec<Route> {
    routes![healthz]
}

#[get("/healthz")]
fn healthz() -> &'static str {
    "ok"
}
