//! Step-up authentication (RFC 9470): a login that asks the IdP for an authentication context
//! (`acr_values`) and/or an authentication no older than `max_age`, and the check that the ID
//! token delivers it (`acr` one of those asked for; `auth_time` recent enough, Core 3.1.3.7
//! rule 11). An API behind the gateway asks for it with a `WWW-Authenticate` challenge.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest `acr_values` accepted (a few URIs).
const MAX_ACR_VALUES_LEN: usize = 512;
/// Longest `max_age` accepted: a year.
const MAX_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// What a login must deliver beyond an ordinary one; empty for an ordinary login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUp {
    /// Space-separated authentication context classes, in order of preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// The authentication must be at most this many seconds old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
}

/// Why a step-up request or its result is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepUpError {
    /// `acr_values` is empty, too long or holds characters no context class has.
    #[error("acr_values must be 1-512 printable characters, values separated by single spaces")]
    BadAcrValues,
    /// `max_age` is not a number of seconds up to a year.
    #[error("max_age must be a number of seconds up to a year")]
    BadMaxAge,
    /// The ID token's `acr` is none of those asked for.
    #[error("the identity provider did not authenticate with the required method (acr {0})")]
    AcrNotSatisfied(String),
    /// `max_age` was asked, and the ID token has no usable `auth_time`.
    #[error("the ID token has no auth_time although max_age was asked for")]
    AuthTimeMissing,
    /// The authentication is older than `max_age` allows.
    #[error("the authentication is older than max_age allows")]
    AuthTooOld,
}

impl StepUp {
    /// From `/login`'s query (`acr_values`, `max_age`), checked.
    pub fn from_query(
        acr_values: Option<&str>,
        max_age: Option<&str>,
    ) -> Result<Self, StepUpError> {
        let acr_values = match acr_values.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(values) => {
                let well_formed = values.len() <= MAX_ACR_VALUES_LEN
                    && values.split(' ').all(|value| {
                        !value.is_empty()
                            && value
                                .bytes()
                                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                    });
                if !well_formed {
                    return Err(StepUpError::BadAcrValues);
                }
                Some(values.to_string())
            }
        };
        let max_age = match max_age.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(text) => Some(
                text.parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= MAX_MAX_AGE_SECS)
                    .ok_or(StepUpError::BadMaxAge)?,
            ),
        };
        Ok(Self {
            acr_values,
            max_age,
        })
    }

    /// Whether nothing beyond an ordinary login is asked.
    pub fn is_empty(&self) -> bool {
        self.acr_values.is_none() && self.max_age.is_none()
    }

    /// The authorization request's parameters for it.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut parameters = Vec::new();
        if let Some(values) = &self.acr_values {
            parameters.push(("acr_values", values.clone()));
        }
        if let Some(max_age) = self.max_age {
            parameters.push(("max_age", max_age.to_string()));
        }
        parameters
    }

    /// Whether the validated ID token's claims deliver what was asked, at Unix second `now`
    /// with `skew` seconds of tolerance.
    pub fn check(
        &self,
        claims: &Map<String, Value>,
        now: i64,
        skew: i64,
    ) -> Result<(), StepUpError> {
        if let Some(values) = &self.acr_values {
            let acr = claims
                .get("acr")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !values.split(' ').any(|value| value == acr) {
                return Err(StepUpError::AcrNotSatisfied(format!("{acr:?}")));
            }
        }
        if let Some(max_age) = self.max_age {
            let auth_time = claims
                .get("auth_time")
                .and_then(Value::as_i64)
                .ok_or(StepUpError::AuthTimeMissing)?;
            if now.saturating_sub(auth_time) > (max_age as i64).saturating_add(skew) {
                return Err(StepUpError::AuthTooOld);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_query_is_checked() {
        let step_up = StepUp::from_query(Some("mfa urn:x:loa:2"), Some("300")).unwrap();
        assert_eq!(step_up.acr_values.as_deref(), Some("mfa urn:x:loa:2"));
        assert_eq!(step_up.max_age, Some(300));
        assert!(StepUp::from_query(None, None).unwrap().is_empty());
        for bad in ["a  b", "a\"b", "a\nb", &"x".repeat(513)] {
            assert_eq!(
                StepUp::from_query(Some(bad), None),
                Err(StepUpError::BadAcrValues),
                "{bad:?}"
            );
        }
        for bad in ["-1", "soon", "99999999999"] {
            assert_eq!(
                StepUp::from_query(None, Some(bad)),
                Err(StepUpError::BadMaxAge),
                "{bad}"
            );
        }
    }

    #[test]
    fn acr_must_be_one_of_those_asked_for() {
        let step_up = StepUp::from_query(Some("mfa hwk"), None).unwrap();
        assert_eq!(step_up.check(&claims(json!({"acr": "hwk"})), 0, 60), Ok(()));
        assert!(step_up
            .check(&claims(json!({"acr": "pwd"})), 0, 60)
            .is_err());
        assert!(step_up.check(&claims(json!({})), 0, 60).is_err());
    }

    #[test]
    fn auth_time_must_be_present_and_recent_enough() {
        let step_up = StepUp::from_query(None, Some("300")).unwrap();
        let now = 10_000;
        assert_eq!(
            step_up.check(&claims(json!({"auth_time": now - 100})), now, 60),
            Ok(())
        );
        assert_eq!(
            step_up.check(&claims(json!({"auth_time": now - 1000})), now, 60),
            Err(StepUpError::AuthTooOld)
        );
        assert_eq!(
            step_up.check(&claims(json!({})), now, 60),
            Err(StepUpError::AuthTimeMissing)
        );
        assert_eq!(
            step_up.check(&claims(json!({"auth_time": "yesterday"})), now, 60),
            Err(StepUpError::AuthTimeMissing)
        );
    }
}
