//! What a host app can add to logins: a hook that sees each completed login and can refuse
//! it or give the session a few values of its own ([`LoginHook`]), and a guard for host routes
//! that only some accounts may use ([`Require`] with a [`ClaimRule`]).

use std::marker::PhantomData;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{Map, Value};

use crate::session::{ApiUser, NoSession, Session};

/// The most a hook's values may take in the session cookie, as JSON: the cookie must stay
/// under the browser's 4 KB with the claims.
pub const MAX_HOST_VALUES_BYTES: usize = 1024;

/// A completed, validated login, as a [`LoginHook`] sees it.
pub struct LoginInfo<'a> {
    /// The user's `sub` at the IdP.
    pub sub: &'a str,
    /// The IdP's issuer identifier.
    pub issuer: &'a str,
    /// The ID token's claims (with UserInfo's, in the code flow).
    pub claims: &'a Map<String, Value>,
    /// The access token, in the code flow: for a call the hook makes now. The BFF keeps it;
    /// the hook must not.
    pub access_token: Option<&'a str>,
}

/// What a [`LoginHook`] decides.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginDecision {
    /// The login goes on.
    Accept,
    /// The login goes on, and the session keeps these values (at most
    /// [`MAX_HOST_VALUES_BYTES`] as JSON); guards expose them as [`Session::host_values`].
    AcceptWith(Map<String, Value>),
    /// The login is refused: a 403 page with this message, and no session.
    Refuse(String),
}

/// A host's say on each login, after the BFF has validated it and checked the access rules.
///
/// ```
/// use oidc_bff::{LoginDecision, LoginHook, LoginInfo};
///
/// struct Tenants;
///
/// #[rocket::async_trait]
/// impl LoginHook for Tenants {
///     async fn on_login(&self, login: &LoginInfo<'_>) -> LoginDecision {
///         match login.claims.get("tenant").and_then(|t| t.as_str()) {
///             Some(tenant) => {
///                 let mut values = serde_json::Map::new();
///                 values.insert("tenant".into(), tenant.into());
///                 LoginDecision::AcceptWith(values)
///             }
///             None => LoginDecision::Refuse("This site is for customers' accounts.".into()),
///         }
///     }
/// }
/// ```
#[rocket::async_trait]
pub trait LoginHook: Send + Sync + 'static {
    /// Decides on one login.
    async fn on_login(&self, login: &LoginInfo<'_>) -> LoginDecision;
}

/// The host's hook, if it gave one (managed state).
#[derive(Clone, Default)]
pub(crate) struct LoginHooks(pub(crate) Option<Arc<dyn LoginHook>>);

impl LoginHooks {
    /// Whether the host installed a hook (it may read any claim of a login).
    pub(crate) fn installed(&self) -> bool {
        self.0.is_some()
    }

    /// The hook's decision; without a hook, `Accept`.
    pub(crate) async fn decide(&self, login: &LoginInfo<'_>) -> LoginDecision {
        match &self.0 {
            Some(hook) => hook.on_login(login).await,
            None => LoginDecision::Accept,
        }
    }
}

/// A rule on the session for [`Require`]: which accounts may use a host route.
///
/// ```
/// use oidc_bff::{in_group, ClaimRule, Require, Session};
///
/// struct Admins;
///
/// impl ClaimRule for Admins {
///     fn allows(session: &Session) -> bool {
///         in_group(session, "groups", "admins")
///     }
/// }
///
/// #[rocket::get("/admin")]
/// fn admin(user: Require<'_, Admins>) -> String {
///     format!("hello, admin {}", user.session().sub)
/// }
/// ```
pub trait ClaimRule: Send + Sync + 'static {
    /// Whether the session's account may go on.
    fn allows(session: &Session) -> bool;
}

/// Whether `group` is in the session's `claim` (a string, or an array of strings).
pub fn in_group(session: &Session, claim: &str, group: &str) -> bool {
    match session.claims().get(claim) {
        Some(Value::String(value)) => value == group,
        Some(Value::Array(values)) => values.iter().any(|value| value.as_str() == Some(group)),
        _ => false,
    }
}

/// A logged-in user whose session the rule `R` allows. As [`ApiUser`] without a session (401
/// JSON for scripts, a redirect for navigations) or without the CSRF marks (403); a session
/// the rule refuses gets 403 (JSON `{"error":"forbidden"}` for scripts, a page for
/// navigations).
pub struct Require<'r, R: ClaimRule>(&'r Session, PhantomData<R>);

impl<'r, R: ClaimRule> Require<'r, R> {
    /// The session.
    pub fn session(&self) -> &'r Session {
        self.0
    }
}

/// Why a request was refused with 403, for the catcher's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forbidden {
    /// The CSRF marks are missing (the default).
    CrossSite,
    /// A [`ClaimRule`] refused the session.
    ClaimRule,
}

#[rocket::async_trait]
impl<'r, R: ClaimRule> FromRequest<'r> for Require<'r, R> {
    type Error = NoSession;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let ApiUser(session) = match ApiUser::from_request(req).await {
            Outcome::Success(user) => user,
            Outcome::Error(error) => return Outcome::Error(error),
            Outcome::Forward(status) => return Outcome::Forward(status),
        };
        if R::allows(session) {
            return Outcome::Success(Require(session, PhantomData));
        }
        req.local_cache(|| Forbidden::ClaimRule);
        tracing::info!(
            route = req.route().map_or("-", |route| route.uri.as_str()),
            "refused by a claim rule"
        );
        Outcome::Error((Status::Forbidden, NoSession::NotAllowed))
    }
}
