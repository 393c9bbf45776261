//! Who may log in: `ALLOWED_EMAIL_DOMAINS` (a verified `email` at one of them) and
//! `ALLOWED_GROUPS` (one of them in the `GROUPS_CLAIM` claim, a string or an array). Each rule
//! that is set must hold; with neither set, every account of the IdP may log in.

use serde_json::{Map, Value};

/// The rules, as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessRules {
    /// Lowercase domains; empty: any.
    pub email_domains: Vec<String>,
    /// Group names, compared exactly; empty: any.
    pub groups: Vec<String>,
    /// The claim that holds the groups.
    pub groups_claim: String,
}

/// Why an account is not allowed here, for the log (never the whole address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `email` claim, or not verified.
    #[error("no verified email (ALLOWED_EMAIL_DOMAINS is set)")]
    NoVerifiedEmail,
    /// A verified email at another domain.
    #[error("the email domain {0} is not allowed")]
    EmailDomain(String),
    /// None of the allowed groups in the groups claim.
    #[error("none of the allowed groups in the {0} claim")]
    Groups(String),
}

impl AccessRules {
    /// Whether anyone may log in.
    pub fn allow_everyone(&self) -> bool {
        self.email_domains.is_empty() && self.groups.is_empty()
    }

    /// Checks the validated claims of a login against every rule that is set.
    pub fn check(&self, claims: &Map<String, Value>) -> Result<(), Refusal> {
        if !self.email_domains.is_empty() {
            let verified = match claims.get("email_verified") {
                Some(Value::Bool(verified)) => *verified,
                // Some IdPs send the flag as text.
                Some(Value::String(text)) => text == "true",
                _ => false,
            };
            let email = claims.get("email").and_then(Value::as_str);
            let Some(domain) = email
                .filter(|_| verified)
                .and_then(|email| email.rsplit_once('@'))
                .map(|(_, domain)| domain.to_ascii_lowercase())
            else {
                return Err(Refusal::NoVerifiedEmail);
            };
            if !self.email_domains.contains(&domain) {
                return Err(Refusal::EmailDomain(domain));
            }
        }
        if !self.groups.is_empty() {
            let member = match claims.get(&self.groups_claim) {
                Some(Value::String(group)) => self.groups.contains(group),
                Some(Value::Array(groups)) => groups
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|group| self.groups.iter().any(|allowed| allowed == group)),
                _ => false,
            };
            if !member {
                return Err(Refusal::Groups(self.groups_claim.clone()));
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
        value.as_object().unwrap().clone()
    }

    fn rules(domains: &[&str], groups: &[&str]) -> AccessRules {
        AccessRules {
            email_domains: domains.iter().map(|d| d.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            groups_claim: "groups".into(),
        }
    }

    #[test]
    fn without_rules_everyone_may_log_in() {
        assert!(rules(&[], &[]).allow_everyone());
        assert_eq!(rules(&[], &[]).check(&claims(json!({}))), Ok(()));
    }

    #[test]
    fn an_email_domain_needs_a_verified_address_at_exactly_that_domain() {
        let r = rules(&["example.com"], &[]);
        let ok = json!({"email": "a@Example.COM", "email_verified": true});
        assert_eq!(r.check(&claims(ok)), Ok(()));
        let text_flag = json!({"email": "a@example.com", "email_verified": "true"});
        assert_eq!(r.check(&claims(text_flag)), Ok(()));
        for (value, refusal) in [
            (json!({"email": "a@example.com"}), Refusal::NoVerifiedEmail),
            (
                json!({"email": "a@example.com", "email_verified": false}),
                Refusal::NoVerifiedEmail,
            ),
            (json!({"email_verified": true}), Refusal::NoVerifiedEmail),
            (
                json!({"email": "a@evil-example.com", "email_verified": true}),
                Refusal::EmailDomain("evil-example.com".into()),
            ),
            (
                json!({"email": "a@sub.example.com", "email_verified": true}),
                Refusal::EmailDomain("sub.example.com".into()),
            ),
            (
                json!({"email": "a@example.com@evil.org", "email_verified": true}),
                Refusal::EmailDomain("evil.org".into()),
            ),
        ] {
            assert_eq!(r.check(&claims(value.clone())), Err(refusal), "{value}");
        }
    }

    #[test]
    fn a_group_rule_reads_a_string_or_an_array() {
        let r = rules(&[], &["admins", "staff"]);
        assert_eq!(r.check(&claims(json!({"groups": "staff"}))), Ok(()));
        assert_eq!(r.check(&claims(json!({"groups": ["x", "admins"]}))), Ok(()));
        for value in [
            json!({}),
            json!({"groups": "Staff"}),
            json!({"groups": ["x", 1]}),
            json!({"groups": {"admins": true}}),
        ] {
            assert_eq!(
                r.check(&claims(value.clone())),
                Err(Refusal::Groups("groups".into())),
                "{value}"
            );
        }
    }

    #[test]
    fn both_rules_must_hold_when_both_are_set() {
        let r = rules(&["example.com"], &["staff"]);
        let both = json!({"email": "a@example.com", "email_verified": true, "groups": ["staff"]});
        assert_eq!(r.check(&claims(both)), Ok(()));
        let no_group = json!({"email": "a@example.com", "email_verified": true});
        assert!(r.check(&claims(no_group)).is_err());
        let no_email = json!({"groups": ["staff"]});
        assert!(r.check(&claims(no_email)).is_err());
    }
}
