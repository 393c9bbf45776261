//! Prometheus metrics (OpenMetrics text), served on their own listener when `METRICS_ADDRESS`
//! is set (see [`server`]), never on the public port.
//!
//! One process-wide set, so every layer records where the event happens without threading a
//! handle through each call. Nothing is recorded until the listener is enabled, so an app
//! without metrics pays one relaxed atomic load per event. Every label value comes from a
//! fixed list in the code (route templates, outcomes, reasons, configured API names), never
//! from the request or the user.

pub mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Whether events are recorded (set once the metrics listener is configured).
static ENABLED: AtomicBool = AtomicBool::new(false);

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A duration histogram: 1 ms … ~16 s in powers of two.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// A family of duration histograms, one per label set.
fn histograms<L: Clone + std::hash::Hash + Eq>() -> Histograms<L> {
    Histograms::new_with_constructor(seconds_histogram as fn() -> Histogram)
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    api: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

/// Every metric of the app, registered once.
struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabel>,
    logins: Family<LoginLabels, Counter>,
    login_duration: Histogram,
    jwks_fetches: Family<CauseLabels, Counter>,
    discovery_refreshes: Family<OutcomeLabel, Counter>,
    token_refreshes: Family<OutcomeLabel, Counter>,
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_duration: Histograms<ApiLabel>,
    store_operations: Family<StoreLabels, Counter>,
    store_duration: Histograms<OperationLabel>,
    backchannel_logouts: Family<OutcomeLabel, Counter>,
    ended_sessions_bound: Family<OutcomeLabel, Counter>,
    provider_logins: Family<ProviderLabel, Counter>,
    csrf_refusals: Family<RouteLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("oidc_bff"),
            http_requests: Family::default(),
            http_duration: histograms(),
            logins: Family::default(),
            login_duration: seconds_histogram(),
            jwks_fetches: Family::default(),
            discovery_refreshes: Family::default(),
            token_refreshes: Family::default(),
            upstream_calls: Family::default(),
            upstream_duration: histograms(),
            store_operations: Family::default(),
            store_duration: histograms(),
            backchannel_logouts: Family::default(),
            ended_sessions_bound: Family::default(),
            provider_logins: Family::default(),
            csrf_refusals: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "http_requests",
            "HTTP requests by route template, method and status class",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            m.http_duration.clone(),
        );
        r.register(
            "logins",
            "Completed logins (callbacks) by outcome and reason",
            m.logins.clone(),
        );
        r.register(
            "login_duration_seconds",
            "Time from /login to the accepted callback",
            m.login_duration.clone(),
        );
        r.register(
            "jwks_fetches",
            "Fetches of the IdP's key set, by cause and outcome",
            m.jwks_fetches.clone(),
        );
        r.register(
            "discovery_refreshes",
            "Discoveries of the IdP, by outcome",
            m.discovery_refreshes.clone(),
        );
        r.register(
            "token_refreshes",
            "Access token refreshes at the IdP, by outcome",
            m.token_refreshes.clone(),
        );
        r.register(
            "upstream_calls",
            "Calls to APIs behind the BFF, by API name and status class",
            m.upstream_calls.clone(),
        );
        r.register(
            "upstream_call_duration_seconds",
            "Time of calls to APIs behind the BFF, by API name",
            m.upstream_duration.clone(),
        );
        r.register(
            "store_operations",
            "Session store operations by kind and outcome",
            m.store_operations.clone(),
        );
        r.register(
            "store_operation_duration_seconds",
            "Time of session store operations, by kind",
            m.store_duration.clone(),
        );
        r.register(
            "backchannel_logouts",
            "Back-channel logout requests by outcome",
            m.backchannel_logouts.clone(),
        );
        r.register(
            "provider_logins",
            "Accepted logins by identity provider (configured names only)",
            m.provider_logins.clone(),
        );
        r.register(
            "ended_sessions_bound_steps",
            "Times the bounded list of ended sessions made room by ending more sessions than asked: `collapsed` (a user's ended sessions became one revocation of all their earlier sessions) or `watermark` (every session older than a moment was ended)",
            m.ended_sessions_bound.clone(),
        );
        r.register(
            "csrf_refusals",
            "Requests refused as cross-site, by route template",
            m.csrf_refusals.clone(),
        );
        m
    }
}

