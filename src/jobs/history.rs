//! The *metric history writer*: every `history.interval` each `[[history.series]]` expression
//! (and `digest.evidence.llm_calls_expr`, as series `llm_calls`) is evaluated at that instant
//! and one row per output series is appended to `metric_history`; rows and events older than
//! `history.retention` are deleted once an hour. Reports read this table, never the store.

use crate::promql::Engine;
use crate::settings::Config;
use crate::storage::{HistoryRow, ReportRepo, Storage};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The series to record: `(name, expr)`.
pub(crate) fn series(cfg: &Config) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = cfg.history.series.iter().map(|s| (s.name.clone(), s.expr.clone())).collect();
    let llm = &cfg.digest.evidence.llm_calls_expr;
    if !llm.is_empty() && !out.iter().any(|(n, _)| n == "llm_calls") {
        out.push(("llm_calls".into(), llm.clone()));
    }
    out
}

/// Evaluates every series at `t` (ms) into rows; errors are logged and the series skipped.
pub(crate) fn evaluate(engine: &Engine, series: &[(String, String)], t: i64) -> Vec<HistoryRow> {
    let mut rows = Vec::new();
    for (name, expr) in series {
        match engine.instant(expr, t).map(|o| o.value) {
            Ok(crate::promql::Value::Vector(samples)) => {
                for s in samples {
                    let labels: BTreeMap<String, String> =
                        s.labels.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    let labels = serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into());
                    rows.push(HistoryRow { name: name.clone(), labels, ts: t, value: s.v });
                }
            }
            Ok(crate::promql::Value::Scalar(v)) => {
                rows.push(HistoryRow { name: name.clone(), labels: "{}".into(), ts: t, value: v })
            }
            Ok(_) => tracing::warn!(series = %name, "history series must be an instant vector or scalar"),
            Err(e) => tracing::warn!(series = %name, error = %e.msg, "history series evaluation failed"),
        }
    }
    rows
}

/// Runs the writer until `stop`.
pub(crate) async fn run(engine: Engine, storage: Storage, cfg: Arc<Config>, mut stop: watch::Receiver<bool>) {
    let series = series(&cfg);
    let every = cfg.history.interval.get();
    let retention = cfg.history.retention.get().as_millis() as i64;
    let mut pruned_at = 0i64;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        if !series.is_empty() {
            let (e, s) = (engine.clone(), series.clone());
            if let Ok(rows) = tokio::task::spawn_blocking(move || evaluate(&e, &s, now)).await
                && !rows.is_empty()
                && let Err(e) = storage.insert_history(&rows).await
            {
                tracing::warn!(error = %e, "metric history: write failed");
            }
        }
        if now - pruned_at > 3_600_000 {
            match storage.prune_history(now - retention).await {
                Ok(n) if n > 0 => {
                    tracing::info!(rows = n, "metric history and events: pruned rows past history.retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "metric history: prune failed"),
            }
            pruned_at = now;
        }
        let wait = every.as_millis() as i64 - (chrono::Utc::now().timestamp_millis() % every.as_millis().max(1) as i64);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait.max(1) as u64)) => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
    }
}
