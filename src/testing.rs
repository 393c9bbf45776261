//! Internals for this project's own tests, fuzz targets and benchmarks (Cargo feature
//! `testing`, which they enable). Not part of the library's API: it changes without notice.

#![allow(missing_docs)]

pub mod clock {
    pub use crate::clock::now;
}

pub mod config {
    pub use crate::config::{load, redis_settings, ClientAuthMethod, RedisSettings};
}

pub mod crypto {
    pub use crate::crypto::{
        derive_cookie_key, random_token, CookieKeys, PreviousCookieKeys, Sealer,
    };
}

#[cfg(all(feature = "dev-idp", debug_assertions))]
pub mod dev_idp {
    pub use crate::dev_idp::DEFAULT_CLIENT_SECRET;
}

pub mod jose {
    pub use crate::jose::SigningKey;
}

pub mod oidc {
    pub mod client_auth {
        pub use crate::oidc::client_auth::ClientCredentials;
    }
    pub mod discovery {
        pub use crate::oidc::discovery::ProviderMetadata;
    }
    pub mod dpop {
        pub use crate::oidc::dpop::DpopKey;
    }
    pub mod flow {
        pub use crate::oidc::flow::normalize_return_to;
    }
    pub mod validate {
        pub use crate::oidc::validate::{Expected, IdTokenValidator, ValidationRules};
    }
}

pub mod store {
    pub use crate::store::digest;
}
