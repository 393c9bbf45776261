//! The protocol's one-time values as types of their own, so that a `&str, &str, &str`
//! argument list cannot be swapped and none of them is printed by `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::random_token;

macro_rules! protocol_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value itself, to send or compare; never to log.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(…)"))
            }
        }
    };
}

protocol_value!(
    /// `state`: sent to the IdP and compared when it comes back (CSRF protection).
    State
);
protocol_value!(
    /// `nonce`: sent to the IdP and required in the ID token (replay protection).
    Nonce
);
protocol_value!(
    /// The PKCE (RFC 7636) `code_verifier` of one login attempt.
    CodeVerifier
);
protocol_value!(
    /// An authorization code, redeemed once at the token endpoint.
    AuthorizationCode
);

impl State {
    /// 256 random bits.
    pub fn random() -> Self {
        Self(random_token())
    }
}

impl Nonce {
    /// 256 random bits.
    pub fn random() -> Self {
        Self(random_token())
    }
}

impl CodeVerifier {
    /// 256 random bits, base64url: 43 characters, as RFC 7636 §4.1 asks.
    pub fn random() -> Self {
        Self(random_token())
    }

    /// A known verifier (the examples of RFC 7636).
    #[cfg(test)]
    pub fn new(value: &str) -> Self {
        Self(value.into())
    }
}

impl AuthorizationCode {
    /// The code of an authorization response.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}
