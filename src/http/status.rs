//! The rest of Prometheus' HTTP API that Grafana's data source calls:
//! `/api/v1/format_query` (the expression pretty-printed), `/api/v1/query_exemplars` (sidewatch
//! keeps no exemplars: an empty list for a valid query), `/api/v1/status/runtimeinfo`,
//! `/api/v1/status/flags` and `/api/v1/status/config` (the effective configuration, secrets
//! shown as `***`), in Prometheus' shapes.

use super::AppState;
use super::json_error;
use super::query::Params;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::OnceLock;

static STARTED: OnceLock<chrono::DateTime<chrono::Utc>> = OnceLock::new();

/// Notes the process's start (called when the router is built).
pub(super) fn mark_start() {
    STARTED.get_or_init(chrono::Utc::now);
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `query` parameter parsed, or the 400's message.
fn parsed(p: &Params) -> Result<promql_parser::parser::Expr, String> {
    let q = p.all("query").first().copied().unwrap_or("").to_string();
    if q.trim().is_empty() {
        return Err("invalid parameter \"query\": query must not be empty".into());
    }
    crate::promql::Engine::parse(&q).map_err(|e| format!("invalid parameter \"query\": {}", e.msg))
}

fn bad(message: String) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_data", message)
}

/// `GET|POST /api/v1/format_query`
pub(crate) async fn format_query(p: Params) -> Response {
    match parsed(&p) {
        Ok(e) => Json(json!({"status": "success", "data": e.prettify()})).into_response(),
        Err(m) => bad(m),
    }
}

/// `GET|POST /api/v1/query_exemplars`
pub(crate) async fn query_exemplars(p: Params) -> Response {
    match parsed(&p) {
        Ok(_) => Json(json!({"status": "success", "data": []})).into_response(),
        Err(m) => bad(m),
    }
}

/// `GET /api/v1/status/runtimeinfo`
pub(crate) async fn runtimeinfo(State(state): State<AppState>) -> Response {
    let started = *STARTED.get_or_init(chrono::Utc::now);
    let cfg = &state.config.config;
    let rules_ok = state.rules.as_ref().is_none_or(|m| m.status().success);
    Json(json!({"status": "success", "data": {
        "startTime": rfc3339(started),
        "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": rules_ok,
        "lastConfigTime": rfc3339(started),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": cfg.store.retention.to_string(),
    }}))
    .into_response()
}

/// `GET /api/v1/status/flags`: the settings Prometheus has as flags, under their flag names.
pub(crate) async fn flags(State(state): State<AppState>) -> Response {
    let l = &state.config;
    let c = &l.config;
    Json(json!({"status": "success", "data": {
        "config.file": l.file.as_ref().map(|f| f.display().to_string()).unwrap_or_default(),
        "web.listen-address": c.server.listen,
        "web.external-url": c.external_url(),
        "storage.tsdb.retention.time": c.store.retention.to_string(),
        "query.timeout": c.query.timeout.to_string(),
        "query.max-samples": c.query.max_samples.to_string(),
        "rules.alert.for-outage-tolerance": c.rules.for_outage_tolerance.to_string(),
    }}))
    .into_response()
}

/// `GET /api/v1/status/config`: the effective configuration (TOML, secrets as `***`) where
/// Prometheus puts its YAML.
pub(crate) async fn config(State(state): State<AppState>) -> Response {
    match toml::to_string_pretty(&state.config.config) {
        Ok(text) => Json(json!({"status": "success", "data": {"yaml": text}})).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
