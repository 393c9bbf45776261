//! The development IdP's discovery document (OpenID Connect Discovery 1.0 §3), built with the
//! typed metadata of `openidconnect`.

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope,
};
use serde::{Deserialize, Serialize};

/// The endpoints' paths. A token endpoint (issue 6, `response_type=code`) goes here, in
/// `metadata` below and in `routes`.
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const JWKS_PATH: &str = "/jwks";
pub const END_SESSION_PATH: &str = "/end_session";

pub const SCOPES: &[&str] = &["openid", "profile", "email"];
pub const CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "picture",
    "email",
    "email_verified",
];

/// Metadata beyond Discovery 1.0: RP-Initiated Logout 1.0 and RFC 9207.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutMetadata {
    pub end_session_endpoint: String,
    pub authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for LogoutMetadata {}

pub type DevProviderMetadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub fn metadata(issuer: &IssuerUrl) -> Result<DevProviderMetadata, String> {
    let base = issuer.as_str().trim_end_matches('/');
    let at = |path: &str| format!("{base}{path}");
    Ok(DevProviderMetadata::new(
        issuer.clone(),
        AuthUrl::new(at(AUTHORIZE_PATH)).map_err(|e| e.to_string())?,
        JsonWebKeySetUrl::new(at(JWKS_PATH)).map_err(|e| e.to_string())?,
        vec![ResponseTypes::new(vec![CoreResponseType::IdToken])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        LogoutMetadata {
            end_session_endpoint: at(END_SESSION_PATH),
            authorization_response_iss_parameter_supported: true,
        },
    )
    .set_response_modes_supported(Some(vec![CoreResponseMode::FormPost]))
    .set_grant_types_supported(Some(vec![CoreGrantType::Implicit]))
    .set_scopes_supported(Some(
        SCOPES.iter().map(|s| Scope::new(s.to_string())).collect(),
    ))
    .set_claims_supported(Some(
        CLAIMS
            .iter()
            .map(|c| CoreClaimName::new(c.to_string()))
            .collect(),
    ))
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false)))
}
