//! The two identity providers the browser stories run against, described as data (an "IdP
//! driver": where its sign-in page is, its element ids, its accounts, how it logs out), and the
//! few back-channel calls a test makes to an IdP itself (discovery, introspection, a refresh).

use serde_json::{json, Value};
use url::Url;

use crate::support::{http_client, http_get, package_root, send, HttpAnswer};

/// A demo account at an IdP.
pub struct Account {
    pub username: &'static str,
    pub password: &'static str,
    /// The `name` claim, which the app shows.
    pub name: &'static str,
    pub email: &'static str,
    pub sub: &'static str,
}

/// An IdP's logout confirmation page (RP-Initiated Logout lets the IdP ask first).
pub struct LogoutConfirmation {
    /// Path of the page at the IdP.
    pub path: &'static str,
    /// The button that confirms, and its text.
    pub button: &'static str,
    pub text: &'static str,
}

/// How a browser story deals with one IdP.
pub struct IdpDriver {
    /// Prefix of screenshots and scenario names: `<name>-<scenario>`.
    pub name: &'static str,
    /// Started by the app itself (no issuer configured) rather than as a process of its own.
    pub built_in: bool,
    /// The app's client at this IdP (the code-flow stories call the IdP with it).
    pub client_id: &'static str,
    pub client_secret: &'static str,
    /// `Some(path of a PEM key under the package root)`: the client authenticates with
    /// `private_key_jwt` and this key, and has no secret.
    pub client_key: Option<&'static str>,
    /// The client's tokens are DPoP-bound: its token requests carry a proof.
    pub dpop: bool,
    /// Path prefix of the sign-in page (also of the page shown again after a wrong password).
    pub sign_in_path: &'static str,
    pub sign_in_title: &'static str,
    pub username_field: &'static str,
    pub password_field: &'static str,
    pub submit: &'static str,
    pub cancel: &'static str,
    /// The element showing a failed sign-in, and what it says.
    pub sign_in_error: &'static str,
    pub wrong_password_message: &'static str,
    /// `None`: the IdP logs out and returns to the app without asking. The stories accept
    /// either way, but this says which one to expect.
    pub logout_confirmation: Option<LogoutConfirmation>,
    pub alice: Account,
    pub bob: Account,
}

/// `oidc-provider` from `tests/e2e/idp/server.js` (see its README).
pub const OIDC_PROVIDER: IdpDriver = IdpDriver {
    name: "oidc-provider",
    built_in: false,
    client_id: "oidc-bff",
    client_secret: "oidc-bff-secret",
    client_key: None,
    dpop: false,
    sign_in_path: "/interaction/",
    sign_in_title: "Sign in - Test IdP",
    username_field: "#login",
    password_field: "#password",
    submit: "#submit",
    cancel: "#cancel",
    sign_in_error: "#error",
    wrong_password_message: "Invalid username or password.",
    logout_confirmation: Some(LogoutConfirmation {
        path: "/session/end",
        button: "#logout-confirm",
        text: "Yes, sign me out",
    }),
    alice: Account {
        username: "alice",
        password: "alice-password",
        name: "Alice Liddell",
        email: "alice@example.com",
        sub: "alice",
    },
    bob: Account {
        username: "bob",
        password: "bob-password",
        name: "Bob Builder",
        email: "bob@example.com",
        sub: "bob",
    },
};

/// The same `oidc-provider`, with the app as its FAPI 2.0 client (`FAPI_CLIENT_ID` in
/// server.js): `private_key_jwt` with the app's key, pushed authorization requests required,
/// DPoP-bound access tokens. Same pages, accounts and round name.
pub const OIDC_PROVIDER_FAPI: IdpDriver = IdpDriver {
    client_id: "oidc-bff-fapi",
    client_secret: "",
    client_key: Some(FAPI_CLIENT_KEY),
    dpop: true,
    ..OIDC_PROVIDER
};

/// The FAPI client's private key (P-256, ES256), under the package root.
pub const FAPI_CLIENT_KEY: &str = "tests/support/keys/ec-a.pem";

