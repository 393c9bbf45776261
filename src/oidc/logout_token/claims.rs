//! The logout token's claims (Back-Channel Logout 1.0 §2.4, checked as §2.6 says): `iss`,
//! `aud` and `azp` as for an ID token, `iat` and `exp` required, `nbf` honoured, `jti`
//! required, the back-channel logout event declared, no `nonce`, and `sid` and/or `sub`.

use serde_json::{Map, Value};

use super::error::LogoutTokenError as E;

/// The member of `events` that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token is accepted at most this long after its `iat` (plus the clock skew), however
/// far its `exp`: its `jti` must be remembered for as long as it is accepted, and a replay of a
/// by-user logout would otherwise end logins made after it. IdPs send them at once.
pub const MAX_TOKEN_AGE_SECS: i64 = 600;

/// Longer identifiers are not identifiers: refused rather than stored.
const MAX_IDENTIFIER_BYTES: usize = 1024;

/// A validated logout token: who or which IdP session logged out, and how long it must be
/// protected against replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// `iss`: exactly the IdP's issuer.
    pub issuer: String,
    /// `jti`: the token's unique identifier.
    pub jti: String,
    /// `sid`: the IdP session that ended, when given.
    pub sid: Option<String>,
    /// `sub`: the user who logged out, when given.
    pub sub: Option<String>,
    /// Unix seconds until which this token would still be accepted (the earlier of `exp` and
    /// `iat` plus the maximum age, plus the clock skew): its `jti` is remembered until then.
    pub acceptable_until: i64,
}

/// What the claims are checked against.
pub(super) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub clock_skew: i64,
    pub now: i64,
}

/// Checks the claims of a token whose signature is already verified.
pub(super) fn check(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<LogoutToken, E> {
    let issuer = match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => iss.clone(),
        _ => return Err(E::WrongIssuer),
    };
    check_audience(claims, expected.client_id)?;
    let (issued_at, expires) = check_times(claims, expected)?;
    check_events(claims)?;
    // §2.4: a nonce is forbidden, so that an ID token can never pass for a logout token.
    if claims.contains_key("nonce") {
        return Err(E::NonceForbidden);
    }
    let sid = identifier(claims.get("sid"), E::MalformedSid)?;
    let sub = identifier(claims.get("sub"), E::MalformedSub)?;
    if sid.is_none() && sub.is_none() {
        return Err(E::NoSubjectOrSession);
    }
    let jti = identifier(claims.get("jti"), E::MissingJti)?.ok_or(E::MissingJti)?;
    let until = expires.min(issued_at + MAX_TOKEN_AGE_SECS as f64) + expected.clock_skew as f64;
    Ok(LogoutToken {
        issuer,
        jti,
        sid,
        sub,
        // `as` saturates; a fractional second counts whole.
        acceptable_until: until.ceil() as i64,
    })
}

/// Core 3.1.3.7 steps 3–5, as for ID tokens: `aud` contains the client id and no other
/// (untrusted) audience; with several audiences `azp` is required; `azp`, when present, is us.
fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), E> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds
            .iter()
            .map(|aud| aud.as_str().ok_or(E::WrongAudience))
            .collect::<Result<_, _>>()?,
        _ => return Err(E::WrongAudience),
    };
    if !audiences.contains(&client_id) || audiences.iter().any(|aud| *aud != client_id) {
        return Err(E::WrongAudience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(E::WrongAuthorizedParty),
        None if audiences.len() > 1 => Err(E::WrongAuthorizedParty),
        None => Ok(()),
    }
}

/// `iat` and `exp` required and numeric, `nbf` numeric when present; each compared with the
/// clock give or take the skew. Returns `(iat, exp)`.
fn check_times(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(f64, f64), E> {
    let now = expected.now as f64;
    let skew = expected.clock_skew as f64;
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or(E::MissingIssuedAt)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(E::MissingExpiry)?;
    if iat > now + skew {
        return Err(E::IssuedInFuture);
    }
    if now - skew >= exp {
        return Err(E::Expired);
    }
    if iat + (MAX_TOKEN_AGE_SECS as f64) + skew <= now {
        return Err(E::TooOld);
    }
    match claims.get("nbf") {
        None => {}
        Some(nbf) => match nbf.as_f64() {
            Some(nbf) if nbf > now + skew => return Err(E::NotYetValid),
            Some(_) => {}
            None => return Err(E::MalformedNotBefore),
        },
    }
    Ok((iat, exp))
}

/// §2.4: `events` is a JSON object with the back-channel logout member, whose value is a JSON
/// object (usually `{}`); other members may be there too.
fn check_events(claims: &Map<String, Value>) -> Result<(), E> {
    let Some(Value::Object(events)) = claims.get("events") else {
        return Err(E::MissingEvents);
    };
    match events.get(BACKCHANNEL_LOGOUT_EVENT) {
        Some(Value::Object(_)) => Ok(()),
        _ => Err(E::NotALogoutEvent),
    }
}

/// An optional identifier claim: absent, or a non-empty string of reasonable length.
fn identifier(value: Option<&Value>, malformed: E) -> Result<Option<String>, E> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_IDENTIFIER_BYTES => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://idp",
            client_id: "app",
            clock_skew: 60,
            now,
        }
    }

    fn valid(now: i64) -> Value {
        json!({
            "iss": "https://idp", "aud": "app", "iat": now, "exp": now + 120, "jti": "j",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} }, "sid": "s",
        })
    }

    fn check_json(claims: Value, now: i64) -> Result<LogoutToken, E> {
        check(claims.as_object().unwrap(), &expected(now))
    }

    #[test]
    fn a_valid_token_is_remembered_until_its_expiry_plus_skew() {
        let token = check_json(valid(1000), 1000).unwrap();
        assert_eq!(token.sid.as_deref(), Some("s"));
        assert_eq!(token.sub, None);
        assert_eq!(token.acceptable_until, 1000 + 120 + 60);
    }

    #[test]
    fn a_far_expiry_is_capped_by_the_maximum_age() {
        let mut claims = valid(1000);
        claims["exp"] = json!(1_000_000_000);
        let token = check_json(claims, 1000).unwrap();
        assert_eq!(token.acceptable_until, 1000 + MAX_TOKEN_AGE_SECS + 60);
    }

    #[test]
    fn a_token_older_than_the_maximum_age_is_refused() {
        let mut claims = valid(1000);
        claims["exp"] = json!(1_000_000_000);
        let later = 1000 + MAX_TOKEN_AGE_SECS + 60;
        assert_eq!(check_json(claims, later), Err(E::TooOld));
    }

    #[test]
    fn numeric_claims_must_be_numbers_and_identifiers_strings() {
        let now = 1000;
        for (name, value, error) in [
            ("iat", json!("1000"), E::MissingIssuedAt),
            ("exp", json!(null), E::MissingExpiry),
            ("nbf", json!("soon"), E::MalformedNotBefore),
            ("sid", json!(5), E::MalformedSid),
            ("sid", json!(""), E::MalformedSid),
            ("jti", json!(["j"]), E::MissingJti),
            ("aud", json!(["app", 5]), E::WrongAudience),
            ("aud", json!([]), E::WrongAudience),
            (
                "events",
                json!([BACKCHANNEL_LOGOUT_EVENT]),
                E::MissingEvents,
            ),
            (
                "events",
                json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }),
                E::NotALogoutEvent,
            ),
            ("nonce", json!(null), E::NonceForbidden),
        ] {
            let mut claims = valid(now);
            claims[name] = value;
            assert_eq!(check_json(claims, now), Err(error), "{name}");
        }
    }
}
