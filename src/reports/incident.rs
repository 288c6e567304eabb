//! *Incident notes* and the *recovery check*. An incident note is filled from an alert (by name
//! or fingerprint, from the stored alert state, else its last history) with the fields the
//! incident template asks for: `time_utc`, `impact`, `symptom`, `mitigation` (the runbook's
//! "Mitigate" steps) and `next_update_eta`. The recovery check reads the last minutes of the
//! history series and says, check by check, whether the service is back: readiness stable,
//! 5xx ratio back to baseline, p95 under target, queue depth no longer rising, retries normal.

use super::{Ctx, ReportError, mean, num, write_atomic, write_json};
use crate::notify::model::rfc3339;
use crate::storage::{AlertRepo, ReportRepo};
use serde_json::{Value, json};

/// Writes an incident note for `alert` (name or fingerprint).
pub(crate) async fn incident(ctx: &Ctx, alert: &str) -> Result<(Value, Vec<String>), ReportError> {
    let stored = ctx.storage.load_alerts().await?;
    let found = stored
        .iter()
        .filter(|a| a.rule == alert || a.fingerprint == alert)
        .max_by_key(|a| (a.state == "firing", a.fired_at.unwrap_or(a.active_at)));
    let (name, labels, annotations, state, at, value) = match found {
        Some(a) => (
            a.rule.clone(),
            serde_json::from_str::<Value>(&a.labels).unwrap_or_default(),
            serde_json::from_str::<Value>(&a.annotations).unwrap_or_default(),
            a.state.clone(),
            a.fired_at.unwrap_or(a.active_at),
            a.value,
        ),
        None => {
            let hist = ctx.storage.list_history(ctx.now - 30 * 86_400_000, 1_000_000).await?;
            let h = hist.iter().rev().find(|c| c.rule == alert || c.fingerprint == alert).ok_or_else(|| {
                ReportError::Input(format!(
                    "no alert named or fingerprinted {alert:?} in the alert state or the last 30 days of history"
                ))
            })?;
            (
                h.rule.clone(),
                serde_json::from_str(&h.labels).unwrap_or_default(),
                json!({}),
                h.to.clone(),
                h.at,
                h.value,
            )
        }
    };
    let runbook = std::fs::read_to_string(
        crate::config::resolve_path(&ctx.base_dir, &ctx.cfg.notify.runbooks_dir).join(format!("{name}.md")),
    )
    .unwrap_or_default();
    let mitigation = crate::notify::template::section_items(&runbook, &["mitigat"], usize::MAX);
    let text = |k: &str| annotations.get(k).and_then(Value::as_str).map(String::from);
    let doc = json!({
        "schema": "sidewatch.incident/v1",
        "alert": name,
        "labels": labels,
        "state": state,
        "time_utc": rfc3339(at),
        "impact": text("description").unwrap_or_else(|| "to be assessed".into()),
        "symptom": format!("{} (value {})", text("summary").unwrap_or_else(|| name.clone()), crate::promql::format_value(value)),
        "mitigation": if mitigation.is_empty() { vec!["to be decided".to_string()] } else { mitigation },
        "next_update_eta": rfc3339(ctx.now + 30 * 60_000),
        "runbook": text("runbook_url"),
        "generated_at": rfc3339(ctx.now),
    });
    let stamp = chrono::DateTime::from_timestamp_millis(ctx.now)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let base = format!("incidents/{stamp}-{name}");
    let (jp, mp) = (ctx.out(&format!("{base}.json")), ctx.out(&format!("{base}.md")));
    write_json(&jp, &doc)?;
    write_atomic(&mp, super::render("incident", &doc)?.as_bytes())?;
    Ok((doc, vec![jp.display().to_string(), mp.display().to_string()]))
}