fn metrics() -> Option<&'static Metrics> {
    ENABLED.load(Ordering::Relaxed).then(|| &*METRICS)
}

/// Starts recording (the metrics listener is configured).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The current values in the OpenMetrics text format.
pub fn encode() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// An HTTP request answered: `route` is the matched route's template (`-` when none).
pub fn http_request(route: &str, method: &'static str, status: u16, took: Duration) {
    if let Some(m) = metrics() {
        m.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                method,
                status: status_class(status),
            })
            .inc();
        m.http_duration
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }
}

/// A callback ended: `outcome` is `accepted`, `rejected`, `idp_error` or `unavailable`;
/// `reason` one of the fixed reasons of `routes::auth::callback` (`none` when accepted).
pub fn login(outcome: &'static str, reason: &'static str) {
    if let Some(m) = metrics() {
        m.logins
            .get_or_create(&LoginLabels { outcome, reason })
            .inc();
    }
}

/// A login accepted this long after it started at `/login`.
pub fn login_duration(took: Duration) {
    if let Some(m) = metrics() {
        m.login_duration.observe(took.as_secs_f64());
    }
}

/// The key set was fetched: `cause` is `discovery` or `unknown_kid`.
pub fn jwks_fetch(cause: &'static str, ok: bool) {
    if let Some(m) = metrics() {
        let outcome = if ok { "ok" } else { "failed" };
        m.jwks_fetches
            .get_or_create(&CauseLabels { cause, outcome })
            .inc();
    }
}

/// The IdP was (re)discovered.
pub fn discovery_refresh(ok: bool) {
    if let Some(m) = metrics() {
        let outcome = if ok { "ok" } else { "failed" };
        m.discovery_refreshes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// A token refresh ended: `refreshed`, `rejected` (the IdP refused the refresh token) or
/// `failed` (the IdP or the store could not be reached).
pub fn token_refresh(outcome: &'static str) {
    if let Some(m) = metrics() {
        m.token_refreshes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// An API behind the BFF answered `status` (0: no answer) after `took`.
pub fn upstream_call(api: &str, status: u16, took: Duration) {
    if let Some(m) = metrics() {
        let status = if status == 0 {
            "none"
        } else {
            status_class(status)
        };
        m.upstream_calls
            .get_or_create(&UpstreamLabels {
                api: api.to_string(),
                status,
            })
            .inc();
        m.upstream_duration
            .get_or_create(&ApiLabel {
                api: api.to_string(),
            })
            .observe(took.as_secs_f64());
    }
}

/// A store operation ended with `outcome` (`ok`, `error`, `timeout`) after `took`.
pub fn store_operation(operation: &'static str, outcome: &'static str, took: Duration) {
    if let Some(m) = metrics() {
        m.store_operations
            .get_or_create(&StoreLabels { operation, outcome })
            .inc();
        m.store_duration
            .get_or_create(&OperationLabel { operation })
            .observe(took.as_secs_f64());
    }
}

/// A back-channel logout request ended: `ended`, `invalid` or `unavailable`.
pub fn backchannel_logout(outcome: &'static str) {
    if let Some(m) = metrics() {
        m.backchannel_logouts
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// A login was accepted at the identity provider named `provider` (a configured name).
pub fn provider_login(provider: &str) {
    if let Some(m) = metrics() {
        m.provider_logins
            .get_or_create(&ProviderLabel {
                provider: provider.to_string(),
            })
            .inc();
    }
}

/// The list of ended sessions was full and made room by ending more sessions than asked:
/// `collapsed` or `watermark`.
pub fn ended_sessions_bound(outcome: &'static str) {
    if let Some(m) = metrics() {
        m.ended_sessions_bound
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// A request was refused as cross-site at `route`.
pub fn csrf_refusal(route: &str) {
    if let Some(m) = metrics() {
        m.csrf_refusals
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .inc();
    }
}