/// The app's development IdP (the `dev-idp` crate, started when no issuer is configured).
pub const DEV_IDP: IdpDriver = IdpDriver {
    name: "dev-idp",
    built_in: true,
    // Its default client id (`dev_idp::DEFAULT_CLIENT_ID`): the stories leave the
    // app's client id unset, as `cargo run` does.
    client_id: "oidc-bff-dev",
    // Set as the app's `oidc.client_secret` for the code flow; the development IdP registers
    // the app with the app's own settings.
    client_secret: "oidc-bff-secret",
    client_key: None,
    dpop: false,
    sign_in_path: "/authorize",
    sign_in_title: "Sign in · Development IdP",
    username_field: "#username",
    password_field: "#password",
    submit: "#sign-in",
    cancel: "#cancel",
    sign_in_error: "#error",
    wrong_password_message: "Wrong username or password.",
    logout_confirmation: None,
    alice: Account {
        username: "alice",
        password: "alice",
        name: "Alice Liddell",
        email: "alice@example.com",
        sub: "dev-7f3a1c2e-alice",
    },
    bob: Account {
        username: "bob",
        password: "bob",
        name: "Bob Builder",
        email: "bob@example.com",
        sub: "dev-5b9e0d41-bob",
    },
};

/// An IdP's discovery document, fetched by the test (not by the app).
#[derive(Clone, Debug)]
pub struct Discovery {
    pub document: Value,
}

impl Discovery {
    pub async fn fetch(port: u16) -> Result<Self, String> {
        let path = "/.well-known/openid-configuration";
        let (status, body) = http_get(port, &format!("127.0.0.1:{port}"), path)
            .await
            .map_err(|e| format!("GET {path} on port {port}: {e}"))?;
        if status != 200 {
            return Err(format!("GET {path} on port {port} answered {status}"));
        }
        let document =
            serde_json::from_str(&body).map_err(|e| format!("discovery is not JSON: {e}"))?;
        Ok(Self { document })
    }

    pub fn endpoint(&self, name: &str) -> Option<Url> {
        self.document
            .get(name)
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
    }

