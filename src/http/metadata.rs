//! `GET /api/v1/metadata`, `GET /api/v1/targets/metadata` and `GET /api/v1/status/tsdb` in
//! Prometheus' shapes: the *metric metadata* the targets expose (type, help, unit — Grafana's
//! query editor shows it beside a metric name) and the store's *cardinality* (series by metric
//! name and by label, for whoever wonders what makes the series count grow).

use super::AppState;
use super::query::{Params, bad, selector};
use crate::promql::QueryError;
use crate::scrape::metadata::Meta;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn error(e: QueryError) -> Response {
    super::json_error(axum::http::StatusCode::BAD_REQUEST, "bad_data", e.msg)
}

/// A non-negative integer parameter; absent: `None` (no limit).
fn limit(p: &Params, key: &str) -> Result<Option<usize>, QueryError> {
    p.get(key)
        .map(|s| {
            let n: i64 = s.parse().map_err(|_| bad(format!("invalid parameter \"{key}\": {s:?} is not a number")))?;
            Ok(usize::try_from(n).ok())
        })
        .transpose()
        .map(Option::flatten)
}

/// `GET /api/v1/metadata?metric=&limit=&limit_per_metric=`: each metric's distinct metadata
/// across the targets.
pub(crate) async fn metadata(State(state): State<AppState>, p: Params) -> Response {
    let handle = || {
        let (max, per) = (limit(&p, "limit")?, limit(&p, "limit_per_metric")?);
        let metric = p.get("metric");
        let mut out: BTreeMap<String, Vec<Meta>> = BTreeMap::new();
        for t in state.targets.iter() {
            for (name, m) in t.metadata().iter() {
                if metric.is_some_and(|w| w != name) {
                    continue;
                }
                let list = out.entry(name.clone()).or_default();
                if !list.contains(m) {
                    list.push(m.clone());
                }
            }
        }
        let data: Map<String, Value> = out
            .into_iter()
            .take(max.unwrap_or(usize::MAX))
            .map(|(name, mut list)| {
                list.truncate(per.unwrap_or(usize::MAX));
                (name, json!(list))
            })
            .collect();
        Ok::<_, QueryError>(Json(json!({"status": "success", "data": data})).into_response())
    };
    handle().unwrap_or_else(error)
}

/// `GET /api/v1/targets/metadata?match_target=&metric=&limit=`: metadata per target.
pub(crate) async fn targets_metadata(State(state): State<AppState>, p: Params) -> Response {
    let handle = || {
        let max = limit(&p, "limit")?.unwrap_or(usize::MAX);
        let matchers = p.get("match_target").map(|m| selector(m, "match_target")).transpose()?.unwrap_or_default();
        let metric = p.get("metric");
        let mut data = Vec::new();
        'targets: for t in state.targets.iter().filter(|t| t.scrape_url.is_some()) {
            let label = |n: &str| t.labels.iter().find(|(k, _)| k == n).map_or("", |(_, v)| v.as_str());
            if !matchers.iter().all(|m| m.matches(label(&m.name))) {
                continue;
            }
            let target: Map<String, Value> =
                t.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            for (name, m) in t.metadata().iter() {
                if metric.is_some_and(|w| w != name) {
                    continue;
                }
                if data.len() >= max {
                    break 'targets;
                }
                // As Prometheus: with `metric` given, the entries do not repeat it.
                let mut entry = json!({"target": target, "type": m.kind, "help": m.help, "unit": m.unit});
                if metric.is_none() {
                    entry["metric"] = Value::String(name.clone());
                }
                data.push(entry);
            }
        }
        Ok::<_, QueryError>(Json(json!({"status": "success", "data": data})).into_response())
    };
    handle().unwrap_or_else(error)
}

/// `GET /api/v1/status/tsdb?limit=10`: head statistics and the top cardinalities.
pub(crate) async fn tsdb(State(state): State<AppState>, p: Params) -> Response {
    let handle = || {
        let n = limit(&p, "limit")?.unwrap_or(10);
        if n == 0 {
            return Err(bad("invalid parameter \"limit\": must be a positive number"));
        }
        let store = state.store.clone();
        let c = store.cardinality(n);
        let list =
            |v: &[(String, usize)]| -> Vec<Value> { v.iter().map(|(k, n)| json!({"name": k, "value": n})).collect() };
        let (min_t, max_t) = c.time_range.unwrap_or((i64::MAX, i64::MIN));
        Ok(Json(json!({"status": "success", "data": {
            "headStats": {
                "numSeries": c.num_series, "numLabelPairs": c.num_label_pairs, "chunkCount": c.chunk_count,
                "minTime": min_t, "maxTime": max_t,
            },
            "seriesCountByMetricName": list(&c.series_by_metric),
            "labelValueCountByLabelName": list(&c.values_by_label),
            "memoryInBytesByLabelName": list(&c.bytes_by_label),
            "seriesCountByLabelValuePair": list(&c.series_by_pair),
        }}))
        .into_response())
    };
    handle().unwrap_or_else(error)
}
