//! `SECRET`, the one secret of the app, stretched into the key of Rocket's private cookies.

use base64::Engine;
use hkdf::Hkdf;
use rocket::figment::Figment;
use sha2::Sha256;

use super::settings::{non_empty, ConfigError};

/// The shortest `SECRET` accepted: 32 bytes, as for a 256-bit key.
const MIN_SECRET_LEN: usize = 32;

/// `SECRET` (any length ≥ 32 bytes) is stretched with HKDF into Rocket's 512-bit key.
/// Without it, debug builds get Rocket's random per-process key; release builds refuse to start.
pub(super) fn apply_secret(figment: Figment) -> Result<Figment, ConfigError> {
    let secret: Option<String> = figment.extract_inner("oidc.secret").ok();
    match non_empty(secret) {
        Some(secret) if secret.len() < MIN_SECRET_LEN => Err(ConfigError::Invalid {
            name: "SECRET (oidc.secret)",
            detail: format!("{} bytes", secret.len()),
            hint: "use at least 32 random bytes, e.g. the output of `openssl rand -hex 32`",
        }),
        Some(secret) => {
            let mut key = [0u8; 64];
            Hkdf::<Sha256>::new(Some(b"oidc-bff"), secret.as_bytes())
                .expand(b"rocket secret_key", &mut key)
                .map_err(|_| ConfigError::Invalid {
                    name: "SECRET (oidc.secret)",
                    detail: "key derivation failed".into(),
                    hint: "use at least 32 random bytes",
                })?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(key);
            Ok(figment.merge(("secret_key", encoded)))
        }
        None => {
            let profile = figment.profile().as_str().to_string();
            let has_rocket_key = figment
                .extract_inner::<rocket::config::SecretKey>("secret_key")
                .is_ok_and(|key| !key.is_zero());
            if profile != "debug" && !has_rocket_key {
                return Err(ConfigError::Missing {
                    name: "SECRET",
                    hint: "release builds need a cookie key: set SECRET to at least 32 random bytes (`openssl rand -hex 32`)",
                });
            }
            Ok(figment)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secret_is_refused() {
        let figment = Figment::new().merge(("oidc.secret", "too short"));
        let err = apply_secret(figment).unwrap_err();
        assert!(err.to_string().starts_with("SECRET"), "{err}");
    }

    #[test]
    fn release_profile_without_secret_is_refused() {
        let figment = Figment::new().select("release");
        assert!(matches!(
            apply_secret(figment),
            Err(ConfigError::Missing { name: "SECRET", .. })
        ));
    }
}
