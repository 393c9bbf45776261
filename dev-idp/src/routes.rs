//! The development IdP's front channel: discovery, keys, the authorization endpoint with its
//! sign-in form, and the files its pages use. RP-initiated logout is in `logout`, the back
//! channel (token, UserInfo, revocation) in `token_endpoints`.

use chrono::{TimeDelta, Utc};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Cookie, CookieJar, SameSite, Status};
use rocket::serde::json::Json;
use rocket::{catch, catchers, get, post, routes, Catcher, Request, Route};
use serde_json::Value;

use crate::accounts::{self, ACCOUNTS};
use crate::authorize::{self, AuthorizationRequest, ErrorResponse, Rejection};
use crate::http::{Page, SameOrigin};
use crate::logout;
use crate::pages;
use crate::params::Params;
use crate::sessions::{self, IdpSession};
use crate::signing::{Grant, IssuedWith};
use crate::state::{Idp, IdpState};

pub fn routes() -> Vec<Route> {
    routes![
        home,
        openid_configuration,
        jwks,
        authorize_get,
        authorize_post,
        logout::end_session_get,
        logout::end_session_post,
        asset,
        avatar
    ]
}

pub fn catchers() -> Vec<Catcher> {
    catchers![not_found, other]
}

#[get("/")]
fn home(idp: &Idp) -> Page {
    Page(Status::Ok, pages::home(idp.issuer.as_str(), &idp.clients))
}

#[get("/.well-known/openid-configuration")]
fn openid_configuration(idp: &Idp) -> Json<Value> {
    Json(idp.discovery.clone())
}

#[get("/jwks")]
fn jwks(idp: &Idp) -> Json<Value> {
    Json(idp.jwks.clone())
}

/// The authentication request by GET (Core 3.1.2.1).
#[get("/authorize")]
fn authorize_get(uri: &Origin<'_>, jar: &CookieJar<'_>, idp: &Idp) -> Page {
    let params = Params::parse(uri.query().map(|q| q.as_str()).unwrap_or_default());
    let request = match checked(idp, params, false) {
        Ok(request) => request,
        Err(rejection) => return rejected(idp, rejection),
    };
    let session = jar
        .get(sessions::COOKIE)
        .and_then(|cookie| idp.sessions.get(cookie.value()))
        .filter(|session| recent_enough(session, request.max_age));
    match session {
        Some(session) if !request.prompt.login => {
            if request.wants_second_factor() && !session.second_factor {
                if request.prompt.none {
                    return rejected(
                        idp,
                        Rejection::ToClient(ErrorResponse::new(
                            &request.redirect_uri,
                            request.state.as_deref(),
                            "interaction_required",
                            "prompt=none was requested, but acr_values asks for the second factor.",
                        )),
                    );
                }
                return Page(Status::Ok, pages::second_factor(&request, None));
            }
            respond(idp, &request, &session)
        }
        _ if request.prompt.none => rejected(
            idp,
            Rejection::ToClient(ErrorResponse::new(
                &request.redirect_uri,
                request.state.as_deref(),
                "login_required",
                "prompt=none was requested, but nobody is signed in at the development IdP.",
            )),
        ),
        _ => {
            let username = request.login_hint.clone().unwrap_or_default();
            Page(Status::Ok, pages::sign_in(&request, &username, None))
        }
    }
}

/// The sign-in form: the same authentication request again, with the credentials or a cancel.
#[post("/authorize", data = "<body>")]
fn authorize_post(_from_us: SameOrigin, body: String, jar: &CookieJar<'_>, idp: &Idp) -> Page {
    let params = Params::parse(&body);
    let request = match checked(idp, Params::parse(&body), true) {
        Ok(request) => request,
        Err(rejection) => return rejected(idp, rejection),
    };
    let field = |name| params.one(name).ok().flatten().unwrap_or_default();
    if field("action") == "cancel" {
        if let Some(handle) = &request.pushed {
            idp.par.finish(handle);
        }
        return rejected(
            idp,
            Rejection::ToClient(ErrorResponse::new(
                &request.redirect_uri,
                request.state.as_deref(),
                "access_denied",
                "The user cancelled the sign-in.",
            )),
        );
    }
    if field("action") == "second_factor" {
        return second_factor(idp, &request, jar, field("one_time_code"));
    }
    let username = field("username");
    let Some(account) = accounts::authenticate(username, field("password")) else {
        tracing::debug!("development IdP: wrong username or password");
        return Page(
            Status::Ok,
            pages::sign_in(
                &request,
                username,
                Some("Wrong username or password. The demo accounts and their passwords are listed below."),
            ),
        );
    };
    // Signing in again replaces the browser's IdP session: the old one ends for its clients.
    if let Some(old) = jar.get(sessions::COOKIE) {
        if let Some(ended) = idp.sessions.end(old.value()) {
            crate::backchannel_logout::session_ended(idp, &ended);
        }
    }
    let (cookie, session) = idp.sessions.start(account);
    jar.add(
        Cookie::build((sessions::COOKIE, cookie))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(rocket::time::Duration::seconds(
                sessions::LIFETIME.as_secs() as i64,
            ))
            .build(),
    );
    if request.wants_second_factor() {
        return Page(Status::Ok, pages::second_factor(&request, None));
    }
    respond(idp, &request, &session)
}

/// The request's parameters, from the pushed request its `request_uri` names if it has one
/// (RFC 9126 §4), checked. `form`: they come from the IdP's own sign-in form.
fn checked(idp: &IdpState, params: Params, form: bool) -> Result<AuthorizationRequest, Rejection> {
    let (params, pushed) = idp.par.resolve(params, form)?;
    let mut request = authorize::check(&params, &idp.clients)?;
    request.pushed = pushed;
    Ok(request)
}

