//! The development IdP's front channel: discovery, keys, the authorization endpoint with its
//! sign-in form, RP-initiated logout, and the files its pages use. The back channel (token,
//! UserInfo, revocation) is in `back_channel`.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use openidconnect::IssuerUrl;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Cookie, CookieJar, Header, SameSite, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Redirect, Responder};
use rocket::serde::json::Json;
use rocket::{
    catch, catchers, get, post, routes, Catcher, Either, Request, Response, Route, State,
};
use serde_json::Value;

use super::accounts::{self, Account, ACCOUNTS};
use super::authorize::{self, AuthorizationRequest, ErrorResponse, Params, Rejection};
use super::discovery;
use super::grants::{Grants, Lifetimes};
use super::pages;
use super::sessions::{self, IdpSession, IdpSessions};
use super::tokens::{Grant, IssuedWith, SigningKey};

/// Everything the IdP's routes share.
pub struct IdpState {
    pub issuer: IssuerUrl,
    pub client: authorize::RegisteredClient,
    pub key: SigningKey,
    pub sessions: IdpSessions,
    /// Authorization codes and the tokens issued for them.
    pub grants: Grants,
    discovery: Value,
    jwks: Value,
}

impl IdpState {
    pub fn new(
        issuer: &str,
        client: authorize::RegisteredClient,
        key: SigningKey,
        lifetimes: Lifetimes,
    ) -> Result<Self, String> {
        let issuer = IssuerUrl::new(issuer.to_string()).map_err(|e| e.to_string())?;
        let metadata = discovery::metadata(&issuer)?;
        let discovery = serde_json::to_value(&metadata).map_err(|e| e.to_string())?;
        let jwks = serde_json::to_value(key.jwks()).map_err(|e| e.to_string())?;
        Ok(Self {
            issuer,
            client,
            key,
            sessions: IdpSessions::default(),
            grants: Grants::new(lifetimes),
            discovery,
            jwks,
        })
    }

    fn picture_url(&self, account: &Account) -> String {
        format!(
            "{}/avatars/{}.svg",
            self.issuer.as_str().trim_end_matches('/'),
            account.username
        )
    }
}

type Idp = State<Arc<IdpState>>;

pub fn routes() -> Vec<Route> {
    routes![
        home,
        openid_configuration,
        jwks,
        authorize_get,
        authorize_post,
        end_session_get,
        end_session_post,
        asset,
        avatar
    ]
}

pub fn catchers() -> Vec<Catcher> {
    catchers![not_found, other]
}

/// An HTML page and its status.
pub struct Page(Status, String);

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Response::build_from((ContentType::HTML, self.1).respond_to(req)?)
            .status(self.0)
            .ok()
    }
}

