//! The session cookie's content, before encryption. Written as a JSON array led by its form's
//! number (2): no field names, each of `iss`, `sub`, `sid` once (not again among the claims),
//! and the claims that name the user apart, so a request reads them without parsing the
//! claims. The JSON object of earlier releases is still read: sessions outlive a deploy.

use serde_json::value::RawValue;

use super::model::{NameClaims, Session};

/// The number that leads the array form.
const FORM: u8 = 2;

/// The array form, in order: form, id, sub, iss, sid, created, seen, idp, host, name,
/// preferred_username, email, the other claims.
type Written<'a> = (
    u8,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    i64,
    i64,
    Option<&'a str>,
    Option<&'a RawValue>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a RawValue,
);

/// As [`Written`], owned.
type Read = (
    u8,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<Box<RawValue>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Box<RawValue>,
);

/// The cookie's content for `session` (the array form).
pub(super) fn write(session: &Session) -> Option<String> {
    let names = &session.names;
    let written: Written<'_> = (
        FORM,
        &session.id,
        &session.sub,
        &session.iss,
        session.sid.as_deref(),
        session.created,
        session.seen,
        session.idp.as_deref(),
        session.host.as_deref(),
        names.name.as_deref(),
        names.preferred_username.as_deref(),
        names.email.as_deref(),
        &session.claims,
    );
    serde_json::to_string(&written).ok()
}

/// The session in a cookie's content, of either form; `None` for anything else.
pub(super) fn read(text: &str) -> Option<Session> {
    if !text.starts_with('[') {
        return read_object(text);
    }
    let (
        form,
        id,
        sub,
        iss,
        sid,
        created,
        seen,
        idp,
        host,
        name,
        preferred_username,
        email,
        claims,
    ): Read = serde_json::from_str(text).ok()?;
    (form == FORM).then_some(Session {
        id,
        sub,
        iss,
        sid,
        claims,
        created,
        seen,
        host,
        idp,
        names: NameClaims {
            name,
            preferred_username,
            email,
        },
    })
}

/// The object form of releases before the array form: every claim among `claims`.
fn read_object(text: &str) -> Option<Session> {
    let mut session: Session = serde_json::from_str(text).ok()?;
    session.names = NameClaims::read(&session.claims);
    Some(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::model::tests::session;

    /// A session as the release before the array form wrote it (field order and all).
    const OBJECT_FORM: &str = r#"{"id":"abc","sub":"user-1","iss":"https://idp","sid":"s1","claims":{"aud":"app","email":"a@x","exp":20,"iat":10,"iss":"https://idp","name":"Alice","sid":"s1","sub":"user-1"},"created":10,"seen":12,"idp":"b"}"#;

    #[test]
    fn the_object_form_of_earlier_releases_is_still_read() {
        let s = read(OBJECT_FORM).unwrap();
        assert_eq!((s.id.as_str(), s.sub.as_str()), ("abc", "user-1"));
        assert_eq!(
            (s.sid.as_deref(), s.idp.as_deref()),
            (Some("s1"), Some("b"))
        );
        assert_eq!((s.created, s.seen), (10, 12));
        assert_eq!(s.display_name(), "Alice");
        assert_eq!(s.claims()["email"], "a@x");
        assert_eq!(s.claims()["exp"], 20);
    }

    #[test]
    fn the_array_form_reads_back_what_was_written() {
        let mut s = read(OBJECT_FORM).unwrap();
        s.claims = RawValue::from_string(r#"{"exp":20}"#.into()).unwrap();
        s.host = Some(RawValue::from_string(r#"{"tenant":"t"}"#.into()).unwrap());
        let text = write(&s).unwrap();
        assert!(text.starts_with("[2,"), "{text}");
        let back = read(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.display_name(), "Alice");
        let claims = back.claims();
        for (claim, value) in [("iss", "https://idp"), ("sub", "user-1"), ("sid", "s1")] {
            assert_eq!(claims[claim], value, "{claim} put back");
        }
    }

    #[test]
    fn another_form_or_a_broken_array_is_no_session() {
        let text = write(&session(1, 2)).unwrap();
        assert!(read(&text).is_some(), "control: {text}");
        let other_form = text.replacen("[2,", "[3,", 1);
        assert!(read(&other_form).is_none());
        assert!(read(&text[..text.len() - 1]).is_none());
        assert!(
            read(&text.replacen(']', ",1]", 1)).is_none(),
            "one field too many"
        );
        assert!(read("[]").is_none());
        assert!(read("").is_none());
    }
}
