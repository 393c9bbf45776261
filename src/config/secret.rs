//! `SECRET`, the one secret of the app, stretched into the key of Rocket's private cookies and
//! into the keys that seal data at rest; and `PREVIOUS_SECRETS`, former values of `SECRET` whose
//! keys still decrypt (never encrypt), so that a rotation logs nobody out.

use base64::Engine;
use rocket::figment::Figment;
use serde::Deserialize;

use super::error::{non_empty, ConfigError};
use crate::crypto::{derive_cookie_key, PreviousCookieKeys, Sealer};

/// The keys `SECRET` and `PREVIOUS_SECRETS` give besides Rocket's `secret_key`.
pub(super) struct Keys {
    pub(super) previous_cookie_keys: PreviousCookieKeys,
    pub(super) sealer: Sealer,
}

/// The shortest `SECRET` accepted: 32 bytes, as for a 256-bit key.
const MIN_SECRET_LEN: usize = 32;

/// `oidc.previous_secrets`: a comma-separated string (as `PREVIOUS_SECRETS` is) or, in
/// `Rocket.toml`, an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretList {
    Text(String),
    List(Vec<String>),
}

/// `SECRET` (any length ≥ 32 bytes) is stretched with HKDF into Rocket's 512-bit key, and
/// `PREVIOUS_SECRETS` into the keys that still decrypt. Without `SECRET`, debug builds get
/// Rocket's random per-process key; release builds refuse to start.
pub(super) fn apply_secret(figment: Figment) -> Result<(Figment, Keys), ConfigError> {
    let secret: Option<String> = figment.extract_inner("oidc.secret").ok();
    let previous = previous_secrets(&figment)?;
    match non_empty(secret) {
        Some(secret) if secret.len() < MIN_SECRET_LEN => Err(ConfigError::Invalid {
            name: "SECRET (oidc.secret)",
            detail: format!("{} bytes", secret.len()),
            hint: "use at least 32 random bytes, e.g. the output of `openssl rand -hex 32`",
        }),
        Some(secret) => {
            let key = cookie_key(&secret, "SECRET (oidc.secret)")?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(key);
            // A previous secret equal to the current one would only cost a useless decryption.
            let previous: Vec<String> = previous.into_iter().filter(|p| *p != secret).collect();
            let previous_cookie_keys = previous
                .iter()
                .map(|p| {
                    cookie_key(p, "PREVIOUS_SECRETS (oidc.previous_secrets)")
                        .map(|key| cookie::Key::from(&key))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let previous_bytes: Vec<&[u8]> = previous.iter().map(|p| p.as_bytes()).collect();
            let keys = Keys {
                previous_cookie_keys: PreviousCookieKeys::new(previous_cookie_keys),
                sealer: Sealer::new(secret.as_bytes(), &previous_bytes),
            };
            Ok((figment.merge(("secret_key", encoded)), keys))
        }
        None if !previous.is_empty() => Err(ConfigError::Missing {
            name: "SECRET (oidc.secret)",
            hint: "PREVIOUS_SECRETS only decrypt what older keys encrypted: set SECRET to the new secret (at least 32 random bytes) that encrypts",
        }),
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
            // A host that sets Rocket's `secret_key` itself shares it between its instances:
            // seal with keys derived from it, so that they open each other's data too.
            let sealer = match has_rocket_key {
                true => rocket_key_material(&figment)
                    .map(|material| Sealer::new(&material, &[]))
                    .unwrap_or_else(Sealer::random),
                false => Sealer::random(),
            };
            let keys = Keys {
                previous_cookie_keys: PreviousCookieKeys::none(),
                sealer,
            };
            Ok((figment, keys))
        }
    }
}

/// The previous secrets, trimmed, without empty items, each at least as long as `SECRET` must be.
fn previous_secrets(figment: &Figment) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "PREVIOUS_SECRETS (oidc.previous_secrets)";
    let list = match figment.extract_inner::<SecretList>("oidc.previous_secrets") {
        Ok(list) => list,
        Err(err) if err.missing() => return Ok(Vec::new()),
        Err(_) => {
            return Err(ConfigError::Invalid {
                name: NAME,
                detail: "neither a string nor a list of strings".into(),
                hint: "write the former secrets separated by commas",
            })
        }
    };
    let items = match list {
        SecretList::Text(text) => text.split(',').map(str::to_string).collect(),
        SecretList::List(items) => items,
    };
    let secrets: Vec<String> = items
        .into_iter()
        .filter_map(|item| non_empty(Some(item)))
        .collect();
    let count = secrets.len();
    for (index, secret) in secrets.iter().enumerate() {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: NAME,
                detail: format!("secret {} of {count}: {} bytes", index + 1, secret.len()),
                hint:
                    "each is a former SECRET, so at least 32 bytes; remove any that never was one",
            });
        }
    }
    Ok(secrets)
}

/// The private-cookie key of a secret (see [`derive_cookie_key`]).
fn cookie_key(secret: &str, name: &'static str) -> Result<[u8; 64], ConfigError> {
    derive_cookie_key(secret.as_bytes()).map_err(|_| ConfigError::Invalid {
        name,
        detail: "key derivation failed".into(),
        hint: "use at least 32 random bytes",
    })
}