#[get("/")]
fn home(idp: &Idp) -> Page {
    Page(
        Status::Ok,
        pages::home(
            idp.issuer.as_str(),
            &idp.client.client_id,
            &idp.client.redirect_uri,
        ),
    )
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
    let request = match authorize::check(&params, &idp.client) {
        Ok(request) => request,
        Err(rejection) => return rejected(idp, rejection),
    };
    let session = jar
        .get(sessions::COOKIE)
        .and_then(|cookie| idp.sessions.get(cookie.value()))
        .filter(|session| recent_enough(session, request.max_age));
    match session {
        Some(session) if !request.prompt.login => respond(idp, &request, &session),
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
    let request = match authorize::check(&params, &idp.client) {
        Ok(request) => request,
        Err(rejection) => return rejected(idp, rejection),
    };
    let field = |name| params.one(name).ok().flatten().unwrap_or_default();
    if field("action") == "cancel" {
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
    if let Some(old) = jar.get(sessions::COOKIE) {
        idp.sessions.end(old.value());
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
    respond(idp, &request, &session)
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
    let grant = Grant {
        account,
        client_id: request.client_id.clone(),
        nonce: request.nonce.clone(),
        scopes: request.scopes.clone(),
        auth_time: session.auth_time,
        sid: session.sid.clone(),
        picture_url: idp.picture_url(account),
    };
    let mut fields = Vec::new();
    let code = match &request.code_challenge {
        Some(challenge) if request.response_type.uses_code() => Some(idp.grants.issue_code(
            grant.clone(),
            &request.redirect_uri,
            challenge,
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

/// RP-Initiated Logout 1.0 by GET.
#[get("/end_session")]
fn end_session_get(uri: &Origin<'_>, jar: &CookieJar<'_>, idp: &Idp) -> Either<Redirect, Page> {
    end_session(
        &Params::parse(uri.query().map(|q| q.as_str()).unwrap_or_default()),
        jar,
        idp,
    )
}

/// RP-Initiated Logout 1.0 by POST (the specification asks for both).
#[post("/end_session", data = "<body>")]
fn end_session_post(body: String, jar: &CookieJar<'_>, idp: &Idp) -> Either<Redirect, Page> {
    end_session(&Params::parse(&body), jar, idp)
}

/// Ends the IdP session and returns to the client, but only to its registered
/// post-logout URI and only when the client is identified; an invalid request changes nothing.
fn end_session(params: &Params, jar: &CookieJar<'_>, idp: &IdpState) -> Either<Redirect, Page> {
    let refuse = |message: String| {
        Either::Right(Page(
            Status::BadRequest,
            pages::error("Logout request refused", &message),
        ))
    };
    let mut values = Vec::new();
    for name in [
        "client_id",
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
    ] {
        match params.one(name) {
            Ok(value) => values.push(value),
            Err(duplicate) => {
                return refuse(format!(
                    "The parameter `{}` was sent more than once.",
                    duplicate.0
                ))
            }
        }
    }
    let [client_id, hint, post_logout_redirect_uri, state] = values[..] else {
        return refuse("The request could not be read.".into());
    };
    if let Some(client_id) = client_id {
        if client_id != idp.client.client_id {
            return refuse(format!("Unknown client_id `{client_id}`."));
        }
    }
    if let Some(hint) = hint {
        if let Err(error) = idp
            .key
            .verify_hint(hint, &idp.issuer, &idp.client.client_id)
        {
            return refuse(format!("The id_token_hint is not acceptable: {error}."));
        }
    }
    let redirect = match post_logout_redirect_uri {
        None => None,
        Some(uri) if uri != idp.client.post_logout_redirect_uri => {
            return refuse(format!(
                "The post_logout_redirect_uri `{uri}` is not registered: only `{}` is.",
                idp.client.post_logout_redirect_uri
            ))
        }
        Some(_) if client_id.is_none() && hint.is_none() => {
            return refuse(
                "A post_logout_redirect_uri needs the client to be named by client_id or id_token_hint."
                    .into(),
            )
        }
        Some(uri) => Some(uri),
    };
    if let Some(cookie) = jar.get(sessions::COOKIE) {
        idp.sessions.end(cookie.value());
    }
    jar.remove(Cookie::build(sessions::COOKIE).path("/"));
    let Some(uri) = redirect else {
        return Either::Right(Page(
            Status::Ok,
            pages::signed_out("You are signed out of the development identity provider."),
        ));
    };
    let Ok(mut url) = url::Url::parse(uri) else {
        return refuse("The post_logout_redirect_uri is not a URL.".into());
    };
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Either::Left(Redirect::to(url.to_string()))
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

/// Refuses a sign-in form posted from another site (login CSRF), as Fetch Metadata tells.
pub struct SameOrigin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SameOrigin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.headers().get_one("Sec-Fetch-Site") {
            Some(site) if !matches!(site, "same-origin" | "none") => {
                Outcome::Error((Status::Forbidden, ()))
            }
            _ => Outcome::Success(SameOrigin),
        }
    }
}

/// Headers on every response of the IdP: no inline script or style, forms only to itself and to
/// the app, no framing, nothing cached (the pages carry tokens).
pub struct SecurityHeaders {
    csp: String,
}

impl SecurityHeaders {
    pub fn new(app_origin: &str) -> Self {
        Self {
            csp: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 form-action 'self' {app_origin}; frame-ancestors 'none'; base-uri 'none'"
            ),
        }
    }
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "development IdP security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, _req: &'r Request<'_>, res: &mut Response<'r>) {
        res.set_header(Header::new("Content-Security-Policy", self.csp.clone()));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("Referrer-Policy", "no-referrer"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        res.set_header(Header::new("Cache-Control", "no-store"));
    }
}
