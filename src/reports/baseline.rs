//! The *baseline*: what "normal" looked like just now, to compare with before and after a
//! change. N windows of M minutes of every history series (count, mean, min, max, p95), the
//! latest value of each, the thresholds of the alerting rules (and of stop conditions: rules
//! labelled `stop_condition`), today's LLM call and spend counters and the recent provider
//! failure rate (history series `llm_calls`, `llm_spend_usd`, `provider_failure_ratio`, when
//! recorded). Written as `baseline/baseline_latest.json`, `baseline/metrics/metrics_latest.json`,
//! timestamped copies, and `baseline/baseline_latest.md`.

use super::{Ctx, ReportError, frame, num, write_atomic, write_json};
use crate::storage::ReportRepo;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Schema of `baseline_latest.json`.
pub(crate) const SCHEMA: &str = "sidewatch.baseline/v1";

/// The threshold of `expr` when it is `<something> <cmp> <number>` (or the number first).
fn threshold(expr: &promql_parser::parser::Expr) -> Option<(String, f64)> {
    use promql_parser::parser::Expr;
    let Expr::Binary(b) = expr else { return None };
    let op = b.op.to_string();
    if !matches!(op.as_str(), ">" | "<" | ">=" | "<=" | "==" | "!=") {
        // `a > x or b > y`: the first comparison's threshold.
        return threshold(&b.lhs);
    }
    match (&*b.lhs, &*b.rhs) {
        (_, Expr::NumberLiteral(n)) => Some((op, n.val)),
        (Expr::NumberLiteral(n), _) => Some((op, n.val)),
        _ => None,
    }
}

/// The alerting rules' thresholds, from the rule files on disk.
pub(crate) fn thresholds(ctx: &Ctx) -> Vec<Value> {
    let r = &ctx.cfg.rules;
    let groups = crate::rules::load_globs(&ctx.base_dir, &r.files, r.evaluation_interval.get().as_millis() as i64);
    let mut out = Vec::new();
    for g in groups.unwrap_or_default() {
        for rule in g.rules.iter().filter(|r| r.alert.is_some()) {
            let t = threshold(&rule.expr);
            out.push(json!({
                "alert": rule.name(),
                "group": g.name,
                "expr": rule.expr_text,
                "op": t.as_ref().map(|t| t.0.clone()),
                "threshold": t.map(|t| t.1),
                "for_seconds": rule.for_ms / 1000,
                "severity": rule.labels.get("severity"),
                "stop_condition": rule.labels.get("stop_condition").is_some_and(|v| v == "true"),
            }));
        }
    }
    out
}

async fn sum_today(ctx: &Ctx, name: &str) -> Result<Option<f64>, ReportError> {
    let start = super::day_of(ctx.now) * 86_400_000;
    let rows = ctx.storage.history(name, start, ctx.now + 1).await?;
    Ok((!rows.is_empty()).then(|| rows.last().map(|r| r.value).unwrap_or(0.0)))
}

/// Makes the baseline; returns its JSON and the paths written.
pub(crate) async fn run(ctx: &Ctx, windows: u32, window_minutes: u32) -> Result<(Value, Vec<String>), ReportError> {
    if windows == 0 || window_minutes == 0 {
        return Err(ReportError::Input("--windows and --window-minutes must be at least 1".into()));
    }
    let window_ms = window_minutes as i64 * 60_000;
    let start = ctx.now - window_ms * windows as i64;
    let mut series = BTreeMap::new();
    let mut latest = BTreeMap::new();
    for s in &ctx.cfg.history.series {
        let rows = ctx.storage.history(&s.name, start, ctx.now + 1).await?;
        let pts: Vec<(i64, f64)> = rows.iter().map(|r| (r.ts, r.value)).collect();
        let stats = frame::off_runtime(move || frame::window_stats(&pts, start, window_ms, windows as usize)).await?;
        series.insert(s.name.clone(), json!({"expr": s.expr, "windows": stats}));
        latest.insert(
            s.name.clone(),
            match rows.last() {
                Some(r) => json!({"value": r.value, "at": super::super::notify::model::rfc3339(r.ts), "labels": serde_json::from_str::<Value>(&r.labels).unwrap_or_default()}),
                None => json!("n/a"),
            },
        );
    }
    let provider = ctx.storage.history("provider_failure_ratio", ctx.now - 3_600_000, ctx.now + 1).await?;
    let provider_rate =
        (!provider.is_empty()).then(|| provider.iter().map(|r| r.value).sum::<f64>() / provider.len() as f64);
    let generated = super::super::notify::model::rfc3339(ctx.now);
    let doc = json!({
        "schema": SCHEMA,
        "generated_at": generated,
        "windows": windows,
        "window_minutes": window_minutes,
        "from": super::super::notify::model::rfc3339(start),
        "to": generated,
        "series": series,
        "latest": latest,
        "alert_thresholds": thresholds(ctx),
        "llm": {
            "calls_today": num(sum_today(ctx, "llm_calls").await?),
            "spend_usd_today": num(sum_today(ctx, "llm_spend_usd").await?),
        },
        "provider_failure_rate_1h": num(provider_rate),
    });
    let metrics = json!({"schema": "sidewatch.metrics/v1", "generated_at": generated, "metrics": latest});
    let stamp = chrono::DateTime::from_timestamp_millis(ctx.now)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let paths = [("baseline/baseline_latest.json", &doc), ("baseline/metrics/metrics_latest.json", &metrics)];
    let mut written = Vec::new();
    for (rel, v) in paths {
        write_json(&ctx.out(rel), v)?;
        written.push(ctx.out(rel).display().to_string());
    }
    write_json(&ctx.out(&format!("baseline/baseline_{stamp}.json")), &doc)?;
    write_json(&ctx.out(&format!("baseline/metrics/metrics_{stamp}.json")), &metrics)?;
    let md = super::render("baseline", &doc)?;
    write_atomic(&ctx.out("baseline/baseline_latest.md"), md.as_bytes())?;
    written.push(ctx.out("baseline/baseline_latest.md").display().to_string());
    Ok((doc, written))
}