    fn lists(&self, field: &str, value: &str) -> bool {
        self.document
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|i| i.as_str() == Some(value)))
    }

    /// Whether the IdP can do what the code-flow story needs: `response_type=code`, a token
    /// endpoint and refresh tokens (RFC 8414 defaults `grant_types_supported` to
    /// `authorization_code` and `implicit` only).
    pub fn supports_code_flow_with_refresh(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if self.endpoint("token_endpoint").is_none() {
            missing.push("no token_endpoint");
        }
        if !self.lists("response_types_supported", "code") {
            missing.push("no \"code\" in response_types_supported");
        }
        if !self.lists("grant_types_supported", "refresh_token") {
            missing.push("no \"refresh_token\" in grant_types_supported");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join(", "))
        }
    }

    /// POSTs a form to the endpoint named `name` in discovery, authenticated as the client
    /// (`client_secret_basic`, or `private_key_jwt` when the driver has a key), and returns
    /// the status and the JSON answer.
    pub async fn post_as_client(
        &self,
        name: &str,
        idp: &IdpDriver,
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let answer = self.post_as_client_with(name, idp, &[], form).await?;
        let json = serde_json::from_str(&answer.body).unwrap_or(Value::String(answer.body));
        Ok((answer.status, json))
    }

    /// [`Self::post_as_client`] with more headers, answering the whole HTTP answer.
    async fn post_as_client_with(
        &self,
        name: &str,
        idp: &IdpDriver,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<HttpAnswer, String> {
        let url = self
            .endpoint(name)
            .ok_or_else(|| format!("discovery has no {name}"))?;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let assertion;
        let basic = match idp.client_key {
            Some(key) => {
                assertion = self.client_assertion(idp.client_id, key)?;
                fields.extend([
                    ("client_id", idp.client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ]);
                None
            }
            None => Some((idp.client_id, idp.client_secret)),
        };
        let mut request = http_client()
            .post(url.clone())
            .header("accept", "application/json")
            .form(&fields);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await.map_err(|e| format!("POST {url}: {e}"))
    }

    /// A `private_key_jwt` client assertion (RFC 7523) for the issuer, signed with the PEM key
    /// at `key` (under the package root), made here rather than by the app.
    fn client_assertion(&self, client_id: &str, key: &str) -> Result<String, String> {
        let path = package_root().join(key);
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let key = crate::bff::SigningKey::from_pem(&pem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let issuer = self
            .document
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or("discovery has no issuer")?;
        let now = crate::support::unix_now();
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": issuer,
            "jti": crate::bff::random_token(),
            "iat": now,
            "exp": now + 60,
        });
        let alg = key.algorithms()[0];
        key.sign(
            alg,
            json!({ "typ": "JWT", "kid": key.thumbprint() }),
            &claims,
        )
        .map_err(|e| format!("client assertion not signed: {e}"))
    }

    /// RFC 7662 introspection: `Some(the JSON answer)`, or `None` when the IdP has no such
    /// endpoint.
    pub async fn introspect(
        &self,
        idp: &IdpDriver,
        token: &str,
        hint: &str,
    ) -> Option<Result<Value, String>> {
        self.endpoint("introspection_endpoint")?;
        let answer = self
            .post_as_client(
                "introspection_endpoint",
                idp,
                &[("token", token), ("token_type_hint", hint)],
            )
            .await;
        Some(answer.and_then(|(status, json)| match json.get("active") {
            Some(Value::Bool(_)) if status == 200 => Ok(json),
            _ => Err(format!("introspection answered {status}: {json}")),
        }))
    }

    /// UserInfo called by the test with `authorization` (e.g. `Bearer <token>`) and no DPoP
    /// proof: the status and the `WWW-Authenticate` header.
    pub async fn userinfo_without_proof(
        &self,
        authorization: &str,
    ) -> Result<(u16, String), String> {
        let url = self
            .endpoint("userinfo_endpoint")
            .ok_or("discovery has no userinfo_endpoint")?;
        let request = http_client()
            .get(url.clone())
            .header("accept", "application/json")
            .header("authorization", authorization);
        let answer = send(request).await.map_err(|e| format!("GET {url}: {e}"))?;
        let challenge = answer.header("www-authenticate").unwrap_or_default();
        Ok((answer.status, challenge.to_string()))
    }

    /// RFC 7662 introspection: `Some(active)`, or `None` when the IdP has no such endpoint.
    pub async fn token_is_active(
        &self,
        idp: &IdpDriver,
        token: &str,
        hint: &str,
    ) -> Option<Result<bool, String>> {
        let answer = self.introspect(idp, token, hint).await?;
        Some(answer.map(|json| json["active"] == Value::Bool(true)))
    }

    /// A `refresh_token` grant at the token endpoint: the status and the JSON answer (which,
    /// on success, holds new tokens). For a DPoP client, with a proof by a key of the test's
    /// own (the IdP binds a confidential client's refresh token to no key), repeated once with
    /// the IdP's nonce when it asks for one.
    pub async fn refresh_grant(
        &self,
        idp: &IdpDriver,
        refresh_token: &str,
    ) -> Result<(u16, Value), String> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let key = if idp.dpop {
            Some(crate::bff::DpopKey::generate().map_err(|e| e.to_string())?)
        } else {
            None
        };
        let endpoint = self
            .endpoint("token_endpoint")
            .ok_or("discovery has no token_endpoint")?;
        let mut nonce: Option<String> = None;
        for attempt in 0..2 {
            let proof = match &key {
                Some(key) => Some(
                    key.proof("POST", &endpoint, None, nonce.as_deref())
                        .map_err(|e| format!("DPoP proof not signed: {e}"))?,
                ),
                None => None,
            };
            let headers: Vec<(&str, &str)> = proof.iter().map(|p| ("DPoP", p.as_str())).collect();
            let answer = self
                .post_as_client_with("token_endpoint", idp, &headers, &form)
                .await?;
            let json: Value =
                serde_json::from_str(&answer.body).unwrap_or(Value::String(answer.body.clone()));
            let new_nonce = answer.header("dpop-nonce").map(str::to_string);
            if attempt == 0
                && key.is_some()
                && json["error"] == "use_dpop_nonce"
                && new_nonce.is_some()
            {
                nonce = new_nonce;
                continue;
            }
            return Ok((answer.status, json));
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// RFC 7009 revocation, behind the app's back; `Err` unless the IdP answers 200.
    pub async fn revoke(&self, idp: &IdpDriver, token: &str, hint: &str) -> Result<(), String> {
        match self
            .post_as_client(
                "revocation_endpoint",
                idp,
                &[("token", token), ("token_type_hint", hint)],
            )
            .await?
        {
            (200, _) => Ok(()),
            (status, answer) => Err(format!("revocation answered {status}: {answer}")),
        }
    }
}
