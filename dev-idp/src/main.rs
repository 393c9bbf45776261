//! `dev-idp`: the development identity provider on its own, for other projects' local runs and
//! tests. `dev-idp --help` lists the flags; each has an environment variable too.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dev_idp::{Client, ClientKeys, ClientSecret, Lifetimes, Options};

/// A zero-setup OpenID Provider for local development and tests. Not for production.
#[derive(Debug, Parser)]
#[command(name = "dev-idp", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "DEV_IDP_ADDRESS", default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "DEV_IDP_PORT", default_value_t = dev_idp::DEFAULT_PORT)]
    port: u16,
    /// Issuer in tokens and discovery [default: http://<address>:<port>].
    #[arg(long, env = "DEV_IDP_ISSUER")]
    issuer: Option<String>,
    /// A registered client, as `id=ID,secret=SECRET,redirect_uri=URI[,redirect_uri=URI...]
    /// [,post_logout_redirect_uri=URI...][,backchannel_logout_uri=URI]`; repeat for several (in the environment, separate
    /// them with `;`). A client that authenticates with `private_key_jwt` has
    /// `jwks_uri=URI` (and optionally `token_endpoint_auth_method=private_key_jwt`) instead of
    /// `secret=`. Default: oidc-bff's development client for http://localhost:3000.
    #[arg(long = "client", env = "DEV_IDP_CLIENTS", value_delimiter = ';', value_parser = parse_client)]
    clients: Vec<Client>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "DEV_IDP_ACCESS_TOKEN_TTL", default_value_t = Lifetimes::default().access_token.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    access_token_ttl: u64,
    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "DEV_IDP_REFRESH_TOKEN_TTL", default_value_t = Lifetimes::default().refresh_token.as_secs(), value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    refresh_token_ttl: u64,
    /// Lifetime of authorization codes, in seconds.
    #[arg(long, env = "DEV_IDP_CODE_TTL", default_value_t = Lifetimes::default().code.as_secs(), value_parser = clap::value_parser!(u64).range(1..=600))]
    code_ttl: u64,
    /// Refuse authorization requests that were not pushed to /par first (RFC 9126).
    #[arg(long, env = "DEV_IDP_REQUIRE_PAR")]
    require_par: bool,
    /// Require server-provided nonces in DPoP proofs (RFC 9449 §8, §9).
    #[arg(long, env = "DEV_IDP_DPOP_NONCE")]
    dpop_nonce: bool,
    /// How far a DPoP proof's `iat` may be from the IdP's clock, in seconds.
    #[arg(long, env = "DEV_IDP_DPOP_SKEW", default_value_t = dev_idp::DEFAULT_DPOP_SKEW.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3_600))]
    dpop_skew: u64,
}

/// `id=…,secret=…,redirect_uri=…[,redirect_uri=…][,post_logout_redirect_uri=…]
/// [,backchannel_logout_uri=…]`, with `jwks_uri=…[,token_endpoint_auth_method=private_key_jwt]`
/// instead of `secret=…` for `private_key_jwt`.
fn parse_client(spec: &str) -> Result<Client, String> {
    let (mut id, mut secret, mut jwks_uri, mut method) = (None, None, None, None);
    let (mut redirect_uris, mut post_logout_redirect_uris) = (Vec::new(), Vec::new());
    let mut backchannel_logout_uri = None;
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not name=value"))?;
        match name.trim() {
            "id" => id = Some(value.to_string()),
            "secret" => secret = Some(value.to_string()),
            "jwks_uri" => {
                url::Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
                jwks_uri = Some(value.to_string());
            }
            "token_endpoint_auth_method" => method = Some(value.to_string()),
            "redirect_uri" | "post_logout_redirect_uri" => {
                url::Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
                if name.trim() == "redirect_uri" {
                    redirect_uris.push(value.to_string());
                } else {
                    post_logout_redirect_uris.push(value.to_string());
                }
            }
            "backchannel_logout_uri" => {
                url::Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
                if backchannel_logout_uri.replace(value.to_string()).is_some() {
                    return Err("the client has more than one backchannel_logout_uri=".into());
                }
            }
            other => return Err(format!("unknown client field `{other}`")),
        }
    }
    let client_id = id
        .filter(|id| !id.is_empty())
        .ok_or("the client has no id=")?;
    let secret = secret.filter(|s| !s.is_empty());
    let client_secret = match (secret, jwks_uri, method.as_deref()) {
        (Some(_), Some(_), _) => {
            return Err(
                "a client has either secret= or jwks_uri= (private_key_jwt), not both".into(),
            )
        }
        (Some(secret), None, None | Some("client_secret_basic" | "client_secret_post")) => {
            ClientSecret::new(secret)
        }
        (None, Some(uri), None | Some("private_key_jwt")) => {
            ClientSecret::private_key_jwt(ClientKeys {
                jwks_uri: Some(uri),
                jwks: None,
            })
        }
        (None, None, Some("private_key_jwt")) => {
            return Err("a private_key_jwt client needs jwks_uri=".into())
        }
        (None, None, _) => return Err("the client has no secret= (or jwks_uri=)".into()),
        (_, _, Some(other)) => {
            return Err(format!(
                "token_endpoint_auth_method `{other}` does not fit the client's credentials"
            ))
        }
    };
    if redirect_uris.is_empty() {
        return Err("the client has no redirect_uri=".into());
    }
    Ok(Client {
        client_id,
        client_secret,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let options = Options {
        address: args.address,
        port: args.port,
        issuer: args.issuer,
        clients: args.clients,
        lifetimes: Lifetimes {
            code: Duration::from_secs(args.code_ttl),
            access_token: Duration::from_secs(args.access_token_ttl),
            refresh_token: Duration::from_secs(args.refresh_token_ttl),
        },
        require_par: args.require_par,
        dpop_nonce: args.dpop_nonce,
        dpop_skew: Duration::from_secs(args.dpop_skew),
        ..Options::default()
    };
    let clients = if options.clients.is_empty() {
        format!(
            "{} (secret {}, redirect URI {}/callback)",
            dev_idp::DEFAULT_CLIENT_ID,
            dev_idp::DEFAULT_CLIENT_SECRET,
            dev_idp::DEFAULT_CLIENT_BASE_URL
        )
    } else {
        let ids: Vec<&str> = options
            .clients
            .iter()
            .map(|c| c.client_id.as_str())
            .collect();
        ids.join(", ")
    };
    let idp = match dev_idp::start(options).await {
        Ok(idp) => idp,
        Err(error) => {
            eprintln!("dev-idp: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::warn!(
        "development identity provider at {} (clients: {clients}; demo accounts alice/alice, \
         bob/bob, carol/carol) - not for production",
        idp.issuer()
    );
    let handle = idp.shutdown_handle();
    tokio::spawn(async move {
        stop_signal().await;
        handle.notify();
    });
    match idp.stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dev-idp: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
