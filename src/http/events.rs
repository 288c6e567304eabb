//! `POST /api/v1/events`: product events for KPI rollups and digests. A JSON array of
//! `{"ts", "name", "user_id", "props"}` (`ts` an RFC 3339 string or Unix seconds), guarded by
//! the bearer token `ingest.token` (compared in constant time), at most
//! `ingest.max_batch_items` items and `ingest.max_body_bytes` bytes (413 otherwise). A batch is
//! accepted whole or not at all: any invalid item rejects the batch with every invalid index
//! and its reason, so a client that fixes and resends never double-counts; a 2xx answer means
//! every event is committed.

use super::{AppState, json_error};
use crate::storage::{NewEvent, ReportRepo};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

crate::error::message_error! {
    /// Why a posted product event was refused.
    pub(crate) EventError
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Equal in constant time for equal lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `ts`: RFC 3339, or Unix seconds (integer or fractional).
fn parse_ts(v: &Value) -> Result<i64, EventError> {
    match v {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| EventError(format!("ts {s:?} is not RFC 3339"))),
        Value::Number(n) => {
            let secs = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).ok_or("ts must be non-negative")?;
            Ok((secs * 1000.0).round() as i64)
        }
        Value::Null => Err("ts is missing".into()),
        _ => Err("ts must be an RFC 3339 string or Unix seconds".into()),
    }
}

fn parse_event(v: &Value) -> Result<NewEvent, EventError> {
    let o = v.as_object().ok_or("not an object")?;
    for k in o.keys() {
        if !["ts", "name", "user_id", "props"].contains(&k.as_str()) {
            return Err(EventError::from(format!("unknown field {k:?} (expected ts, name, user_id, props)")));
        }
    }
    let ts = parse_ts(o.get("ts").unwrap_or(&Value::Null))?;
    // PostgreSQL refuses NUL in text (the batch would fail as "unavailable", retried for ever).
    for (k, v) in o {
        if v.to_string().contains("\\u0000") {
            return Err(EventError::from(format!("{k} contains a NUL character")));
        }
    }
    let name = o.get("name").and_then(Value::as_str).ok_or("name is missing or not a string")?;
    if name.is_empty() || name.len() > 200 {
        return Err("name must be 1 to 200 characters".into());
    }
    let user_id = match o.get("user_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("user_id is missing (a string or number)".into()),
    };
    let props = match o.get("props") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(p @ Value::Object(_)) => p.to_string(),
        Some(_) => return Err("props must be an object".into()),
    };
    Ok(NewEvent { ts, name: name.to_string(), user_id, props })
}

/// `POST /api/v1/events`
pub(crate) async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let cfg = &state.config.config.ingest;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if cfg.token.is_empty() || !same(given.as_bytes(), cfg.token.expose().as_bytes()) {
        let why = if cfg.token.is_empty() { "ingest.token is not configured" } else { "missing or wrong bearer token" };
        return json_error(StatusCode::UNAUTHORIZED, "unauthorized", why);
    }
    let limit = cfg.max_body_bytes.bytes();
    if body.len() as u64 > limit {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("PAYLOAD_TOO_LARGE: batch body exceeds ingest.max_body_bytes ({limit} bytes)"),
        );
    }
    let items: Vec<Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(_) => return json_error(StatusCode::BAD_REQUEST, "bad_data", "body must be a JSON array of events"),
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_data", format!("invalid JSON: {e}")),
    };
    if items.len() > cfg.max_batch_items {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "PAYLOAD_TOO_LARGE: {} events exceed ingest.max_batch_items ({})",
                items.len(),
                cfg.max_batch_items
            ),
        );
    }
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    let (earliest, latest) = (cfg.earliest_ms(), now_ms() + cfg.max_ahead.get().as_millis() as i64);
    for (i, v) in items.iter().enumerate() {
        match parse_event(v) {
            Ok(e) if e.ts < earliest => errors.push(json!({"index": i,
                "reason": format!("ts is before ingest.earliest ({})", cfg.earliest)})),
            Ok(e) if e.ts > latest => errors.push(json!({"index": i,
                "reason": format!("ts is more than ingest.max_ahead ({}) in the future", cfg.max_ahead)})),
            Ok(e) => events.push(e),
            Err(reason) => errors.push(json!({"index": i, "reason": reason.to_string()})),
        }
    }
    if !errors.is_empty() {
        let body = json!({"status": "error", "errorType": "bad_data",
            "error": format!("{} of {} events are invalid; nothing was stored", errors.len(), items.len()),
            "invalid": errors});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    match state.storage.insert_events(&events).await {
        Ok(n) => Json(json!({"status": "success", "data": {"accepted": n}})).into_response(),
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("events not stored: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_items_are_checked() {
        assert_eq!(parse_ts(&json!("2026-11-23T10:00:00Z")).unwrap(), 1_795_428_000_000);
        assert_eq!(parse_ts(&json!(1_795_428_000.5)).unwrap(), 1_795_428_000_500);
        assert!(parse_ts(&json!("yesterday")).is_err());
        assert!(parse_event(&json!({"ts": 1, "name": "x", "user_id": 7})).is_ok());
        assert!(parse_event(&json!({"ts": 1, "name": "x"})).unwrap_err().0.contains("user_id"));
        assert!(
            parse_event(&json!({"ts": 1, "name": "x", "user_id": "u", "extra": 1})).unwrap_err().0.contains("extra")
        );
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            prop_oneof![Just("ts"), Just("name"), Just("user_id"), Just("props")].prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("ts".to_string()),
                        Just("name".to_string()),
                        Just("user_id".to_string()),
                        Just("props".to_string()),
                        ".{0,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]
        /// Any JSON an outsider posts gives an event or a reason, never a panic.
        #[test]
        fn any_json_item_is_an_event_or_a_reason(v in json()) {
            let _ = parse_event(&v);
        }
    }
}
