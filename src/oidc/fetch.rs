//! Fetching the IdP's JSON documents (discovery, key set): timeouts, no redirects, size limits,
//! and errors that say whether the IdP is down or answered something unusable.

use std::time::Duration;

use openidconnect::reqwest;
use url::Url;

/// Discovery documents and key sets larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why the identity provider could not be used: unreachable, or its answer was unusable.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// No answer, a timeout or a 5xx: worth retrying later (503).
    #[error("the identity provider could not be reached ({0})")]
    Unreachable(String),
    /// An answer that cannot be used as it is (502).
    #[error("the identity provider answered with something unusable ({0})")]
    BadResponse(String),
    /// Discovery names another issuer than the configured one.
    #[error("the identity provider's discovery document names issuer `{found}`, but this app is configured for `{configured}`: set ISSUER_BASE_URL to the issuer exactly")]
    IssuerMismatch {
        /// `ISSUER_BASE_URL` as configured.
        configured: String,
        /// The `issuer` of the discovery document.
        found: String,
    },
}

/// The HTTP client for every call to the IdP, with the configured timeouts.
pub(super) fn client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        // Discovery and keys must come from the issuer's own URLs, not wherever it redirects.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::Unreachable(e.to_string()))
}

/// GETs a JSON document; also returns the server's `Date` (Unix seconds) when it sent one.
pub(super) async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
) -> Result<(T, Option<i64>), ProviderError> {
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| ProviderError::Unreachable(describe(&e, &url)))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(ProviderError::Unreachable(format!(
            "{url} answered {status}"
        )));
    }
    if !status.is_success() {
        return Err(ProviderError::BadResponse(format!(
            "{url} answered {status}"
        )));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(ProviderError::BadResponse(format!("{url} is too large")));
    }
    let date = response
        .headers()
        .get("date")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_http_date);
    let body = response
        .bytes()
        .await
        .map_err(|e| ProviderError::Unreachable(describe(&e, &url)))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ProviderError::BadResponse(format!("{url} is too large")));
    }
    let value = serde_json::from_slice(&body)
        .map_err(|e| ProviderError::BadResponse(format!("{url} is not valid: {e}")))?;
    Ok((value, date))
}

/// An HTTP `Date` (RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`) in Unix seconds.
fn parse_http_date(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn describe(error: &reqwest::Error, url: &Url) -> String {
    if error.is_timeout() {
        format!("{url} timed out")
    } else if error.is_connect() {
        format!("cannot connect to {url}")
    } else {
        format!("{url}: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_parsed() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
