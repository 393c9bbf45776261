//! End-to-end tests in a real browser: headless Chromium driven over WebDriver (ChromeDriver +
//! fantoccini) through whole login stories, with the app running in this process, against two
//! identity providers in turn:
//!
//! 1. `dev-idp`: the app's built-in development IdP, which the app starts itself when no issuer
//!    is configured (as `cargo run` does), on port 4000;
//! 2. `oidc-provider`: a real, certified OpenID Provider (`tests/e2e/idp/server.js`), also on
//!    port 4000, started once the first IdP's rounds are over.
//!
//! Each story is a test of its own, named `<idp>::<story>` (e.g. `dev_idp::full_story`,
//! `oidc_provider::code_flow`), so `cargo test --test e2e two_tabs` runs the two-tabs story
//! against both IdPs and `cargo test --test e2e oidc_provider::` one IdP's. This binary has its
//! own harness (libtest-mimic): the stories run one at a time (ports 3000 and 4000 are fixed),
//! and the app is started for a "round" (an IdP and a configuration of the app) when the first
//! story of that round runs, then shared by the stories of the round that follow.
//!
//! For each IdP, the login stories (a full story, login after logout, deep link, two tabs,
//! wrong password and cancel) run with `response_type=id_token`, then the app is started again
//! with `response_type=code` for the code-flow stories: tokens on the server, refreshed after
//! they expire, revoked at logout, never in the browser. The stories are written once, against
//! an "IdP driver" (`idp_driver`) that says how each IdP signs in, cancels and logs out.
//! Against oidc-provider, the code-flow story runs once more with the app as a FAPI 2.0 client
//! (`oidc_provider::fapi_code_flow`: a second client there, `private_key_jwt`, PAR required,
//! DPoP-bound tokens and DPoP nonces), and a resource round (`oidc_provider::resource_apis`:
//! remote APIs with RFC 8707 `resource` and `scopes`, each receiving a JWT for its own
//! resource, on a stand-in API that echoes its token, `token_echo`).
//!
//! The app is browsed at http://localhost:3000 and the IdP lives at http://127.0.0.1:4000: two
//! different sites, so the IdP's `form_post` to `/callback` is a cross-site POST, as in
//! production, and the login cookies' `SameSite` settings are really exercised.
//!
//! Needs Debian's `chromium` and `chromium-driver` and the IdP's npm packages; install them with
//! `scripts/install-test-deps.sh`. Set `OIDC_BFF_SKIP_BROWSER_TESTS=1` to skip (every story is
//! then reported as ignored). A code-flow story that the IdP cannot serve (its discovery lacks
//! the code flow or refresh tokens) fails, unless `OIDC_BFF_E2E_ALLOW_UNSUPPORTED=1` is set, in
//! which case it passes without running and says so. Ports 3000 and 4000 must be free.
//!
//! Every step saves a screenshot as `target/e2e-screenshots/<idp>-<scenario>-<nn>-<step>.png`;
//! a failing story also saves `<idp>-<scenario>-failure.png`. Logs of the IdP and ChromeDriver
//! go to `target/e2e-logs/`.

mod app_server;
#[path = "../api/helpers/bff.rs"]
mod bff;
mod browser;
mod harness;
mod idp_driver;
mod page;
mod store;
mod stories;
mod support;
mod token_echo;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use harness::Harness;
use idp_driver::{IdpDriver, DEV_IDP, OIDC_PROVIDER, OIDC_PROVIDER_FAPI};
use libtest_mimic::{Arguments, Trial};
use page::Page;
use stories::code_flow::{code_flow_keeps_tokens_on_the_server, refused_refresh_ends_the_session};
use stories::fapi::fapi_code_flow_pushes_and_binds_tokens;
use stories::gateway::remote_api_and_step_up;
use stories::login::{
    choosing_a_provider_logs_in_there, deep_link_returns_to_the_page, full_story,
    login_after_logout_asks_for_credentials, session_endpoint_and_silent_login,
    strict_session_cookie_logs_in_on_the_first_page, the_page_warns_before_the_session_ends,
    two_tabs_log_in_at_once, wrong_password_then_cancel,
};
use stories::resource_apis::each_api_gets_a_token_for_its_own_resource;

