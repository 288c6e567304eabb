//! *Health endpoints*: `/healthz` (liveness: the process answers), `/readyz` (readiness:
//! configuration loaded and storage answering; 503 with the failing check otherwise) and
//! `/metrics` (self metrics in the Prometheus text format).

use super::{AppState, json_error};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /`: where to go from here.
pub(super) async fn index() -> &'static str {
    "sidewatch: an observability sidecar\n\n/healthz  liveness\n/readyz   readiness (JSON)\n/metrics  self metrics (Prometheus text format)\n/ops      the operator's console (needs an [[admin.tokens]] token)\n"
}

/// `GET /healthz`: 200 while the process runs.
pub(super) async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
}

/// `GET /readyz`: 200 `{"status":"ready",…}` when every check passes, else 503
/// `{"status":"not_ready","checks":{…},"failed":[…]}` naming what failed.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let mut failed = Vec::new();
    let storage = match state.storage.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            failed.push("storage");
            tracing::warn!(error = %e, "readiness: storage check failed");
            e.to_string()
        }
    };
    let config = match &state.config.file {
        Some(f) => format!("ok ({})", f.display()),
        None => "ok (built-in defaults)".to_string(),
    };
    let checks = json!({ "config": config, "storage": storage, "storage_backend": state.storage.backend().as_str() });
    if failed.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready", "checks": checks }))).into_response()
    } else {
        let body = json!({ "status": "not_ready", "checks": checks, "failed": failed });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// `GET /metrics`: self metrics, text format 0.0.4.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// Any other path: 404 with a JSON error.
pub(super) async fn not_found(uri: axum::http::Uri) -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", format!("no such endpoint: {}", uri.path()))
}
