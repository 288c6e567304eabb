//! `GET /api/v1/notifications`: the delivery history (the outbox), newest first, filtered by
//! `status`, `since` (a duration such as `1h`), `channel`, `receiver` and `limit` — what
//! `sidewatch alerts history` prints, for dashboards and the runbooks' "failed deliveries".

use super::AppState;
use super::json_error;
use crate::notify::model::rfc3339;
use crate::storage::{OutboxFilter, OutboxRepo, OutboxStatus};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;

/// `GET /api/v1/notifications`
pub(crate) async fn notifications(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let since = match q.get("since").map(|s| crate::config::Duration::parse(s)) {
        None => None,
        Some(Ok(d)) => Some(chrono::Utc::now().timestamp_millis() - d.get().as_millis() as i64),
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, "bad_data", format!("since: {e}")),
    };
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n.min(10_000),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "bad_data", "limit: must be a positive integer"),
    };
    let status = match q.get("status").map(|s| s.parse::<OutboxStatus>()) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, "bad_data", format!("status: {e}")),
    };
    let f = OutboxFilter {
        status,
        since,
        channel: q.get("channel").cloned(),
        receiver: q.get("receiver").cloned(),
        limit,
        alertname: None,
    };
    match state.storage.list_outbox(&f).await {
        Ok(rows) => {
            let items: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id, "createdAt": rfc3339(r.created_at), "sentAt": r.sent_at.map(rfc3339),
                        "alerts": r.alert_names, "kind": r.kind, "receiver": r.receiver, "channel": r.channel,
                        "groupKey": r.group_key, "status": r.status, "attempts": r.attempts,
                        "lastHttpStatus": r.last_http_status, "errorText": r.error_text,
                    })
                })
                .collect();
            Json(json!({"status": "success", "data": {"notifications": items}})).into_response()
        }
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}
