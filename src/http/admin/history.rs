//! The *delivery history* as the operator sees it: `GET /api/v1/admin/alerts` (paged, filtered
//! by status, channel, receiver, alert name and age, each row's `errorText` scrubbed of every
//! configured secret), `POST /api/v1/admin/alerts/retry`, `GET /api/v1/admin/alerts/export`
//! (CSV or JSON, as a download), and `GET /api/v1/admin/audit`.

use super::{Audited, bad, paging, rfc3339, since, unavailable};
use crate::http::AppState;
use crate::notify::channel::Redactor;
use crate::storage::{AdminRepo, AuditQuery, AuditRepo, OutboxFilter, OutboxRepo, OutboxRow, OutboxStatus};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The most rows one export holds.
const EXPORT_MAX: i64 = 100_000;

fn text_filter(q: &HashMap<String, String>, key: &str) -> Result<Option<String>, Response> {
    match q.get(key).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) if s.len() <= 200 && !s.chars().any(char::is_control) => Ok(Some(s.to_string())),
        Some(_) => Err(bad(&format!("{key}: at most 200 printable characters"))),
    }
}

/// The outbox filter a query names (`status`, `channel`, `receiver`, `alertname`, `since`).
fn filter(q: &HashMap<String, String>) -> Result<OutboxFilter, Response> {
    let status = match q.get("status").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<OutboxStatus>().map_err(|e| bad(&format!("status: {e}")))?),
    };
    Ok(OutboxFilter {
        status,
        since: since(q)?,
        channel: text_filter(q, "channel")?,
        receiver: text_filter(q, "receiver")?,
        alertname: text_filter(q, "alertname")?,
        limit: 0,
    })
}

fn redactor(state: &AppState) -> Redactor {
    let secrets = crate::notify::registry::secrets(&state.config.config.notify.receivers);
    Redactor::new(&secrets.iter().map(String::as_str).collect::<Vec<_>>())
}

fn item(r: &OutboxRow, redact: &Redactor) -> Value {
    json!({
        "id": r.id, "createdAt": rfc3339(r.created_at), "sentAt": r.sent_at.map(rfc3339),
        "alertname": r.alert_names, "kind": r.kind, "receiver": r.receiver, "channel": r.channel,
        "groupKey": r.group_key, "status": r.status.as_str(), "attempts": r.attempts,
        "lastHttpStatus": r.last_http_status,
        "errorText": r.error_text.as_deref().map(|e| redact.apply(e)),
    })
}

/// `GET /api/v1/admin/alerts?page=&pageSize=&status=&channel=&receiver=&alertname=&since=`
pub(crate) async fn list(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let ((page, size), mut f) = match paging(&q).and_then(|p| Ok((p, filter(&q)?))) {
        Ok(v) => v,
        Err(r) => return r,
    };
    f.limit = size;
    match state.storage.page_outbox(&f, (page - 1) * size).await {
        Ok((rows, total)) => {
            let redact = redactor(&state);
            let items: Vec<Value> = rows.iter().map(|r| item(r, &redact)).collect();
            Json(json!({"items": items, "page": page, "pageSize": size, "total": total})).into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// The body of `POST /api/v1/admin/alerts/retry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryBody {
    /// `failed` (default) or `pending`.
    #[serde(default)]
    status: Option<String>,
    /// How far back, e.g. `1h` (default).
    #[serde(default)]
    since: Option<String>,
    /// Only this channel.
    #[serde(default)]
    channel: Option<String>,
    /// Only this receiver.
    #[serde(default)]
    receiver: Option<String>,
    /// Only notifications naming this alert.
    #[serde(default)]
    alertname: Option<String>,
}

/// `POST /api/v1/admin/alerts/retry` `{"status":"failed","since":"1h"}` → `{"queued": N}`
pub(crate) async fn retry(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: RetryBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(&format!("body: {e} (expected {{\"status\":\"failed\",\"since\":\"1h\"}})")),
    };
    let mut q = HashMap::new();
    q.insert("status".to_string(), b.status.clone().unwrap_or_else(|| "failed".into()));
    q.insert("since".to_string(), b.since.clone().unwrap_or_else(|| "1h".into()));
    for (k, v) in [("channel", &b.channel), ("receiver", &b.receiver), ("alertname", &b.alertname)] {
        if let Some(v) = v {
            q.insert(k.to_string(), v.clone());
        }
    }
    let f = match filter(&q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !matches!(f.status, Some(OutboxStatus::Failed | OutboxStatus::Pending)) {
        return bad("status: only failed or pending notifications can be retried");
    }
    let now = chrono::Utc::now().timestamp_millis();
    let expires = now + state.config.config.notify.max_delivery_age.get().as_millis() as i64;
    let target = format!("status={} since={}", q["status"], q["since"]);
    match state.storage.requeue(&f, now, expires).await {
        Ok(n) => Audited::new("alerts.retry", target)
            .detail(json!({"queued": n}).to_string())
            .on(Json(json!({"queued": n})).into_response()),
        Err(e) => unavailable(e),
    }
}

/// `GET /api/v1/admin/alerts/export?format=csv|json` and the list's filters: a download.
pub(crate) async fn export(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let format = q.get("format").map_or("csv", String::as_str);
    if !matches!(format, "csv" | "json") {
        return bad("format: expected csv or json");
    }
    let mut f = match filter(&q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    f.limit = EXPORT_MAX;
    let rows = match state.storage.list_outbox(&f).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let redact = redactor(&state);
    let (body, ctype) = if format == "json" {
        let items: Vec<Value> = rows.iter().map(|r| item(r, &redact)).collect();
        (serde_json::to_string_pretty(&items).unwrap_or_default(), "application/json")
    } else {
        let mut out = String::from(
            "id,createdAt,sentAt,alertname,kind,receiver,channel,status,attempts,lastHttpStatus,errorText\n",
        );
        for r in &rows {
            let cells = [
                r.id.to_string(),
                rfc3339(r.created_at),
                r.sent_at.map(rfc3339).unwrap_or_default(),
                r.alert_names.clone(),
                r.kind.clone(),
                r.receiver.clone(),
                r.channel.clone(),
                r.status.as_str().to_string(),
                r.attempts.to_string(),
                r.last_http_status.map(|s| s.to_string()).unwrap_or_default(),
                redact.apply(r.error_text.as_deref().unwrap_or("")),
            ];
            out.push_str(&crate::reports::format::csv_line(&cells));
            out.push('\n');
        }
        (out, "text/csv; charset=utf-8")
    };
    let name = format!("sidewatch-alerts-{}.{format}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /api/v1/admin/audit?page=&pageSize=&since=`
pub(crate) async fn audit(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let ((page, size), since) = match paging(&q).and_then(|p| Ok((p, since(&q)?))) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let query = AuditQuery {
        since: since.and_then(chrono::DateTime::from_timestamp_millis),
        action: None,
        limit: size as u32,
        offset: u32::try_from((page - 1) * size).unwrap_or(u32::MAX),
    };
    let (rows, total) = match (state.storage.list_audit(&query).await, state.storage.count_audit(&query).await) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => return unavailable(e),
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "time": rfc3339(e.time.timestamp_millis()), "actor": e.actor,
                "tokenName": e.token_name, "source": e.source, "requestId": e.request_id,
                "method": e.method, "route": e.route, "action": e.action, "target": e.target,
                "outcome": e.outcome, "status": e.status, "detail": e.detail,
            })
        })
        .collect();
    Json(json!({"items": items, "page": page, "pageSize": size, "total": total})).into_response()
}
