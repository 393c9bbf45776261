//! Unguessable values: session ids, `state`, `nonce`, PKCE verifiers, `jti`s.

use base64::Engine;
use rand::RngCore;

/// 256 random bits from the OS-seeded CSPRNG, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
