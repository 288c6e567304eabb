//! The sidecar's own *HTTP surface* (axum): `/healthz`, `/readyz`, `/metrics`, and — as later
//! stages land — the query, rules, alerts and admin APIs. Every request gets an `X-Request-Id`,
//! is logged and counted, and bodies over `server.max_body_bytes` get 413 with a JSON error.

pub(crate) mod admin;
pub(crate) mod config;
mod events;
mod federate;
mod health;
mod metadata;
mod middleware;
mod notify;
mod ops;
mod query;
mod query_body;
mod rules;
mod runbooks;
pub(crate) mod server;
mod status;
mod targets;

use crate::scrape::TargetState;
use crate::settings::LoadedConfig;
use crate::storage::Storage;
use crate::store::Store;
use crate::telemetry::SelfMetrics;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    /// The database.
    pub(crate) storage: Storage,
    /// Self metrics.
    pub(crate) metrics: SelfMetrics,
    /// The configuration in force.
    pub(crate) config: Arc<LoadedConfig>,
    /// The in-memory time-series store.
    pub(crate) store: Arc<Store>,
    /// Scrape targets and their live status.
    pub(crate) targets: Arc<Vec<Arc<TargetState>>>,
    /// The rule groups (None in tests that build no manager).
    pub(crate) rules: Option<crate::rules::manager::RuleManager>,
    /// Slots for queries of the query API (`query.max_concurrency`); more wait.
    pub(crate) query_slots: Arc<tokio::sync::Semaphore>,
    /// The admin guard (`[admin]`).
    pub(crate) admin: Arc<admin::guard::Guard>,
    /// The runbooks, as loaded at start (served at `/runbooks/`).
    pub(crate) runbooks: Arc<crate::notify::template::Runbooks>,
}

/// The full router with its middleware.
pub(crate) fn router(state: AppState) -> Router {
    let limit = usize::try_from(state.config.config.server.max_body_bytes.bytes()).unwrap_or(usize::MAX);
    status::mark_start();
    // Reads that `admin.read_requires_token` puts behind a token.
    let reads = Router::new()
        .route("/metrics", get(health::metrics))
        .route("/federate", get(federate::federate))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/health", get(targets::health))
        .route("/api/v1/query", get(query::query).post(query::query))
        .route("/api/v1/query_range", get(query::query_range).post(query::query_range))
        .route("/api/v1/series", get(query::series).post(query::series))
        .route("/api/v1/labels", get(query::labels).post(query::labels))
        .route("/api/v1/label/{name}/values", get(query::label_values))
        .route("/api/v1/status/buildinfo", get(query::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/tsdb", get(metadata::tsdb))
        .route("/api/v1/metadata", get(metadata::metadata))
        .route("/api/v1/targets/metadata", get(metadata::targets_metadata))
        .route("/api/v1/format_query", get(status::format_query).post(status::format_query))
        .route("/api/v1/query_exemplars", get(status::query_exemplars).post(status::query_exemplars))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/runbooks/", get(runbooks::index))
        .route("/runbooks/{name}", get(runbooks::runbook))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admin::guard::reader));
    Router::new()
        .route("/", get(health::index))
        .route("/healthz", get(health::healthz).head(health::healthz))
        .route("/readyz", get(health::readyz).head(health::readyz))
        .route("/api/v1/openapi.json", get(admin::openapi_document))
        .route("/api/v1/events", axum::routing::post(events::ingest))
        .merge(reads)
        .merge(admin::routes(state.clone()))
        .merge(ops::routes())
        .route_layer(axum::middleware::from_fn(middleware::tag_route))
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}

/// A JSON error body in the shape Prometheus' API uses: `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn json_error(
    status: axum::http::StatusCode,
    error_type: &str,
    message: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({ "status": "error", "errorType": error_type, "error": message.into() });
    let mut resp = (status, axum::Json(body)).into_response();
    resp.extensions_mut().insert(ErrorKind(error_type.to_string()));
    resp
}

/// The `errorType` of an error response (read by the admin audit).
#[derive(Clone, Debug)]
pub(crate) struct ErrorKind(pub(crate) String);
