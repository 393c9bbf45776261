//! Who the client is: the socket's peer, unless the peer is a trusted proxy
//! (`TRUSTED_PROXIES`), whose `X-Real-IP` (Rocket's `ip_header`) then names the client. A
//! client's own forwarding headers are never believed.

use std::net::IpAddr;

use rocket::Request;

use crate::config::Settings;

/// The client's address, when the request has a peer.
pub fn client_address(req: &Request<'_>, settings: Option<&Settings>) -> Option<IpAddr> {
    let peer = req.remote().map(|address| address.ip())?;
    let trusted = settings.is_some_and(|settings| {
        (settings.trusted_proxies.iter()).any(|network| network.contains(&peer))
    });
    match trusted {
        true => req.real_ip().or(Some(peer)),
        false => Some(peer),
    }
}

/// The client's address as a request guard (never fails; `None` without a peer).
pub struct ClientAddress(pub Option<IpAddr>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for ClientAddress {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        let settings = req.rocket().state::<Settings>();
        rocket::request::Outcome::Success(ClientAddress(client_address(req, settings)))
    }
}
