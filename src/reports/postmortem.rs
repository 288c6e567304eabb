//! The *post-incident pack* (`sidewatch report postmortem --alert NAME [--since 7d]`): a
//! Markdown skeleton for the runbook's incident report — the alert's incidents with SEV, MTTD
//! and MTTR, a timeline merged from the alert history and its deliveries, a chart of how many
//! of its instances fired, hour by hour, around the incidents, the timeline as CSV beside it,
//! and empty sections for impact, root cause and preventive actions.

use super::format::duration;
use super::{Ctx, ReportError, charts, incidents, write_atomic, write_json};
use crate::notify::model::rfc3339;
use crate::storage::{AlertRepo, OutboxFilter, OutboxRepo};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

/// Writes the pack for `alert` over the last `since_ms`; returns its document and paths.
pub(crate) async fn write(ctx: &Ctx, alert: &str, since_ms: i64) -> Result<(Value, Vec<String>), ReportError> {
    let start = ctx.now - since_ms;
    let found = incidents::list(ctx, start, ctx.now + 1, Some(alert)).await?;
    if found.is_empty() {
        return Err(ReportError::Input(format!(
            "alert {alert:?} did not fire in the last {} (try a longer --since)",
            duration(Some(since_ms / 1000))
        )));
    }
    // Timeline: state changes and deliveries of this alert.
    let mut timeline: Vec<(i64, String, String)> = Vec::new();
    for c in ctx.storage.list_history(start, 1_000_000).await? {
        let labels: std::collections::BTreeMap<String, String> = serde_json::from_str(&c.labels).unwrap_or_default();
        if labels.get("alertname").map_or(c.rule.as_str(), String::as_str) == alert {
            let who: Vec<String> =
                labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}={v}")).collect();
            timeline.push((c.at, format!("{} → {}", c.from, c.to), who.join(" ")));
        }
    }
    let rows = ctx
        .storage
        .list_outbox(&OutboxFilter {
            since: Some(start),
            alertname: Some(alert.into()),
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for r in &rows {
        let at = r.sent_at.unwrap_or(r.created_at);
        let what = format!("{} notification {} via {}/{}", r.kind, r.status, r.receiver, r.channel);
        timeline.push((at, what, r.error_text.clone().unwrap_or_default()));
    }
    timeline.sort();
    // The chart: instances firing, hour by hour, from an hour before the first to an hour after the last.
    let (from, to) = (
        found.iter().map(|i| i.fired_at).min().unwrap_or(start) / HOUR * HOUR - HOUR,
        found.iter().map(|i| i.until).max().unwrap_or(ctx.now) / HOUR * HOUR + 2 * HOUR,
    );
    let pts: Vec<(i64, f64)> = (from..=to)
        .step_by(HOUR as usize)
        .map(|t| (t, found.iter().filter(|i| i.fired_at < t + HOUR && i.until >= t).count() as f64))
        .collect();
    let stamp = chrono::DateTime::from_timestamp_millis(ctx.now)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let safe: String =
        alert.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let base = format!("postmortems/{stamp}-{safe}");
    let svg = charts::line_svg(&format!("{alert}: instances firing"), &pts)
        .map_err(|e| ReportError::Compute(e.to_string()))?;
    write_atomic(&ctx.out(&format!("{base}.svg")), svg.as_bytes())?;
    let mut table = String::from("time,event,detail\n");
    for (at, what, detail) in &timeline {
        table.push_str(&super::format::csv_line(&[rfc3339(*at), what.clone(), detail.clone()]));
        table.push('\n');
    }
    write_atomic(&ctx.out(&format!("{base}.csv")), table.as_bytes())?;
    let sev = found.iter().map(|i| i.sev.clone()).min().unwrap_or_default();
    let mut md = format!(
        "# Incident report — {alert} ({sev})\n\nGenerated {} from sidewatch's alert history and delivery history ({} incident(s) since {}). Fill in the sections marked _to be written_.\n\n",
        rfc3339(ctx.now),
        found.len(),
        rfc3339(start)
    );
    md.push_str("## Summary\n\n| fired | resolved | SEV | MTTD | MTTR / duration |\n|---|---|---|---|---|\n");
    for i in &found {
        let end = i.resolved_at.map_or_else(|| "still firing".to_string(), rfc3339);
        let d = i.mttr().map_or_else(|| format!("{} so far", duration(Some(i.duration()))), |m| duration(Some(m)));
        md.push_str(&format!("| {} | {end} | {} | {} | {d} |\n", rfc3339(i.fired_at), i.sev, duration(i.mttd())));
    }
    md.push_str("\n## Impact\n\n_to be written_: who was affected, how, for how long.\n\n");
    md.push_str("## Timeline\n\n| time (UTC) | event | detail |\n|---|---|---|\n");
    for (at, what, detail) in timeline.iter().take(200) {
        md.push_str(&format!("| {} | {} | {} |\n", rfc3339(*at), what, detail.replace('|', "\\|")));
    }
    if timeline.len() > 200 {
        md.push_str(&format!("\n…{} more rows in the CSV.\n", timeline.len() - 200));
    }
    let file = |ext: &str| format!("{}.{ext}", base.rsplit('/').next().unwrap_or(&base));
    md.push_str(&format!(
        "\nThe whole timeline: [{}]({}).\n\n## Trend\n\n- [instances firing]({})\n\n",
        file("csv"),
        file("csv"),
        file("svg")
    ));
    md.push_str("## Root cause\n\n_to be written_\n\n## What went well, what did not\n\n_to be written_\n\n## Preventive actions\n\n| action | owner | due |\n|---|---|---|\n| _to be written_ | | |\n");
    let doc = json!({
        "schema": "sidewatch.postmortem/v1", "alert": alert, "sev": sev, "generated_at": rfc3339(ctx.now),
        "since": rfc3339(start), "incidents": found.iter().map(incidents::to_json).collect::<Vec<_>>(),
        "timeline_rows": timeline.len(),
    });
    let (jp, mp) = (ctx.out(&format!("{base}.json")), ctx.out(&format!("{base}.md")));
    write_json(&jp, &doc)?;
    write_atomic(&mp, md.as_bytes())?;
    let paths = [jp, mp, ctx.out(&format!("{base}.csv")), ctx.out(&format!("{base}.svg"))];
    Ok((doc, paths.iter().map(|p| p.display().to_string()).collect()))
}
