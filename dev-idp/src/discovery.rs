//! The development IdP's discovery document (OpenID Connect Discovery 1.0 §3), built with the
//! typed metadata of `openidconnect`.

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

/// The endpoints' paths, as mounted by `routes` and `token_endpoints`.
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const JWKS_PATH: &str = "/jwks";
pub const END_SESSION_PATH: &str = "/end_session";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const REVOCATION_PATH: &str = "/revoke";
pub const PAR_PATH: &str = "/par";

pub const SCOPES: &[&str] = &["openid", "profile", "email"];
pub const CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "amr",
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

/// Metadata beyond Discovery 1.0: RP-Initiated Logout 1.0, Back-Channel Logout 1.0 §2.1,
/// RFC 9207, and from RFC 8414 the revocation endpoint (RFC 7009) and PKCE methods (RFC 7636).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    pub end_session_endpoint: String,
    pub backchannel_logout_supported: bool,
    /// Its logout tokens carry `sid`, as its ID tokens do.
    pub backchannel_logout_session_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<CoreClientAuthMethod>,
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9126 §5.
    pub pushed_authorization_request_endpoint: String,
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.1.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 8414 §2, for `private_key_jwt` at the revocation endpoint.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type DevProviderMetadata = ProviderMetadata<
    ExtraMetadata,
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

pub fn metadata(issuer: &IssuerUrl, require_par: bool) -> Result<DevProviderMetadata, String> {
    let base = issuer.as_str().trim_end_matches('/');
    let at = |path: &str| format!("{base}{path}");
    let auth_methods = vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::PrivateKeyJwt,
    ];
    let algorithms: Vec<String> = crate::client_jws::ALGORITHMS
        .iter()
        .map(|a| a.to_string())
        .collect();
    Ok(DevProviderMetadata::new(
        issuer.clone(),
        AuthUrl::new(at(AUTHORIZE_PATH)).map_err(|e| e.to_string())?,
        JsonWebKeySetUrl::new(at(JWKS_PATH)).map_err(|e| e.to_string())?,
        vec![
            ResponseTypes::new(vec![CoreResponseType::IdToken]),
            ResponseTypes::new(vec![CoreResponseType::Code]),
            ResponseTypes::new(vec![CoreResponseType::Code, CoreResponseType::IdToken]),
        ],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        ExtraMetadata {
            end_session_endpoint: at(END_SESSION_PATH),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            authorization_response_iss_parameter_supported: true,
            revocation_endpoint: at(REVOCATION_PATH),
            revocation_endpoint_auth_methods_supported: auth_methods.clone(),
            code_challenge_methods_supported: vec![crate::authorize::S256.to_string()],
            pushed_authorization_request_endpoint: at(PAR_PATH),
            require_pushed_authorization_requests: require_par,
            dpop_signing_alg_values_supported: algorithms.clone(),
            revocation_endpoint_auth_signing_alg_values_supported: algorithms,
        },
    )
    .set_token_endpoint(Some(
        TokenUrl::new(at(TOKEN_PATH)).map_err(|e| e.to_string())?,
    ))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(at(USERINFO_PATH)).map_err(|e| e.to_string())?,
    ))
    .set_token_endpoint_auth_methods_supported(Some(auth_methods))
    .set_token_endpoint_auth_signing_alg_values_supported(Some(vec![
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    ]))
    .set_response_modes_supported(Some(vec![CoreResponseMode::FormPost]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::Implicit,
        CoreGrantType::RefreshToken,
    ]))
    .set_scopes_supported(Some(
        SCOPES.iter().map(|s| Scope::new(s.to_string())).collect(),
    ))
    .set_claims_supported(Some(
        CLAIMS
            .iter()
            .map(|c| CoreClaimName::new(c.to_string()))
            .collect(),
    ))
    .set_acr_values_supported(Some(vec![
        AuthenticationContextClass::new(crate::authorize::ACR_PASSWORD.into()),
        AuthenticationContextClass::new(crate::authorize::ACR_MFA.into()),
    ]))
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false)))
}