/// The second step of a sign-in that asked for `acr=mfa`: the one-time code, within the IdP
/// session the password started.
fn second_factor(
    idp: &IdpState,
    request: &AuthorizationRequest,
    jar: &CookieJar<'_>,
    code: &str,
) -> Page {
    let Some(cookie) = jar.get(sessions::COOKIE).map(|c| c.value().to_string()) else {
        return Page(Status::Ok, pages::sign_in(request, "", None));
    };
    if idp.sessions.get(&cookie).is_none() {
        return Page(Status::Ok, pages::sign_in(request, "", None));
    }
    if !accounts::second_factor_matches(code) {
        tracing::debug!("development IdP: wrong one-time code");
        return Page(
            Status::Ok,
            pages::second_factor(request, Some("Wrong code. The demo code is shown below.")),
        );
    }
    match idp.sessions.add_second_factor(&cookie) {
        Some(session) => respond(idp, request, &session),
        None => Page(Status::Ok, pages::sign_in(request, "", None)),
    }
}

/// `max_age` (Core 3.1.2.1): an older sign-in must be repeated.
fn recent_enough(session: &IdpSession, max_age: Option<u64>) -> bool {
    max_age.is_none_or(|max_age| {
        let max_age = TimeDelta::seconds(i64::try_from(max_age).unwrap_or(i64::MAX / 1000));
        Utc::now() - session.auth_time <= max_age
    })
}

/// The successful authentication response (form_post), for the session's account: an ID
/// token, a one-time code, or both (the ID token then carries the code's `c_hash`).
fn respond(idp: &IdpState, request: &AuthorizationRequest, session: &IdpSession) -> Page {
    let Some(account) = session.account() else {
        return Page(Status::Ok, pages::sign_in(request, "", None));
    };
    // The sign-in of a pushed request ends here: its form cannot be posted again.
    if let Some(handle) = &request.pushed {
        idp.par.finish(handle);
    }
    let grant = Grant {
        account,
        client_id: request.client_id.clone(),
        nonce: request.nonce.clone(),
        scopes: request.scopes.clone(),
        auth_time: session.auth_time,
        sid: session.sid.clone(),
        acr: session.acr(),
        amr: session.amr(),
        picture_url: idp.picture_url(account),
    };
    let mut fields = Vec::new();
    let code = match &request.code_challenge {
        Some(challenge) if request.response_type.uses_code() => Some(idp.grants.issue_bound_code(
            grant.clone(),
            &request.redirect_uri,
            challenge,
            request.dpop_jkt.as_deref(),
            |grant, access_token| {
                // Core 3.1.3.3: the token endpoint's ID token, with `at_hash`.
                let with = IssuedWith {
                    access_token: Some(access_token),
                    ..IssuedWith::default()
                };
                idp.key.id_token(&idp.issuer, grant, with).ok()
            },
        )),
        _ => None,
    };
    if let Some(code) = &code {
        fields.push(("code", code.clone()));
    }
    if request.response_type.front_channel_id_token() {
        let with = IssuedWith {
            code: code.as_deref(),
            ..IssuedWith::default()
        };
        match idp.key.id_token(&idp.issuer, &grant, with) {
            Ok(id_token) => fields.push(("id_token", id_token)),
            Err(error) => {
                tracing::error!(%error, "development IdP could not mint an ID token");
                return rejected(
                    idp,
                    Rejection::ToClient(ErrorResponse::new(
                        &request.redirect_uri,
                        request.state.as_deref(),
                        "server_error",
                        "The development IdP could not sign the ID token.",
                    )),
                );
            }
        }
    }
    if let Some(state) = &request.state {
        fields.push(("state", state.clone()));
    }
    fields.push(("iss", idp.issuer.to_string()));
    Page(Status::Ok, pages::form_post(&request.redirect_uri, &fields))
}

/// A refused request: a page at the IdP, or an error response posted back to the client.
fn rejected(idp: &IdpState, rejection: Rejection) -> Page {
    match rejection {
        Rejection::AtIdp { message } => Page(
            Status::BadRequest,
            pages::error("Invalid authorization request", &message),
        ),
        Rejection::ToClient(response) => {
            let mut fields = vec![
                ("error", response.error.to_string()),
                ("error_description", response.description),
            ];
            if let Some(state) = response.state {
                fields.push(("state", state));
            }
            fields.push(("iss", idp.issuer.to_string()));
            Page(
                Status::Ok,
                pages::form_post(&response.redirect_uri, &fields),
            )
        }
    }
}

#[get("/assets/<name>")]
fn asset(name: &str) -> Option<(ContentType, &'static str)> {
    match name {
        "style.css" => Some((ContentType::CSS, include_str!("assets/style.css"))),
        "form_post.js" => Some((ContentType::JavaScript, include_str!("assets/form_post.js"))),
        "sign_in.js" => Some((ContentType::JavaScript, include_str!("assets/sign_in.js"))),
        _ => None,
    }
}

/// The accounts' pictures (the `picture` claim), generated: nothing comes from the internet.
#[get("/avatars/<file>")]
fn avatar(file: &str) -> Option<(ContentType, String)> {
    let username = file.strip_suffix(".svg")?;
    let account = ACCOUNTS.iter().find(|a| a.username == username)?;
    Some((ContentType::SVG, account.avatar_svg()))
}

#[catch(404)]
fn not_found(req: &Request<'_>) -> Page {
    Page(
        Status::NotFound,
        pages::error(
            "Not found",
            &format!("The development IdP has nothing at {}.", req.uri().path()),
        ),
    )
}

#[catch(default)]
fn other(status: Status, _req: &Request<'_>) -> Page {
    Page(
        status,
        pages::error(
            "Request failed",
            status.reason().unwrap_or("The request failed."),
        ),
    )
}
