//! The session: an AES-256-GCM sealed cookie that holds who the
//! user is, and the request guards that read it. The cookie enforces its own idle and
//! absolute limits, so an old copy replayed after `Max-Age` is still refused.
//!
//! `model` is the session itself, `cookie` how it is written and ended, `guards` how requests
//! read it, `keyring` how the app's cookies are sealed and read across a key rotation or a release, `wire` what
//! the cookie holds. Nothing here knows about JWKS or routes.

mod cookie;
mod guards;
pub mod index;
mod keyring;
mod model;
mod wire;

pub use cookie::{
    end, end_unusable, issue, keep_id_token, lasting, read_cookie, remove_session_cookie, renew,
    take_id_token,
};
pub use guards::{is_navigation, ApiUser, LoginRequired, NoSession, SessionPeek, Sessions, User};
pub use keyring::{add as add_cookie, read as read_app_cookie};
pub use model::{Session, SessionPolicy};