/// The access token lifetime oidc-provider is started with, so the code-flow story sees a
/// refresh within seconds (`ACCESS_TOKEN_TTL`; the id_token stories get no access token).
const ACCESS_TOKEN_TTL_SECS: i64 = 5;

/// Set to skip every story (reported as ignored).
const SKIP_VAR: &str = "OIDC_BFF_SKIP_BROWSER_TESTS";
/// Set to let a code-flow story pass, without running, against an IdP that cannot serve it.
const ALLOW_UNSUPPORTED_VAR: &str = "OIDC_BFF_E2E_ALLOW_UNSUPPORTED";

type Scenario = fn(Page) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The login stories, run in this order against each IdP, each in a fresh browser profile.
const LOGIN_STORIES: &[(&str, Scenario)] = &[
    ("full-story", |p| Box::pin(full_story(p))),
    ("login-after-logout", |p| {
        Box::pin(login_after_logout_asks_for_credentials(p))
    }),
    ("deep-link", |p| Box::pin(deep_link_returns_to_the_page(p))),
    ("two-tabs", |p| Box::pin(two_tabs_log_in_at_once(p))),
    ("wrong-password-and-cancel", |p| {
        Box::pin(wrong_password_then_cancel(p))
    }),
    ("session-and-silent-login", |p| {
        Box::pin(session_endpoint_and_silent_login(p))
    }),
];

/// The code-flow story, against an app started with `response_type=code`.
const CODE_FLOW_STORIES: &[(&str, Scenario)] = &[
    ("code-flow", |p| {
        Box::pin(code_flow_keeps_tokens_on_the_server(p))
    }),
    ("refused-refresh", |p| {
        Box::pin(refused_refresh_ends_the_session(p))
    }),
];

/// The code-flow story with the app as a FAPI 2.0 client (`AppMode::Fapi`), against
/// oidc-provider's second client.
const FAPI_STORIES: &[(&str, Scenario)] = &[("fapi-code-flow", |p| {
    Box::pin(fapi_code_flow_pushes_and_binds_tokens(p))
})];

/// The gateway stories: the start page's remote API buttons call the development IdP's demo
/// API through `/api/demo/…` (only the built-in IdP has it), including a step-up sign-in.
const DEV_IDP_GATEWAY_STORIES: &[(&str, Scenario)] = &[("remote-api-and-step-up", |p| {
    Box::pin(remote_api_and_step_up(p))
})];

/// Each API its own token (RFC 8707): against oidc-provider's JWT access tokens per resource.
const RESOURCE_STORIES: &[(&str, Scenario)] = &[("resource-apis", |p| {
    Box::pin(each_api_gets_a_token_for_its_own_resource(p))
})];

/// The stories of an app whose sessions end after 65 s without a request.
const SHORT_SESSION_STORIES: &[(&str, Scenario)] = &[("session-warning", |p| {
    Box::pin(the_page_warns_before_the_session_ends(p))
})];

/// The stories of an app with two identity providers.
const TWO_PROVIDER_STORIES: &[(&str, Scenario)] = &[("choose-a-provider", |p| {
    Box::pin(choosing_a_provider_logs_in_there(p))
})];

/// The stories of an app whose session cookie is `SameSite=Strict` (`SESSION_SAMESITE`).
const STRICT_SAME_SITE_STORIES: &[(&str, Scenario)] = &[
    ("strict-same-site", |p| {
        Box::pin(strict_session_cookie_logs_in_on_the_first_page(p))
    }),
    ("strict-same-site-deep-link", |p| {
        Box::pin(deep_link_returns_to_the_page(p))
    }),
];

