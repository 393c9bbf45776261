//! A host app that attaches the BFF and adds its own API: `GET /api/orders`, answered by its
//! own Rust code for the logged-in user (the "local API" of a backend-for-frontend).
//!
//! Without a session the BFF's guard answers as for its built-in API: 401 JSON for a script,
//! a redirect to `/login` for a browser navigation. `POST /api/orders` shows the CSRF rule
//! the same guard applies to every method that changes something: the page's script sends
//! `X-CSRF: 1` from the same origin, anything else gets 403.

use oidc_bff::{ApiUser, Bff, ClaimRule, LoginDecision, LoginHook, LoginInfo, Require, Session};
use rocket::figment::Figment;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::shield::{Feature, Permission, Shield};
use rocket::{get, post, routes, Build, Rocket};
use serde::Serialize;

/// One order, as the page shows it.
#[derive(Debug, Serialize)]
pub struct Order {
    /// The order's number.
    pub id: u32,
    /// What was ordered.
    pub item: &'static str,
    /// How many.
    pub quantity: u32,
}

/// `GET /api/orders`'s answer: whose orders, and the orders.
#[derive(Debug, Serialize)]
pub struct Orders<'a> {
    /// The user's `sub` at the identity provider.
    pub sub: &'a str,
    /// The shop's customer number, which the login hook put in the session.
    pub customer: Option<String>,
    /// Their orders.
    pub orders: Vec<Order>,
}

/// The login hook: only the shop's customers log in, and their session keeps their customer
/// number (and whether they are staff). A real shop would look them up in its database.
pub struct Customers;

#[rocket::async_trait]
impl LoginHook for Customers {
    async fn on_login(&self, login: &LoginInfo<'_>) -> LoginDecision {
        let (customer, staff) = match login.sub {
            "dev-7f3a1c2e-alice" => ("C-1001", true),
            "dev-5b9e0d41-bob" => ("C-1002", false),
            _ => {
                return LoginDecision::Refuse(
                    "This shop knows only its customers' accounts (alice and bob).".into(),
                )
            }
        };
        let mut values = serde_json::Map::new();
        values.insert("customer".into(), customer.into());
        values.insert("staff".into(), staff.into());
        LoginDecision::AcceptWith(values)
    }
}

/// The claim rule of the staff's routes: what the login hook said.
pub struct Staff;

impl ClaimRule for Staff {
    fn allows(session: &Session) -> bool {
        session.host_values().get("staff") == Some(&serde_json::Value::Bool(true))
    }
}

fn customer_of(session: &Session) -> Option<String> {
    let values = session.host_values();
    values.get("customer")?.as_str().map(str::to_string)
}

/// The logged-in user's orders. A real app would look them up by `sub`.
#[get("/orders")]
fn orders(user: ApiUser<'_>) -> Json<Orders<'_>> {
    let ApiUser(session) = user;
    Json(Orders {
        sub: &session.sub,
        customer: customer_of(session),
        orders: vec![
            Order {
                id: 1001,
                item: "Tea, Darjeeling, 250 g",
                quantity: 2,
            },
            Order {
                id: 1002,
                item: "Teapot, cast iron",
                quantity: 1,
            },
        ],
    })
}

/// A new order for the logged-in user (`201` with the order). The guard has already checked
/// the CSRF marks.
#[post("/orders")]
fn place_order(user: ApiUser<'_>) -> (Status, Json<Orders<'_>>) {
    let ApiUser(session) = user;
    let order = Order {
        id: 1003,
        item: "Tea, Assam, 500 g",
        quantity: 1,
    };
    (
        Status::Created,
        Json(Orders {
            sub: &session.sub,
            customer: customer_of(session),
            orders: vec![order],
        }),
    )
}

/// Every customer's open orders: for the staff only (403 for the others).
#[get("/orders/all")]
fn all_orders(_staff: Require<'_, Staff>) -> Json<Vec<&'static str>> {
    Json(vec!["C-1001: 1001, 1002", "C-1002: 2001"])
}

/// The host's own Shield: Rocket's defaults plus a Permissions-Policy of its choosing. The
/// BFF leaves it in place and adds its own headers (CSP, `Referrer-Policy`, `no-store`).
pub fn shield() -> Shield {
    Shield::default().enable(
        Permission::blocked(Feature::Camera)
            .block(Feature::Microphone)
            .block(Feature::Geolocation),
    )
}

/// The host app with the BFF attached, configured from `figment`. A configuration error
/// fails ignition (the BFF logs it as one `error` event).
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(shield())
        .attach(Bff::fairing().on_login(Customers))
        .mount("/api", routes![orders, place_order, all_orders])
}
