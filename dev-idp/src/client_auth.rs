//! Client authentication with a secret at the token, revocation and PAR endpoints (RFC 6749
//! §2.3.1): `client_secret_basic` (HTTP Basic with the id and secret form-urlencoded first) and
//! `client_secret_post` (both as form fields). `private_key_jwt` is in `client_assertion`; the
//! choice between them in `oauth`. Pure: no Rocket.

use base64::Engine;

use crate::clients::{Client, Clients};
use crate::params::Params;

/// Why a client was not authenticated; each maps to one RFC 6749 §5.2 error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientAuthError {
    /// `invalid_request`: the request itself is malformed (two methods at once, a parameter
    /// twice, an unreadable `Authorization` header).
    #[error("{0}")]
    Malformed(String),
    /// `invalid_client`: no credentials, an unknown client or a wrong secret.
    #[error("{0}")]
    Failed(String),
}

/// Authenticates a registered client from the `Authorization` header or the form fields.
pub fn authenticate<'c>(
    authorization: Option<&str>,
    params: &Params,
    clients: &'c Clients,
) -> Result<&'c Client, ClientAuthError> {
    let field = |name: &str| {
        params.one(name).map_err(|d| {
            ClientAuthError::Malformed(format!("The parameter `{}` was sent more than once.", d.0))
        })
    };
    let body_id = field("client_id")?;
    let body_secret = field("client_secret")?;
    let (client_id, secret) = match authorization {
        Some(header) => {
            if body_secret.is_some() {
                return Err(ClientAuthError::Malformed(
                    "The client authenticated twice (HTTP Basic and client_secret): use one method."
                        .into(),
                ));
            }
            let (id, secret) = basic_credentials(header)?;
            // A client_id in the body too is harmless, as long as it names the same client.
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(ClientAuthError::Malformed(
                    "client_id differs from the client authenticated by HTTP Basic.".into(),
                ));
            }
            (id, secret)
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
            (Some(_), None) => {
                return Err(ClientAuthError::Failed(
                    "This client is confidential: it must authenticate with its secret.".into(),
                ))
            }
            (None, _) => {
                return Err(ClientAuthError::Failed(
                    "No client authentication: use HTTP Basic (client_secret_basic) or \
                     client_id and client_secret in the body (client_secret_post)."
                        .into(),
                ))
            }
        },
    };
    match clients.get(&client_id) {
        Some(client) if client.client_secret.matches(&secret) => Ok(client),
        _ => Err(ClientAuthError::Failed(
            "Unknown client or wrong client secret.".into(),
        )),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn basic_credentials(header: &str) -> Result<(String, String), ClientAuthError> {
    let malformed =
        |why: &str| ClientAuthError::Malformed(format!("The Authorization header {why}."));
    let (scheme, encoded) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| malformed("is not HTTP Basic"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        // Another scheme is not a client authentication method this IdP supports.
        return Err(ClientAuthError::Failed(format!(
            "The authentication scheme `{scheme}` is not supported: use Basic."
        )));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("is not valid base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed("is not UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("has no `:` between client id and secret"))?;
    let id = form_decode(id).ok_or_else(|| malformed("has a badly encoded client id"))?;
    let secret = form_decode(secret).ok_or_else(|| malformed("has a badly encoded secret"))?;
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XY` a byte.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [rest.next()?, rest.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientSecret;

    /// Two registered clients; the tests authenticate the second.
    static CLIENTS: std::sync::LazyLock<Clients> = std::sync::LazyLock::new(|| {
        let other = Client::for_app("other", "other-secret", "http://localhost:4100");
        let mut ours = Client::for_app("oidc bff:dev", "", "http://localhost:3000");
        ours.client_secret = ClientSecret::new("s3cr&t +%:");
        Clients::new(vec![other, ours])
    });

    fn client() -> &'static Clients {
        &CLIENTS
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    fn basic(id: &str, secret: &str) -> String {
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let credentials = format!("{}:{}", encode(id), encode(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn basic_with_form_encoded_id_and_secret_authenticates() {
        let header = basic("oidc bff:dev", "s3cr&t +%:");
        assert_eq!(
            authenticate(Some(&header), &params(&[]), client()).map(|c| c.client_id.as_str()),
            Ok("oidc bff:dev")
        );
        // The scheme is case-insensitive, and a matching client_id in the body is fine.
        let header = header.replacen("Basic", "basic", 1);
        let body = params(&[("client_id", "oidc bff:dev")]);
        assert_eq!(
            authenticate(Some(&header), &body, client()).map(|c| c.client_id.as_str()),
            Ok("oidc bff:dev")
        );
    }

    #[test]
    fn client_secret_post_authenticates() {
        let body = params(&[
            ("client_id", "oidc bff:dev"),
            ("client_secret", "s3cr&t +%:"),
        ]);
        assert_eq!(
            authenticate(None, &body, client()).map(|c| c.client_id.as_str()),
            Ok("oidc bff:dev")
        );
    }

    #[test]
    fn wrong_or_missing_credentials_are_an_invalid_client() {
        let failed = |result| matches!(result, Err(ClientAuthError::Failed(_)));
        assert!(failed(authenticate(
            Some(&basic("oidc bff:dev", "wrong")),
            &params(&[]),
            client()
        )));
        assert!(failed(authenticate(
            Some(&basic("someone", "s3cr&t +%:")),
            &params(&[]),
            client()
        )));
        assert!(failed(authenticate(None, &params(&[]), client())));
        assert!(failed(authenticate(
            None,
            &params(&[("client_id", "oidc bff:dev")]),
            client()
        )));
        assert!(failed(authenticate(
            None,
            &params(&[("client_id", "oidc bff:dev"), ("client_secret", "s3cr&t")]),
            client()
        )));
        assert!(failed(authenticate(
            Some("Bearer abc"),
            &params(&[]),
            client()
        )));
        // Not form-decoded by the client: `+` would be a space.
        let raw = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("oidc bff:dev:s3cr&t +%:")
        );
        assert!(authenticate(Some(&raw), &params(&[]), client()).is_err());
        // Another registered client's secret does not authenticate this one.
        assert!(failed(authenticate(
            Some(&basic("oidc bff:dev", "other-secret")),
            &params(&[]),
            client()
        )));
    }

    #[test]
    fn each_registered_client_authenticates_with_its_own_secret() {
        let header = basic("other", "other-secret");
        let client = authenticate(Some(&header), &params(&[]), client()).unwrap();
        assert_eq!(client.client_id, "other");
    }

    #[test]
    fn two_methods_or_unreadable_credentials_are_an_invalid_request() {
        let malformed = |result| matches!(result, Err(ClientAuthError::Malformed(_)));
        let header = basic("oidc bff:dev", "s3cr&t +%:");
        assert!(malformed(authenticate(
            Some(&header),
            &params(&[("client_secret", "s3cr&t +%:")]),
            client()
        )));
        assert!(malformed(authenticate(
            Some(&header),
            &params(&[("client_id", "other")]),
            client()
        )));
        for header in ["Basic", "Basic !!!", "Basic bm8tY29sb24="] {
            assert!(
                malformed(authenticate(Some(header), &params(&[]), client())),
                "{header}"
            );
        }
        let twice = Params::from_pairs([
            ("client_id".to_string(), "oidc bff:dev".to_string()),
            ("client_id".to_string(), "oidc bff:dev".to_string()),
        ]);
        assert!(malformed(authenticate(None, &twice, client())));
    }

    #[test]
    fn the_secret_is_never_printed() {
        assert!(!format!("{:?}", client()).contains("s3cr"));
    }
}