/// How the app is configured for a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppMode {
    IdToken,
    /// `id_token` with `SESSION_SAMESITE=strict`.
    StrictSameSite,
    /// `id_token` with a 65 s idle timeout.
    ShortSession,
    /// `response_type=code` with the IdP driver's client secret.
    Code {
        refresh_margin_secs: u64,
    },
    /// `response_type=code` as a FAPI 2.0 client: `private_key_jwt` with the driver's key (no
    /// secret), `PAR=always`, `DPOP=true`.
    Fapi {
        refresh_margin_secs: u64,
    },
    /// `response_type=code` with remote APIs that have a `resource` (and `scopes`), on a
    /// stand-in API that echoes the token it gets (`token_echo`).
    ResourceApis,
    /// `id_token` with a second development IdP as the provider `dev-b`.
    TwoProviders,
}

impl AppMode {
    fn needs_code_flow(self) -> bool {
        matches!(
            self,
            AppMode::Code { .. } | AppMode::Fapi { .. } | AppMode::ResourceApis
        )
    }
}

/// One app configuration against one IdP, and the stories run against it, in this order.
struct Round {
    idp: &'static IdpDriver,
    mode: AppMode,
    stories: &'static [(&'static str, Scenario)],
}

/// Every round, in the order they run: the development IdP's, then oidc-provider's (which
/// needs port 4000 after the development IdP has left it).
fn rounds() -> Vec<Round> {
    vec![
        Round {
            idp: &DEV_IDP,
            mode: AppMode::IdToken,
            stories: LOGIN_STORIES,
        },
        // No waiting for its access tokens to expire (the oidc-provider round does that): a
        // refresh margin longer than any lifetime makes every upstream call refresh.
        Round {
            idp: &DEV_IDP,
            mode: AppMode::Code {
                refresh_margin_secs: 10 * 365 * 24 * 3600,
            },
            stories: CODE_FLOW_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::Code {
                refresh_margin_secs: 10 * 365 * 24 * 3600,
            },
            stories: DEV_IDP_GATEWAY_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::StrictSameSite,
            stories: STRICT_SAME_SITE_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::ShortSession,
            stories: SHORT_SESSION_STORIES,
        },
        Round {
            idp: &DEV_IDP,
            mode: AppMode::TwoProviders,
            stories: TWO_PROVIDER_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::IdToken,
            stories: LOGIN_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::ShortSession,
            stories: SHORT_SESSION_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::Code {
                refresh_margin_secs: 1,
            },
            stories: CODE_FLOW_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::ResourceApis,
            stories: RESOURCE_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER,
            mode: AppMode::TwoProviders,
            stories: TWO_PROVIDER_STORIES,
        },
        Round {
            idp: &OIDC_PROVIDER_FAPI,
            mode: AppMode::Fapi {
                refresh_margin_secs: 1,
            },
            stories: FAPI_STORIES,
        },
    ]
}

/// A story's test name: `dev_idp::full_story`, `oidc_provider::fapi_code_flow`.
fn trial_name(idp: &IdpDriver, story: &str) -> String {
    // The FAPI client is oidc-provider's second client: its stories are oidc-provider's.
    let idp = if idp.built_in {
        "dev_idp"
    } else {
        "oidc_provider"
    };
    format!("{idp}::{}", story.replace('-', "_"))
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // Ports 3000 and 4000 are fixed: one story at a time.
    args.test_threads = Some(1);
    let skip = std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    if skip && !args.list {
        eprintln!("browser end-to-end tests skipped ({SKIP_VAR} is set): every story is ignored");
    }
    let harness = Arc::new(Mutex::new(Harness::default()));
    let mut trials = Vec::new();
    for round in rounds() {
        for &(story, scenario) in round.stories {
            let harness = harness.clone();
            let (idp, mode) = (round.idp, round.mode);
            let trial = Trial::test(trial_name(idp, story), move || {
                let mut harness = harness.lock().unwrap_or_else(|e| e.into_inner());
                harness.run_story(idp, mode, story, scenario)
            });
            trials.push(trial.with_ignored_flag(skip));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    let harness = std::mem::take(&mut *harness.lock().unwrap_or_else(|e| e.into_inner()));
    harness.finish();
    conclusion.exit_code()
}