/// Least-squares slope per minute of `(ts, value)`.
fn slope_per_minute(pts: &[(i64, f64)]) -> Option<f64> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0 as f64 / 60_000.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in pts {
        let x = *t as f64 / 60_000.0 - mx;
        sxy += x * (v - my);
        sxx += x * x;
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Runs the recovery check; `recovered` is true when no check failed and readiness was seen.
pub(crate) async fn recovery(ctx: &Ctx) -> Result<(bool, Value, Vec<String>), ReportError> {
    let rc = &ctx.cfg.recovery;
    let recent_ms = rc.stable_for.get().as_millis() as i64;
    let since = ctx.now - recent_ms;
    let series = |name: &'static str, from: i64, to: i64| {
        let st = ctx.storage.clone();
        async move { st.history(name, from, to).await }
    };
    let mut checks = Vec::new();
    let mut check = |name: &str, status: &str, detail: String| {
        checks.push(json!({"check": name, "status": status, "detail": detail}));
    };
    let ready = series("ready", since - 60_000, ctx.now + 1).await?;
    if ready.is_empty() {
        check("readiness stable", "n/a", "history series `ready` not recorded".into());
    } else {
        let first_ok_since = ready.iter().rev().take_while(|r| r.value >= 1.0).last().map(|r| r.ts);
        let ok = first_ok_since.is_some_and(|t| t <= since)
            && ready.iter().filter(|r| r.ts >= since).all(|r| r.value >= 1.0);
        check(
            "readiness stable",
            if ok { "pass" } else { "fail" },
            format!("ready for {}s (need {}s)", first_ok_since.map_or(0, |t| (ctx.now - t) / 1000), recent_ms / 1000),
        );
    }
    for (name, label) in [("error_ratio", "5xx ratio back to baseline"), ("retry_rate", "retries normal")] {
        let now_v: Vec<f64> = series(name, since, ctx.now + 1).await?.iter().map(|r| r.value).collect();
        let base: Vec<f64> =
            series(name, ctx.now - 86_400_000, since - 3_600_000).await?.iter().map(|r| r.value).collect();
        match (mean(now_v.iter().copied()), mean(base.iter().copied())) {
            (Some(n), Some(b)) => {
                let ok = n <= b * rc.baseline_tolerance + 1e-9;
                check(
                    label,
                    if ok { "pass" } else { "fail" },
                    format!("last {}m mean {} vs baseline {}", recent_ms / 60_000, num(Some(n)), num(Some(b))),
                );
            }
            _ => check(label, "n/a", format!("history series `{name}` has too little data")),
        }
    }
    let p95: Vec<f64> = series("latency_p95", since, ctx.now + 1).await?.iter().map(|r| r.value).collect();
    match p95.iter().cloned().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))) {
        Some(max) => check(
            "p95 under target",
            if max <= rc.p95_target_seconds { "pass" } else { "fail" },
            format!("max {} s vs target {} s", num(Some(max)), rc.p95_target_seconds),
        ),
        None => check("p95 under target", "n/a", "history series `latency_p95` not recorded".into()),
    }
    let q: Vec<(i64, f64)> = series("queue_depth", since, ctx.now + 1).await?.iter().map(|r| (r.ts, r.value)).collect();
    match slope_per_minute(&q) {
        Some(s) => check(
            "queue depth not rising",
            if s <= 0.0 { "pass" } else { "fail" },
            format!("slope {} per minute", num(Some(s))),
        ),
        None => check("queue depth not rising", "n/a", "history series `queue_depth` has too little data".into()),
    }
    let failed = checks.iter().any(|c| c["status"] == "fail");
    let readiness_seen = checks.first().is_some_and(|c| c["status"] == "pass");
    let recovered = !failed && readiness_seen;
    let doc = json!({"schema": "sidewatch.recovery/v1", "generated_at": rfc3339(ctx.now), "recovered": recovered, "checks": checks});
    let (jp, mp) = (ctx.out("recovery/recovery_latest.json"), ctx.out("recovery/recovery_latest.md"));
    write_json(&jp, &doc)?;
    write_atomic(&mp, super::render("recovery", &doc)?.as_bytes())?;
    Ok((recovered, doc, vec![jp.display().to_string(), mp.display().to_string()]))
}
