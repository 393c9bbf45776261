//! `GET /healthz`: liveness for load balancers, and the benchmark's floor (no session work).
//! `GET /readyz`: readiness: the identity provider answers its discovery document, the store
//! answers a ping and its list of ended sessions is current; otherwise 503 JSON naming what
//! is not ready (`identity provider`, `store`). The errors' own words go to the log only:
//! the public port tells no stranger what the IdP or Redis said.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Route, State};
use tokio::sync::Mutex;

use crate::oidc::provider::Provider;
use crate::session::Sessions;
use crate::store::SessionFacts;

/// A readiness answer is reused this long, so a flood of probes costs the IdP and the store
/// at most one request each per interval.
const READINESS_REUSE: Duration = Duration::from_secs(1);

/// `GET /healthz` and `GET /readyz`.
pub fn routes() -> Vec<Route> {
    routes![healthz, readyz]
}

/// The last readiness check: when it ran, and what was not ready (empty: all ready).
#[derive(Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, Vec<String>)>>,
}

#[get("/healthz")]
fn healthz() -> &'static str {
    "ok"
}

#[get("/readyz")]
async fn readyz(
    readiness: &State<Readiness>,
    provider: &State<Arc<Provider>>,
    sessions: &State<Sessions>,
) -> (Status, Json<Value>) {
    // One check at a time; the others wait for it and reuse its answer.
    let mut last = readiness.last.lock().await;
    let not_ready = match last.as_ref() {
        Some((at, not_ready)) if at.elapsed() < READINESS_REUSE => not_ready.clone(),
        _ => {
            let (idp, store) = tokio::join!(provider.probe(), sessions.store.ping());
            let mut not_ready = Vec::new();
            if let Err(error) = idp {
                tracing::warn!(%error, "not ready: identity provider");
                not_ready.push("identity provider".to_string());
            }
            if let Err(error) = store {
                tracing::warn!(%error, "not ready: store");
                not_ready.push("store".to_string());
            } else if let Err(error) = sessions.store.is_revoked(&SessionFacts {
                // Sessions can be accepted only while the list of ended sessions is current:
                // asking about any session tells (a shared store that lost its feed for
                // longer than its grace answers `OutOfSync`).
                id: "readiness",
                sid: None,
                sub: "",
                created: 0,
                idp: None,
            }) {
                tracing::warn!(%error, "not ready: store");
                not_ready.push("store".to_string());
            }
            *last = Some((Instant::now(), not_ready.clone()));
            not_ready
        }
    };
    if not_ready.is_empty() {
        (Status::Ok, Json(json!({ "status": "ready" })))
    } else {
        (
            Status::ServiceUnavailable,
            Json(json!({ "status": "not ready", "not_ready": not_ready })),
        )
    }
}
