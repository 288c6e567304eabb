//! The *admin API*: the operator's endpoints behind one [guard](guard) — the ops view, the
//! delivery history with retry and export, the trend, silences in Alertmanager's v2 shape,
//! report jobs and reports, the audit log, and `POST /-/reload`. A *caller* is who a request
//! comes from once the guard has let it in: the token's name and the actor (`X-Actor`).
//! Errors are JSON `{status, errorType, error}` like the query API.
//!
//! Helpers here return `Result<_, Response>`: the error is the ready answer (a 400 or 503) the
//! handler returns as is; it is rare and short-lived, so its size does not matter.
#![allow(clippy::result_large_err)]

pub(crate) mod audit;
pub(crate) mod config;
pub(crate) mod guard;
mod history;
mod jobs;
mod openapi;
mod ops;
mod silences;

use super::{AppState, json_error};
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use std::collections::HashMap;

pub(crate) use audit::Audited;
pub(crate) use openapi::document as openapi_document;

/// Who a request comes from, once the guard let it in.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The token's name (never the token).
    pub(crate) token_name: String,
    /// `X-Actor`, when sent.
    pub(crate) actor: Option<String>,
}

impl Caller {
    /// The actor, else the token's name.
    pub(crate) fn who(&self) -> &str {
        self.actor.as_deref().unwrap_or(&self.token_name)
    }
}

/// The admin and lifecycle routes, each behind the guard.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/ops", get(ops::ops))
        .route("/api/v1/admin/analytics", get(ops::analytics))
        .route("/api/v1/admin/alerts", get(history::list))
        .route("/api/v1/admin/alerts/retry", post(history::retry))
        .route("/api/v1/admin/alerts/export", get(history::export))
        .route("/api/v1/admin/audit", get(history::audit))
        .route("/api/v1/admin/jobs", get(jobs::list))
        .route("/api/v1/admin/jobs/{job}/run", post(jobs::run))
        .route("/api/v1/admin/reports", get(jobs::reports))
        .route("/api/v1/admin/reports/{kind}/{*name}", get(jobs::report))
        .route("/api/v1/notifications", get(super::notify::notifications))
        .route("/api/v2/silences", get(silences::list).post(silences::create))
        .route("/api/v2/silence/{id}", get(silences::get).delete(silences::expire))
        .route("/-/reload", post(super::rules::reload))
        .route_layer(axum::middleware::from_fn_with_state(state, guard::admin))
}

/// `page` (from 1) and `pageSize` (1–500, default 20) from a query.
pub(crate) fn paging(q: &HashMap<String, String>) -> Result<(i64, i64), Response> {
    let num = |key: &str, default: i64, max: i64| match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(&format!("{key}: expected an integer from 1 to {max}"))),
        },
    };
    Ok((num("page", 1, 1_000_000)?, num("pageSize", 20, 500)?))
}

/// A `since` duration (`1h`, `7d`) as a start time in ms; `None` when absent.
pub(crate) fn since(q: &HashMap<String, String>) -> Result<Option<i64>, Response> {
    match q.get("since").map(|s| crate::config::Duration::parse(s)) {
        None => Ok(None),
        Some(Ok(d)) => {
            Ok(Some(chrono::Utc::now().timestamp_millis() - d.get().as_millis().min(i64::MAX as u128) as i64))
        }
        Some(Err(e)) => Err(bad(&format!("since: {e}"))),
    }
}

/// 400 `bad_data`.
pub(crate) fn bad(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_data", message)
}

/// 503 for a storage error.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string())
}

/// Milliseconds as RFC 3339.
pub(crate) fn rfc3339(ms: i64) -> String {
    crate::notify::model::rfc3339(ms)
}
