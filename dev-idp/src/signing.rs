//! The development IdP's signing key and the ID tokens it mints, with the same crate the app
//! verifies them with (`openidconnect`). The key is generated at start-up and lives in memory
//! only: no private key is in the repository.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, AuthorizationCode, ClientId, EmptyAdditionalClaims,
    EndUserEmail, EndUserFamilyName, EndUserGivenName, EndUserName, EndUserPictureUrl,
    EndUserUsername, IdToken, IdTokenClaims, IdTokenVerifier, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use serde::{Deserialize, Serialize};

use crate::accounts::Account;
use crate::rsa_key::RsaKey;

/// RSA modulus size. 2048 bits takes well under a second with the optimised `rsa` crate of the
/// dev profile (see `[profile.dev.package.rsa]` in Cargo.toml).
const KEY_BITS: usize = 2048;
/// ID tokens are short-lived: they only carry the login to the app.
pub const ID_TOKEN_LIFETIME: TimeDelta = TimeDelta::minutes(5);
const ALGORITHM: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;

/// `sid` (OpenID Connect Front-Channel/Back-Channel Logout), beyond the standard claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}
impl AdditionalClaims for SessionClaims {}

pub type DevIdToken = IdToken<
    SessionClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type DevIdTokenClaims = IdTokenClaims<SessionClaims, CoreGenderClaim>;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing key could not be generated ({0})")]
    KeyGeneration(String),
    #[error("the token could not be signed ({0})")]
    Signing(String),
    #[error("the ID token was not issued by this identity provider ({0})")]
    NotOurs(String),
}

/// What a sign-in grants: who, to which client, within which IdP session. Kept with an
/// authorization code and its tokens, so the token endpoint and UserInfo answer for it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub account: &'static Account,
    pub client_id: String,
    /// The authentication request's nonce, repeated in every ID token of this grant.
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: DateTime<Utc>,
    pub sid: String,
    /// The authentication context class reached (`acr`) and the methods used (`amr`).
    pub acr: &'static str,
    pub amr: &'static [&'static str],
    /// Where the account's avatar is served (the `picture` claim).
    pub picture_url: String,
}

impl Grant {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `sub` and the account's claims for the granted `profile` and `email` scopes (Core 5.4).
    pub fn standard_claims(&self) -> StandardClaims<CoreGenderClaim> {
        let account = self.account;
        let mut standard = StandardClaims::new(SubjectIdentifier::new(account.subject.into()));
        if self.has_scope("profile") {
            standard = standard
                .set_name(Some(EndUserName::new(account.name()).into()))
                .set_given_name(Some(
                    EndUserGivenName::new(account.given_name.into()).into(),
                ))
                .set_family_name(Some(
                    EndUserFamilyName::new(account.family_name.into()).into(),
                ))
                .set_preferred_username(Some(EndUserUsername::new(account.username.into())))
                .set_picture(Some(
                    EndUserPictureUrl::new(self.picture_url.clone()).into(),
                ));
        }
        if self.has_scope("email") {
            standard = standard
                .set_email(Some(EndUserEmail::new(account.email.into())))
                .set_email_verified(Some(true));
        }
        standard
    }

    /// The UserInfo response (Core 5.3.2): the same claims as in the ID token.
    pub fn userinfo(&self) -> CoreUserInfoClaims {
        CoreUserInfoClaims::new(self.standard_claims(), EmptyAdditionalClaims {})
    }
}

/// What an ID token is issued with, for its `at_hash` and `c_hash` (Core 3.3.2.11, 3.1.3.6).
#[derive(Default)]
pub struct IssuedWith<'a> {
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
}

pub struct SigningKey {
    key: RsaKey,
    kid: String,
    jwks: CoreJsonWebKeySet,
}

/// Logout tokens are posted at once; a short life bounds how long a copy could be replayed.
pub const LOGOUT_TOKEN_LIFETIME: TimeDelta = TimeDelta::minutes(2);
/// The event that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

