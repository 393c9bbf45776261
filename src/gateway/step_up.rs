//! An API's request for a stronger login (RFC 9470 §3): `401` with `WWW-Authenticate: Bearer
//! error="insufficient_user_authentication"`, optionally with `acr_values` and `max_age`. The
//! gateway turns it into `{"error":"step_up_required","login_url":…}` for the page's script.

use crate::oidc::step_up::StepUp;

/// The step-up an API's challenge asks for, or `None` when it is not a step-up challenge.
/// Values the login would refuse (a malformed `acr_values`, say) are dropped rather than
/// passed on.
pub fn requested(challenges: &[&str]) -> Option<StepUp> {
    let challenge = challenges.iter().find(|challenge| {
        parameter(challenge, "error").as_deref() == Some("insufficient_user_authentication")
    })?;
    let acr_values = parameter(challenge, "acr_values");
    let max_age = parameter(challenge, "max_age");
    let step_up = StepUp::from_query(acr_values.as_deref(), max_age.as_deref())
        .or_else(|_| StepUp::from_query(acr_values.as_deref(), None))
        .or_else(|_| StepUp::from_query(None, max_age.as_deref()))
        .unwrap_or_default();
    Some(step_up)
}

/// Where the page sends the user: `/login` with the step-up's parameters (the page adds its
/// own `returnTo`).
pub fn login_url(step_up: &StepUp) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in step_up.parameters() {
        query.append_pair(name, &value);
    }
    let query = query.finish();
    match query.is_empty() {
        true => "/login".to_string(),
        false => format!("/login?{query}"),
    }
}

/// The value of `name` in an RFC 9110 challenge's auth-params: `name=token` or
/// `name="quoted string"` (with `\` escapes).
fn parameter(challenge: &str, name: &str) -> Option<String> {
    let mut rest = challenge;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = &rest[at + name.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        if let Some(quoted) = value.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(text),
                    '\\' => text.push(chars.next()?),
                    c => text.push(c),
                }
            }
            return None;
        }
        let token: String = value
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ',')
            .collect();
        return Some(token);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_up_challenge_gives_its_values() {
        let step_up = requested(&[
            r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="mfa phr", max_age=300"#,
        ])
        .unwrap();
        assert_eq!(step_up.acr_values.as_deref(), Some("mfa phr"));
        assert_eq!(step_up.max_age, Some(300));
        assert_eq!(login_url(&step_up), "/login?acr_values=mfa+phr&max_age=300");
    }

    #[test]
    fn other_challenges_are_not_step_ups() {
        assert_eq!(requested(&[r#"Bearer error="invalid_token""#]), None);
        assert_eq!(requested(&["Basic realm=\"x\""]), None);
    }

    #[test]
    fn malformed_values_are_dropped_not_passed_on() {
        let step_up = requested(&[
            r#"Bearer error="insufficient_user_authentication", acr_values="a\"b c  d", max_age="7""#,
        ])
        .unwrap();
        assert_eq!(step_up.acr_values, None);
        assert_eq!(step_up.max_age, Some(7));
    }
}
