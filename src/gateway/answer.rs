//! The gateway's own answers: JSON with an error code and a message.

use rocket::http::Status;
use rocket::route::Outcome;
use rocket::serde::json::{json, Json, Value};
use rocket::Request;

/// A JSON answer of the gateway itself.
pub(super) fn answer<'r>(
    req: &'r Request<'_>,
    status: Status,
    error: &str,
    message: &str,
) -> Outcome<'r> {
    let body: Json<Value> = Json(json!({ "error": error, "message": message }));
    Outcome::from(req, (status, body))
}
