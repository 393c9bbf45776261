//! Which sessions each user and each IdP session has, so a back-channel logout finds their
//! tokens and a user's sessions stay few: at most `MAX_SESSIONS_PER_USER` live at once, past
//! which the one that ends soonest is ended (a device limit). A session leaves its sets when it
//! ends and each member expires with its session, so the sets never grow without bound.
//! Members are the store's names of sessions (digests of their ids).

use crate::store::{self, Revocation, Store, StoreError};

use super::{Session, SessionPolicy};

/// The set of a user's sessions (`idp`: the user's provider when not the default one).
pub fn of_user(idp: Option<&str>, sub: &str) -> String {
    format!("user-sessions:{}", store::digest(&store::scoped(idp, sub)))
}

/// The set of the sessions begun from one IdP session.
pub fn of_idp_session(idp: Option<&str>, sid: &str) -> String {
    format!("idp-sessions:{}", store::digest(&store::scoped(idp, sid)))
}

/// Notes a new session in its user's and IdP session's sets. Sessions pushed past
/// `MAX_SESSIONS_PER_USER` are ended on every instance; their names are returned so their
/// tokens can be revoked too.
pub async fn note(
    store: &dyn Store,
    policy: &SessionPolicy,
    session: &Session,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let name = store::digest(&session.id);
    let idp = session.idp.as_deref();
    let lifetime = session.remaining(policy, now);
    let max = policy.max_sessions_per_user;
    let mut pushed_out = store
        .add_to_set(&of_user(idp, &session.sub), &name, lifetime, max)
        .await?;
    if let Some(sid) = &session.sid {
        pushed_out.extend(
            store
                .add_to_set(&of_idp_session(idp, sid), &name, lifetime, max)
                .await?,
        );
    }
    pushed_out.retain(|old| *old != name);
    pushed_out.dedup();
    // Each ended as long as any session can live: it began before this one, so earlier.
    let user = store::digest(&store::scoped(idp, &session.sub));
    let until = now + policy.absolute_lifetime.as_secs() as i64;
    for old in &pushed_out {
        let revocation =
            Revocation::session_named(old.clone(), Some(user.clone()), Some(now), until);
        store.revoke(revocation).await?;
    }
    if !pushed_out.is_empty() {
        tracing::info!(
            ended = pushed_out.len(),
            max,
            "a login went past MAX_SESSIONS_PER_USER: the user's sessions that end soonest were ended"
        );
    }
    Ok(pushed_out)
}

/// Takes an ended session out of its sets.
pub async fn forget(store: &dyn Store, session: &Session) -> Result<(), StoreError> {
    let name = store::digest(&session.id);
    let idp = session.idp.as_deref();
    store
        .remove_from_set(&of_user(idp, &session.sub), &name)
        .await?;
    if let Some(sid) = &session.sid {
        store
            .remove_from_set(&of_idp_session(idp, sid), &name)
            .await?;
    }
    Ok(())
}
