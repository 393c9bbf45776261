//! OpenID Connect Back-Channel Logout 1.0 at the development IdP: when one of its sessions ends,
//! every client with a `backchannel_logout_uri` is posted a logout token (§2.5), in the
//! background and with a timeout, so a client that is down never holds up the browser. A
//! failed delivery is logged and not retried.

use openidconnect::reqwest;

use crate::sessions::IdpSession;
use crate::state::IdpState;

/// Tells every client with a back-channel logout URI that `session` ended: one logout token
/// each, with the session's `sid` and the account's `sub`, posted in the background.
pub fn session_ended(idp: &IdpState, session: &IdpSession) {
    let Some(account) = session.account() else {
        return;
    };
    let mut deliveries = Vec::new();
    for client in idp.clients.iter() {
        let Some(uri) = &client.backchannel_logout_uri else {
            continue;
        };
        match idp.key.logout_token(
            &idp.issuer,
            &client.client_id,
            account.subject,
            &session.sid,
        ) {
            Ok(token) => deliveries.push((client.client_id.clone(), uri.clone(), token)),
            Err(error) => {
                tracing::warn!(client_id = %client.client_id, %error, "development IdP: logout token not signed");
            }
        }
    }
    if deliveries.is_empty() {
        return;
    }
    let http = idp.backchannel_http.clone();
    tokio::spawn(async move {
        for (client_id, uri, token) in deliveries {
            deliver(&http, &client_id, &uri, &token).await;
        }
    });
}

/// Posts one logout token (§2.5) and logs how it went; never the token itself.
async fn deliver(http: &reqwest::Client, client_id: &str, uri: &str, token: &str) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    let sent = http
        .post(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            tracing::info!(
                client_id,
                uri,
                "development IdP: back-channel logout delivered"
            );
        }
        Ok(response) => {
            let status = response.status().as_u16();
            tracing::warn!(
                client_id,
                uri,
                status,
                "development IdP: back-channel logout refused by the client"
            );
        }
        Err(error) => {
            tracing::warn!(client_id, uri, %error, "development IdP: back-channel logout not delivered");
        }
    }
}
