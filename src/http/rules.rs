//! `GET /api/v1/rules`, `GET /api/v1/alerts` in Prometheus' response shapes, and
//! `POST /-/reload`. The rules answer also carries the last reload's outcome (`reload`), so a
//! rule file that failed to load is visible while the previous rules keep running.

use super::{AppState, json_error};
use crate::alerts::{Alert, State};
use crate::rules::GroupState;
use axum::Json;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

fn labels(l: &crate::store::Labels) -> Value {
    Value::Object(l.0.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect::<Map<_, _>>())
}

fn map(m: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
}

/// An alert as Prometheus' API shows it (`value` in `%e` notation).
fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": labels(&a.labels),
        "annotations": map(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": crate::rules::template::go_e(a.value, None),
    });
    if let Some(t) = a.keep_firing_since {
        v["keepFiringSince"] = Value::String(rfc3339(t));
    }
    v
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn group_json(g: &GroupState) -> Value {
    let rules: Vec<Value> = g
        .rules
        .iter()
        .map(|r| {
            let mut v = json!({
                "name": r.rule.name(),
                "query": r.rule.expr_text,
                "labels": map(&r.rule.labels),
                "health": r.health.as_str(),
                "lastError": r.last_error.clone().unwrap_or_default(),
                "evaluationTime": r.duration_s,
                "lastEvaluation": r.last_eval.map_or("0001-01-01T00:00:00Z".into(), rfc3339),
            });
            if r.rule.alert.is_some() {
                let live: Vec<&Alert> = r.alerts.live().collect();
                let state = if live.iter().any(|a| a.state == State::Firing) {
                    "firing"
                } else if live.is_empty() {
                    "inactive"
                } else {
                    "pending"
                };
                v["type"] = "alerting".into();
                v["state"] = state.into();
                v["duration"] = secs(r.rule.for_ms).into();
                v["keepFiringFor"] = secs(r.rule.keep_firing_for_ms).into();
                v["annotations"] = map(&r.rule.annotations);
                v["alerts"] = Value::Array(live.into_iter().map(alert_json).collect());
            } else {
                v["type"] = "recording".into();
            }
            v
        })
        .collect();
    json!({
        "name": g.group.name,
        "file": g.group.file,
        "interval": secs(g.group.interval_ms),
        "limit": g.group.limit,
        "rules": rules,
        "evaluationTime": g.duration_s,
        "lastEvaluation": g.last_eval.map_or("0001-01-01T00:00:00Z".into(), rfc3339),
    })
}

/// `GET /api/v1/rules`
pub(crate) async fn rules(AxState(state): AxState<AppState>) -> Json<Value> {
    let Some(m) = &state.rules else {
        return Json(json!({"status": "success", "data": {"groups": []}}));
    };
    let groups: Vec<Value> =
        m.groups().iter().map(|g| group_json(&g.lock().unwrap_or_else(|e| e.into_inner()))).collect();
    let st = m.status();
    Json(json!({
        "status": "success",
        "data": {
            "groups": groups,
            "reload": {"success": st.success, "error": st.error, "time": rfc3339(st.at)},
        }
    }))
}

/// `GET /api/v1/alerts`
pub(crate) async fn alerts(AxState(state): AxState<AppState>) -> Json<Value> {
    let mut out = Vec::new();
    if let Some(m) = &state.rules {
        for g in m.groups() {
            let g = g.lock().unwrap_or_else(|e| e.into_inner());
            for r in &g.rules {
                out.extend(r.alerts.live().map(alert_json));
            }
        }
    }
    Json(json!({"status": "success", "data": {"alerts": out}}))
}

/// `POST /-/reload`
pub(crate) async fn reload(AxState(state): AxState<AppState>) -> Response {
    let Some(m) = state.rules.clone() else {
        return (StatusCode::OK, "no rule manager\n").into_response();
    };
    let audited = super::admin::Audited::new("rules.reload", "rules.files");
    match tokio::task::spawn_blocking(move || m.reload()).await {
        Ok(Ok(n)) => {
            audited
                .detail(json!({"rules": n}).to_string())
                .on((StatusCode::OK, format!("rules reloaded: {n} rules\n")).into_response())
        }
        Ok(Err(e)) => {
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "reload_failed", format!("failed to reload rules: {e}"))
        }
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "reload panicked"),
    }
}
