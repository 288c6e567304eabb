//! `GET /federate?match[]=…`: *federation* as Prometheus serves it — the latest sample of each
//! series matching any selector (within the last 5 minutes, stale markers left out), with its
//! timestamp, in the text exposition format, grouped by metric name under `# TYPE … untyped`,
//! with the external labels (`[global]`, `rules.external_labels`) added where a series lacks them. A central Prometheus scrapes
//! it with `honor_labels: true` and `metrics_path: /federate`.

use super::AppState;
use super::json_error;
use super::query::{Params, selectors};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

/// How far back a series' latest sample may be (Prometheus' lookback delta).
const LOOKBACK_MS: i64 = 5 * 60_000;

/// `GET /federate`
pub(crate) async fn federate(State(state): State<AppState>, p: Params) -> Response {
    let sets = match selectors(&p) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return json_error(StatusCode::BAD_REQUEST, "bad_data", "no match[] parameter provided"),
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_data", e.msg),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let external = &state.config.config.series_external_labels();
    // name → series line (labels text) → (t, v); a series matched by two selectors once.
    let mut out: BTreeMap<String, BTreeMap<String, (i64, f64)>> = BTreeMap::new();
    for set in &sets {
        state.store.visit_last(set, now - LOOKBACK_MS, now, |labels, t, v| {
            if crate::store::is_stale(v) {
                return;
            }
            let mut pairs: BTreeMap<String, String> =
                labels.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let name = pairs.remove("__name__").unwrap_or_default();
            for (k, v) in external {
                pairs.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let text: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", crate::scrape::parse::escape(v))).collect();
            out.entry(name).or_default().insert(text.join(","), (t, v));
        });
    }
    let mut body = String::new();
    for (name, series) in &out {
        body.push_str(&format!("# TYPE {name} untyped\n"));
        for (labels, (t, v)) in series {
            body.push_str(&format!("{name}{{{labels}}} {} {t}\n", crate::promql::format_value(*v)));
        }
    }
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}