/// Rocket's `secret_key` as written (base64 or hex text, or bytes), for deriving sealing keys.
fn rocket_key_material(figment: &Figment) -> Option<Vec<u8>> {
    match figment.extract_inner::<SecretList>("secret_key").ok() {
        Some(SecretList::Text(text)) => Some(text.into_bytes()),
        Some(SecretList::List(_)) | None => figment
            .extract_inner::<Vec<u8>>("secret_key")
            .ok()
            .filter(|bytes| !bytes.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::http::Cookie;

    const OLD: &str = "0123456789abcdef0123456789abcdef";
    const NEW: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn short_secret_is_refused() {
        let figment = Figment::new().merge(("oidc.secret", "too short"));
        let err = apply_secret(figment).err().unwrap();
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

    /// Captured from the derivation before key rotation existed: sessions survive upgrades.
    #[test]
    fn the_current_cookie_key_derivation_is_unchanged() {
        let (figment, _) = apply_secret(Figment::new().merge(("oidc.secret", OLD))).unwrap();
        let key: String = figment.extract_inner("secret_key").unwrap();
        assert_eq!(
            key,
            "hcdJoQiY8Rtr/LaCm+C9f3D3AjA16ieqEM5pqV14j0tWYRmaIAimz+c17L5fqVHlqb3ScJa0HCHW0DrXX82yyA=="
        );
    }

    #[test]
    fn a_short_previous_secret_is_refused_with_its_position() {
        let figment = Figment::new()
            .merge(("oidc.secret", NEW))
            .merge(("oidc.previous_secrets", format!("{OLD}, short")));
        let err = apply_secret(figment).err().unwrap();
        assert_eq!(
            err.to_string(),
            "PREVIOUS_SECRETS (oidc.previous_secrets) is invalid (secret 2 of 2: 5 bytes): \
             each is a former SECRET, so at least 32 bytes; remove any that never was one"
        );
    }

    #[test]
    fn previous_secrets_without_a_secret_are_refused() {
        let figment = Figment::new().merge(("oidc.previous_secrets", OLD));
        let err = apply_secret(figment).err().unwrap();
        assert!(
            matches!(
                err,
                ConfigError::Missing {
                    name: "SECRET (oidc.secret)",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("PREVIOUS_SECRETS"), "{err}");
    }

    #[test]
    fn previous_secrets_are_a_comma_separated_string_or_a_list() {
        let third = "x".repeat(40);
        for value in [
            rocket::figment::value::Value::from(format!(" {OLD} ,, {third},")),
            rocket::figment::value::Value::from(vec![OLD.to_string(), third.clone()]),
        ] {
            let figment = Figment::new()
                .merge(("oidc.secret", NEW))
                .merge(("oidc.previous_secrets", value));
            assert_eq!(previous_secrets(&figment).unwrap(), vec![OLD, &third]);
            let (_, keys) = apply_secret(figment).unwrap();
            assert_eq!(keys.previous_cookie_keys.len(), 2);
        }
    }

    #[test]
    fn the_current_secret_is_not_kept_as_a_previous_one() {
        let figment = Figment::new()
            .merge(("oidc.secret", NEW))
            .merge(("oidc.previous_secrets", format!("{NEW},{OLD}")));
        let (_, keys) = apply_secret(figment).unwrap();
        assert_eq!(keys.previous_cookie_keys.len(), 1);
    }

    #[test]
    fn a_cookie_under_a_previous_secret_decrypts_with_the_previous_keys_only() {
        let old_key = cookie::Key::from(&cookie_key(OLD, "t").unwrap());
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(&old_key)
            .add(Cookie::new("bff_session", "hello"));
        let sealed = jar.get("bff_session").unwrap().clone();

        let with_old = PreviousCookieKeys::new(vec![old_key]);
        assert_eq!(with_old.decrypt(&sealed).unwrap().value(), "hello");
        let other = cookie::Key::from(&cookie_key(NEW, "t").unwrap());
        assert!(PreviousCookieKeys::new(vec![other])
            .decrypt(&sealed)
            .is_none());
        assert!(PreviousCookieKeys::none().decrypt(&sealed).is_none());
        // The name is authenticated: the same value under another name is refused.
        let renamed = Cookie::new("bff_other", sealed.value().to_string());
        assert!(with_old.decrypt(&renamed).is_none());
    }

    #[test]
    fn without_secret_the_sealer_follows_rockets_secret_key() {
        let figment = || Figment::new().merge(("secret_key", vec![7u8; 64]));
        let (_, a) = apply_secret(figment()).unwrap();
        let (_, b) = apply_secret(figment()).unwrap();
        let sealed = a.sealer.seal("t", b"", b"data");
        assert_eq!(b.sealer.open("t", b"", &sealed).unwrap(), b"data");
        let (_, random) = apply_secret(Figment::new().select("debug")).unwrap();
        assert!(random.sealer.open("t", b"", &sealed).is_none());
    }
}
