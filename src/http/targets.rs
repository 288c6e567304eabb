//! `GET /api/v1/targets` in Prometheus' response shape, and `GET /api/v1/health` with every
//! health check's last result.

use super::AppState;
use crate::scrape::TargetState;
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

fn rfc3339(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn seconds(s: f64) -> String {
    crate::config::Duration(std::time::Duration::from_secs_f64(s)).to_string()
}

fn target_json(t: &TargetState, url: &str) -> Value {
    let s = t.scrape_status();
    let labels: Map<String, Value> = t.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mut discovered = labels.clone();
    discovered.insert("__address__".into(), Value::String(crate::scrape::instance_of(url)));
    discovered.insert(
        "__metrics_path__".into(),
        Value::String(reqwest::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_default()),
    );
    json!({
        "discoveredLabels": discovered,
        "labels": labels,
        "scrapePool": t.name,
        "scrapeUrl": url,
        "globalUrl": url,
        "lastError": s.last_error,
        "lastScrape": rfc3339(s.last_scrape),
        "lastScrapeDuration": s.last_scrape_duration,
        "lastSamples": s.last_samples,
        "health": s.health,
        "scrapeInterval": seconds(t.interval_s),
        "scrapeTimeout": seconds(t.timeout_s),
        "healthChecks": t.check_statuses(),
    })
}

/// `GET /api/v1/targets`: every target with a metrics URL as an active target.
pub(super) async fn targets(State(state): State<AppState>) -> Json<Value> {
    let active: Vec<Value> =
        state.targets.iter().filter_map(|t| t.scrape_url.as_deref().map(|url| target_json(t, url))).collect();
    Json(json!({ "status": "success", "data": { "activeTargets": active, "droppedTargets": [] } }))
}

/// `GET /api/v1/health`: each target's health checks with their last result.
pub(super) async fn health(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .targets
        .iter()
        .filter(|t| !t.checks.is_empty())
        .map(|t| json!({ "target": t.name, "checks": t.check_statuses() }))
        .collect();
    Json(json!({ "status": "success", "data": data }))
}