impl SigningKey {
    /// A fresh RSA key with a random `kid`. Slow-ish (CPU-bound): call it off the async runtime.
    pub fn generate() -> Result<Self, TokenError> {
        let failed = |e: &dyn std::fmt::Display| TokenError::KeyGeneration(e.to_string());
        let private =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).map_err(|e| failed(&e))?;
        // `openidconnect` takes its signing key as PKCS#1 PEM; the PEM never leaves memory.
        let pem = private
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| failed(&e))?;
        let kid = format!("dev-{}", &crate::random::random_token()[..12]);
        let core = CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.clone())))
            .map_err(|e| failed(&e))?;
        let der = private.to_pkcs1_der().map_err(|e| failed(&e))?;
        let key = RsaKey::new(core, der.as_bytes()).map_err(|e| failed(&e))?;
        let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
        Ok(Self { key, kid, jwks })
    }

    /// Signs `message` with `alg` as is (for the tests of JWS verification).
    #[cfg(test)]
    pub fn sign_raw(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        self.key
            .sign(alg, message)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// The public half, as served at the JWKS endpoint.
    pub fn jwks(&self) -> &CoreJsonWebKeySet {
        &self.jwks
    }

    /// An ID token for `grant`: `iss sub aud exp iat auth_time sid`, `nonce` when the request
    /// had one, the account's claims for the granted `profile` and `email` scopes, and
    /// `at_hash` / `c_hash` for the access token or code it is issued with.
    pub fn id_token(
        &self,
        issuer: &IssuerUrl,
        grant: &Grant,
        with: IssuedWith<'_>,
    ) -> Result<String, TokenError> {
        let now = Utc::now();
        let claims = DevIdTokenClaims::new(
            issuer.clone(),
            vec![Audience::new(grant.client_id.clone())],
            now + ID_TOKEN_LIFETIME,
            now,
            grant.standard_claims(),
            SessionClaims {
                sid: Some(grant.sid.clone()),
            },
        )
        .set_nonce(grant.nonce.clone().map(Nonce::new))
        .set_auth_time(Some(grant.auth_time))
        .set_auth_context_ref(Some(AuthenticationContextClass::new(grant.acr.into())))
        .set_auth_method_refs(Some(
            grant
                .amr
                .iter()
                .map(|method| AuthenticationMethodReference::new(method.to_string()))
                .collect(),
        ));
        let access_token = with.access_token.map(|t| AccessToken::new(t.into()));
        let code = with.code.map(|c| AuthorizationCode::new(c.into()));
        let token = DevIdToken::new(
            claims,
            &self.key,
            ALGORITHM,
            access_token.as_ref(),
            code.as_ref(),
        )
        .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(token.to_string())
    }

    /// A logout token (Back-Channel Logout 1.0 §2.4) for `client_id` saying that the IdP
    /// session `sid` of `sub` ended: `iss aud iat exp jti events sid sub`, typed `logout+jwt`,
    /// never a `nonce`.
    pub fn logout_token(
        &self,
        issuer: &IssuerUrl,
        client_id: &str,
        sub: &str,
        sid: &str,
    ) -> Result<String, TokenError> {
        use base64::Engine;
        let now = Utc::now().timestamp();
        let header = serde_json::json!({ "alg": "RS256", "kid": self.kid, "typ": "logout+jwt" });
        let claims = serde_json::json!({
            "iss": issuer.as_str(),
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_LIFETIME.num_seconds(),
            "jti": crate::random::random_token(),
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            "sid": sid,
            "sub": sub,
        });
        let b64 = |value: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let signature = self
            .key
            .sign(&ALGORITHM, input.as_bytes())
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Checks an `id_token_hint` (RP-Initiated Logout 1.0 §2): signed by us, issued by us, for
    /// `client_id`. An expired hint is still a good hint, so `exp` is not checked.
    pub fn verify_hint(
        &self,
        token: &str,
        issuer: &IssuerUrl,
        client_id: &str,
    ) -> Result<DevIdTokenClaims, TokenError> {
        let not_ours = |e: &dyn std::fmt::Display| TokenError::NotOurs(e.to_string());
        let token = DevIdToken::from_str(token).map_err(|e| not_ours(&e))?;
        let verifier = IdTokenVerifier::new_public_client(
            ClientId::new(client_id.into()),
            issuer.clone(),
            self.jwks.clone(),
        )
        .set_allowed_algs([ALGORITHM])
        .set_time_fn(|| DateTime::UNIX_EPOCH);
        token
            .into_claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(|e| not_ours(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::ACCOUNTS;

    fn issuer() -> IssuerUrl {
        IssuerUrl::new("http://127.0.0.1:4000".into()).unwrap()
    }

    fn grant(scopes: &[&str]) -> Grant {
        Grant {
            account: &ACCOUNTS[0],
            client_id: "oidc-bff-dev".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            auth_time: Utc::now() - TimeDelta::seconds(30),
            sid: "session-1".into(),
            acr: "pwd",
            amr: &["pwd"],
            picture_url: "http://127.0.0.1:4000/avatars/alice.svg".into(),
        }
    }

    #[test]
    fn minted_tokens_verify_as_hints_and_foreign_ones_do_not() {
        let started = std::time::Instant::now();
        let key = SigningKey::generate().unwrap();
        eprintln!("2048-bit RSA key generated in {:?}", started.elapsed());
        let grant = grant(&["openid", "profile", "email"]);
        let token = key
            .id_token(&issuer(), &grant, IssuedWith::default())
            .unwrap();
        let claims = key.verify_hint(&token, &issuer(), "oidc-bff-dev").unwrap();
        assert_eq!(claims.subject().as_str(), ACCOUNTS[0].subject);
        assert_eq!(claims.additional_claims().sid.as_deref(), Some("session-1"));
        assert_eq!(claims.expiration() - claims.issue_time(), ID_TOKEN_LIFETIME);
        assert!(key.verify_hint(&token, &issuer(), "other-client").is_err());
        let other = SigningKey::generate().unwrap();
        assert!(other
            .verify_hint(&token, &issuer(), "oidc-bff-dev")
            .is_err());
        assert!(key
            .verify_hint("not.a.token", &issuer(), "oidc-bff-dev")
            .is_err());
    }

    #[test]
    fn scopes_decide_which_claims_are_in_the_token() {
        let key = SigningKey::generate().unwrap();
        let grant = grant(&["openid"]);
        let token = key
            .id_token(&issuer(), &grant, IssuedWith::default())
            .unwrap();
        let claims = key.verify_hint(&token, &issuer(), "oidc-bff-dev").unwrap();
        assert!(claims.name().is_none());
        assert!(claims.email().is_none());
        let userinfo = serde_json::to_value(grant.userinfo()).unwrap();
        assert_eq!(userinfo, serde_json::json!({"sub": ACCOUNTS[0].subject}));
    }

    #[test]
    fn userinfo_has_the_claims_of_the_granted_scopes() {
        let userinfo = serde_json::to_value(grant(&["openid", "email"]).userinfo()).unwrap();
        assert_eq!(
            userinfo,
            serde_json::json!({
                "sub": ACCOUNTS[0].subject,
                "email": "alice@example.com",
                "email_verified": true,
            })
        );
        let userinfo = serde_json::to_value(grant(&["openid", "profile"]).userinfo()).unwrap();
        assert_eq!(userinfo["name"], "Alice Liddell");
        assert_eq!(userinfo["preferred_username"], "alice");
        assert!(userinfo.get("email").is_none());
    }

    #[test]
    fn hashes_bind_the_token_to_its_access_token_and_code() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let half = |value: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(&Sha256::digest(value.as_bytes())[..16])
        };
        let key = SigningKey::generate().unwrap();
        let with = IssuedWith {
            access_token: Some("an-access-token"),
            code: Some("a-code"),
        };
        let token = key.id_token(&issuer(), &grant(&["openid"]), with).unwrap();
        let claims = key.verify_hint(&token, &issuer(), "oidc-bff-dev").unwrap();
        assert_eq!(
            claims.access_token_hash().map(|h| h.as_str().to_string()),
            Some(half("an-access-token"))
        );
        assert_eq!(
            claims.code_hash().map(|h| h.as_str().to_string()),
            Some(half("a-code"))
        );
        assert_eq!(
            claims.nonce().map(|n| n.secret().as_str()),
            Some("n-0S6_WzA2Mj")
        );
    }
}
