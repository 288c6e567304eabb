//! *Request middleware*: the request id (kept from the caller's `X-Request-Id` when sane,
//! else a new UUID) on the log span and the response; the per-route request counter and
//! duration histogram; and the body-size guard that answers 413 with a JSON error.

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
pub(super) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id =
        req.headers().get("x-request-id").and_then(sane_request_id).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
    let limit = state.config.config.server.max_body_bytes.bytes();
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut resp = match declared {
        Some(n) if n > limit => too_large(limit),
        _ => next.run(req).instrument(span.clone()).await,
    };
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&resp) {
        resp = too_large(limit);
    }
    let route = resp.extensions().get::<RouteTag>().map_or("unmatched", |t| t.0.as_str()).to_string();
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = &state.metrics;
    m.http_requests.with_label_values(&[route.as_str(), method.as_str(), &status.to_string()]).inc();
    m.http_duration.with_label_values(&[route.as_str()]).observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, duration_ms = ms, "request failed");
        } else {
            tracing::debug!(status, duration_ms = ms, "request served");
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

fn too_large(limit: u64) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("PAYLOAD_TOO_LARGE: request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
    )
}
