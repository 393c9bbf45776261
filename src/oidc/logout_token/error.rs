//! Why a logout token was refused: one variant per rule of Back-Channel Logout 1.0 §2.4–2.6,
//! with a message that names the rule and never quotes the token.

/// Why a logout token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    /// Not a compact JWS of three base64url parts, or a part that is not a JSON object.
    #[error("the logout token is malformed ({0})")]
    Malformed(&'static str),
    /// Larger than any logout token needs to be.
    #[error("the logout token is too large")]
    TooLarge,
    /// Five parts or an `enc` header: a JWE, which this app does not decrypt.
    #[error("the logout token is encrypted (JWE), which this application does not accept")]
    Encrypted,
    /// `alg` is `none`, an HMAC, or not among the IdP's accepted ID token algorithms.
    #[error("the logout token's signing algorithm is not allowed")]
    DisallowedAlgorithm,
    /// A `crit` or `cty` header, which would change how the token must be read.
    #[error("the logout token has a header this application does not understand ({0})")]
    UnsupportedHeader(&'static str),
    /// `typ` is neither `logout+jwt` nor `JWT` (e.g. an access token's `at+jwt`).
    #[error("the logout token's type (typ) is not logout+jwt")]
    WrongType,
    /// No key of the IdP's key set matches the header's `kid` and algorithm.
    #[error("the logout token is signed with a key the identity provider does not publish")]
    UnknownKey {
        /// The header's `kid`, if any (for the rate-limited key refetch).
        kid: Option<String>,
    },
    /// Several keys of the key set would do and the header names none of them.
    #[error("the logout token does not say which of the identity provider's keys signed it")]
    AmbiguousKey,
    /// The signature does not verify with the IdP's key.
    #[error("the logout token's signature is invalid")]
    BadSignature,
    /// `iss` is missing or not exactly the issuer.
    #[error("the logout token was issued by another identity provider (iss)")]
    WrongIssuer,
    /// `aud` is missing, does not contain this client, or names an untrusted audience.
    #[error("the logout token is meant for another application (aud)")]
    WrongAudience,
    /// `azp` names another client, or is missing with several audiences.
    #[error("the logout token was obtained by another application (azp)")]
    WrongAuthorizedParty,
    /// `iat` is missing or not a number.
    #[error("the logout token has no valid issue time (iat)")]
    MissingIssuedAt,
    /// `iat` lies in the future beyond the clock skew.
    #[error("the logout token is issued in the future (iat): the clocks of this server and the identity provider disagree")]
    IssuedInFuture,
    /// `iat` is so old that the token could no longer be told apart from a replay.
    #[error("the logout token was issued too long ago (iat)")]
    TooOld,
    /// `exp` is missing or not a number.
    #[error("the logout token has no valid expiry (exp)")]
    MissingExpiry,
    /// `exp` has passed, beyond the clock skew.
    #[error("the logout token has expired (exp)")]
    Expired,
    /// `nbf` is not a number.
    #[error("the logout token's nbf is not a number")]
    MalformedNotBefore,
    /// `nbf` lies in the future beyond the clock skew.
    #[error("the logout token is not valid yet (nbf)")]
    NotYetValid,
    /// `jti` is missing, empty or not a string.
    #[error("the logout token has no identifier (jti)")]
    MissingJti,
    /// `events` is missing or not a JSON object.
    #[error("the logout token has no events claim")]
    MissingEvents,
    /// `events` lacks the back-channel logout event, or its value is not a JSON object.
    #[error("the logout token's events do not declare a back-channel logout")]
    NotALogoutEvent,
    /// A `nonce` claim: forbidden, so an ID token cannot pass for a logout token.
    #[error("the logout token carries a nonce, which logout tokens must not")]
    NonceForbidden,
    /// Neither `sid` nor `sub`.
    #[error("the logout token names neither a session (sid) nor a user (sub)")]
    NoSubjectOrSession,
    /// `sid` present but not a non-empty string.
    #[error("the logout token's sid is not a non-empty string")]
    MalformedSid,
    /// `sub` present but not a non-empty string.
    #[error("the logout token's sub is not a non-empty string")]
    MalformedSub,
    /// Its `jti` was already accepted: a replay.
    #[error("the logout token was already used (jti replayed)")]
    Replayed,
}
