//! *Request middleware*: the request id (kept from the caller's `X-Request-Id` when sane,
//! else a new UUID) on the log span and the response; the per-route request counter and
//! duration histogram; the access log (one INFO line per request: method, route, status,
//! duration, request id; `server.access_log`); the body-size guard that answers 413; and a
//! JSON body for every error status.

use super::{AppState, json_error};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The response extension carrying the matched route pattern (set by [`tag_route`]).
#[derive(Clone)]
struct RouteTag(String);

/// Inner layer (matched routes only): records the route pattern on the response.
pub(super) async fn tag_route(path: MatchedPath, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(RouteTag(path.as_str().to_string()));
    resp
}

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

/// Outer layer (every request): request id, log line, metrics, body limit.
pub(super) async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id =
        req.headers().get("x-request-id").and_then(sane_request_id).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // Handlers (the audit log) read the id the response will carry.
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
    let limit = state.config.config.server.max_body_bytes.bytes();
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut resp = match declared {
        Some(n) if n > limit => {
            let row = super::admin::audit::early(&state, &req);
            drop(req);
            if let Some(row) = row {
                row.refused(&state.storage, "PAYLOAD_TOO_LARGE", StatusCode::PAYLOAD_TOO_LARGE.as_u16()).await;
            }
            too_large(limit)
        }
        _ => next.run(req).instrument(span.clone()).await,
    };
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&resp) {
        resp = too_large(limit);
    } else if (resp.status().is_client_error() || resp.status().is_server_error()) && !is_json(&resp) {
        // Every error answers JSON in Prometheus' shape (axum's own 405 has no body).
        resp = plain_error(resp.status());
    }
    let route = resp.extensions().get::<RouteTag>().map_or("unmatched", |t| t.0.as_str()).to_string();
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = &state.metrics;
    m.http_requests.with_label_values(&[route.as_str(), method.as_str(), &status.to_string()]).inc();
    m.http_duration.with_label_values(&[route.as_str()]).observe(elapsed.as_secs_f64());
    let access_log = state.config.config.server.access_log;
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(route = %route, status, duration_ms = ms, "request failed");
        } else if access_log {
            tracing::info!(route = %route, status, duration_ms = ms, "request");
        } else {
            tracing::debug!(route = %route, status, duration_ms = ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A JSON error for a status a handler or axum answered without a JSON body.
fn plain_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("error");
    let kind = reason.to_ascii_lowercase().replace([' ', '-'], "_");
    let mut resp = json_error(status, &kind, reason);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp = json_error(status, "method_not_allowed", "method not allowed for this path");
    }
    resp
}

fn too_large(limit: u64) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("PAYLOAD_TOO_LARGE: request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
    )
}
