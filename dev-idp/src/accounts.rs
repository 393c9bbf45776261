//! The demo accounts. Their passwords are printed on the sign-in page on purpose: this IdP exists
//! so that anyone can try a login without an account anywhere.

use subtle::ConstantTimeEq;

#[derive(Debug)]
pub struct Account {
    pub username: &'static str,
    pub password: &'static str,
    /// Stable and never reused, as OpenID Connect requires of `sub`.
    pub subject: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub email: &'static str,
    /// Background of the generated avatar.
    colour: &'static str,
}

/// The one-time code of the second factor (`acr=mfa`), the same for every demo account and
/// printed on its page, as the passwords are.
pub const DEMO_ONE_TIME_CODE: &str = "123456";

/// Whether `code` is the demo second factor.
pub fn second_factor_matches(code: &str) -> bool {
    bool::from(code.trim().as_bytes().ct_eq(DEMO_ONE_TIME_CODE.as_bytes()))
}

pub const ACCOUNTS: &[Account] = &[
    Account {
        username: "alice",
        password: "alice",
        subject: "dev-7f3a1c2e-alice",
        given_name: "Alice",
        family_name: "Liddell",
        email: "alice@example.com",
        colour: "#3657d6",
    },
    Account {
        username: "bob",
        password: "bob",
        subject: "dev-5b9e0d41-bob",
        given_name: "Bob",
        family_name: "Builder",
        email: "bob@example.com",
        colour: "#1f8a5b",
    },
    Account {
        username: "carol",
        password: "carol",
        subject: "dev-c04d8f77-carol",
        given_name: "Carol",
        family_name: "Danvers",
        email: "carol@example.com",
        colour: "#b3452c",
    },
];

impl Account {
    pub fn name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }

    /// A small SVG avatar: the initial on a coloured disc. Nothing is fetched from elsewhere.
    pub fn avatar_svg(&self) -> String {
        let initial = self.given_name.chars().next().unwrap_or('?');
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="{name}"><circle cx="32" cy="32" r="32" fill="{colour}"/><text x="32" y="42" font-family="sans-serif" font-size="28" font-weight="700" fill="#fff" text-anchor="middle">{initial}</text></svg>"##,
            name = self.name(),
            colour = self.colour,
        )
    }
}

pub fn find(username: &str) -> Option<&'static Account> {
    ACCOUNTS.iter().find(|a| a.username == username)
}

/// The account whose username (or email) and password match. Passwords are compared in
/// constant time and every account is looked at, as a real IdP would.
pub fn authenticate(username: &str, password: &str) -> Option<&'static Account> {
    let username = username.trim();
    let mut found = None;
    for account in ACCOUNTS {
        let name_matches =
            account.username == username || account.email.eq_ignore_ascii_case(username);
        let password_matches: bool = account
            .password
            .as_bytes()
            .ct_eq(password.as_bytes())
            .into();
        if name_matches && password_matches {
            found = Some(account);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_signs_in_and_any_other_does_not() {
        assert_eq!(
            authenticate("alice", "alice").map(|a| a.username),
            Some("alice")
        );
        assert_eq!(
            authenticate("Bob@Example.com", "bob").map(|a| a.username),
            Some("bob")
        );
        assert!(authenticate("alice", "bob").is_none());
        assert!(authenticate("alice", "").is_none());
        assert!(authenticate("alice", "alice ").is_none());
        assert!(authenticate("mallory", "mallory").is_none());
    }

    #[test]
    fn subjects_are_unique() {
        for (i, a) in ACCOUNTS.iter().enumerate() {
            assert!(ACCOUNTS[i + 1..].iter().all(|b| b.subject != a.subject));
        }
    }
}
