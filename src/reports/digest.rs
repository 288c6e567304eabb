//! The weekly *digest* a lead reads in one minute: for `lookback_days` × 24 h ending at the end
//! of the anchor date (UTC, anchor day included), a headline, the KPI table (against the
//! previous week and the 7-day average), availability and error budget, the incidents of the
//! week with MTTD and MTTR, the noisiest alerts, failed deliveries, baseline shifts and one SVG
//! chart per key metric, with evidence links. It is written only when the *evidence gate*
//! holds (`[digest.evidence]`: enough events and LLM calls in the window) — otherwise the
//! answer is `insufficient_evidence` with observed and required counts and nothing is written —
//! and only once per anchor date unless duplicates are allowed.

use super::format::{arrow, change, int, pct};
use super::{
    Ctx, ReportError, charts, date_of, day_of, frame, incidents, mean, num, query_link, write_atomic, write_json,
};
use crate::notify::model::rfc3339;
use crate::storage::{OutboxFilter, OutboxRepo, ReportRepo};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Schema of `digests/<anchor>.json`.
pub(crate) const SCHEMA: &str = "sidewatch.digest/v1";
const DAY: i64 = 86_400_000;

/// What to make.
#[derive(Clone, Debug)]
pub struct DigestArgs {
    /// Days covered.
    pub lookback_days: u32,
    /// `YYYY-MM-DD`; default today.
    pub anchor: Option<String>,
    /// Write even when a draft for the anchor exists.
    pub allow_duplicate_anchor: bool,
}

/// How a digest request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Written.
    Written,
    /// The evidence gate held it back.
    InsufficientEvidence,
    /// A draft for the anchor exists.
    DuplicateAnchor,
}

impl Status {
    /// As in the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Written => "written",
            Status::InsufficientEvidence => "insufficient_evidence",
            Status::DuplicateAnchor => "duplicate_anchor",
        }
    }
    /// The CLI's exit status: 0, 3, 4.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Status::Written => 0,
            Status::InsufficientEvidence => 3,
            Status::DuplicateAnchor => 4,
        }
    }
}

/// The largest range selector in `expr` (ms), e.g. 3,600,000 for `increase(x[1h])`.
fn max_range_ms(expr: &str) -> Option<i64> {
    let e = promql_parser::parser::parse(expr).ok()?;
    crate::promql::lookback_by_metric(&e).into_iter().map(|(_, span)| span).filter(|s| *s > 0).max()
}

/// LLM calls in the window: events named `llm_call`, or the `llm_calls` history series (the
/// recorded `llm_calls_expr`) read at steps of the expression's range.
async fn llm_calls(ctx: &Ctx, counts: &[(String, i64)], start: i64, end: i64) -> Result<u64, ReportError> {
    let expr = &ctx.cfg.digest.evidence.llm_calls_expr;
    if expr.is_empty() {
        return Ok(counts.iter().filter(|(n, _)| n == "llm_call").map(|(_, c)| *c as u64).sum());
    }
    let step = max_range_ms(expr).unwrap_or(ctx.cfg.history.interval.get().as_millis() as i64).max(1);
    let rows = ctx.storage.history("llm_calls", start, end + 1).await?;
    let mut total = 0.0;
    let mut t = start + step;
    while t <= end {
        if let Some(r) = rows.iter().rev().find(|r| r.ts <= t && r.ts > t - step) {
            total += r.value.max(0.0);
        }
        t += step;
    }
    Ok(total.round() as u64)
}

/// Makes the digest; returns the answer (status, observed, required, paths) and the Markdown.
pub async fn run(ctx: &Ctx, args: &DigestArgs) -> Result<(Status, Value, Option<String>), ReportError> {
    if args.lookback_days == 0 {
        return Err(ReportError::Input("--lookback-days must be at least 1".into()));
    }
    let today = day_of(ctx.now);
    let anchor = match &args.anchor {
        Some(a) => super::parse_date(a)?,
        None => today,
    };
    if anchor > today {
        return Err(ReportError::Input(format!(
            "anchor date {} is in the future (today is {})",
            date_of(anchor),
            date_of(today)
        )));
    }
    let end = (anchor + 1) * DAY;
    let start = end - args.lookback_days as i64 * DAY;
    let ev = &ctx.cfg.digest.evidence;
    let counts = ctx.storage.event_counts(start, end).await?;
    let events: u64 = counts.iter().map(|(_, n)| *n as u64).sum();
    let calls = llm_calls(ctx, &counts, start, end).await?;
    let observed = json!({"events": events, "llm_calls": calls});
    let required = json!({"events": ev.min_events, "llm_calls": ev.min_llm_calls});
    let answer = |status: Status, paths: Vec<String>| {
        json!({"status": status.as_str(), "anchor_date": date_of(anchor), "lookback_days": args.lookback_days,
            "window": {"from": rfc3339(start), "to": rfc3339(end)}, "observed": observed, "required": required, "paths": paths})
    };
    let key = date_of(anchor);
    if events < ev.min_events || calls < ev.min_llm_calls {
        let held = answer(Status::InsufficientEvidence, vec![]);
        if let Err(e) = super::send::held(ctx, &key, &held).await {
            tracing::warn!(error = %e, "cannot announce the held digest");
        }
        return Ok((Status::InsufficientEvidence, held, None));
    }
    if !args.allow_duplicate_anchor && ctx.storage.draft_exists("digest", &key).await? {
        return Ok((Status::DuplicateAnchor, answer(Status::DuplicateAnchor, vec![]), None));
    }

    let loaded = super::kpi::load(ctx, anchor).await?;
    let kpi = super::kpi::build(ctx, anchor, &loaded).await?;
    // This window and the one before: from the KPI's daily active users when it loaded them.
    let from = start - args.lookback_days as i64 * DAY;
    let dau: Vec<(i64, i64)> = if from.div_euclid(DAY) >= anchor - super::kpi::LOADED_DAYS {
        loaded.dau.range(from.div_euclid(DAY)..).map(|(d, u)| (*d, *u)).collect()
    } else {
        ctx.storage.daily_active(from, end).await?
    };
    let (this_w, prev_w): (Vec<f64>, Vec<f64>) = (
        dau.iter().filter(|(d, _)| d * DAY >= start).map(|(_, u)| *u as f64).collect(),
        dau.iter().filter(|(d, _)| d * DAY < start).map(|(_, u)| *u as f64).collect(),
    );
    let found = incidents::list(ctx, start, end, None).await?;
    let groups = incidents::groups(&found);
    let mut noisy: Vec<(&str, usize)> =
        groups.iter().map(|g| (g["alert"].as_str().unwrap_or(""), g["count"].as_u64().unwrap_or(0) as usize)).collect();
    noisy.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let noisiest: Vec<Value> = noisy.iter().take(5).map(|(a, c)| json!({"alert": a, "fired": c})).collect();
    let failed: Vec<_> = ctx
        .storage
        .list_outbox(&OutboxFilter {
            status: Some(crate::storage::OutboxStatus::Failed),
            since: Some(start),
            limit: 10_000,
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|r| r.created_at < end)
        .collect();
    let mut failed_by: BTreeMap<String, u32> = BTreeMap::new();
    for r in &failed {
        *failed_by.entry(r.channel.clone()).or_default() += 1;
    }
    let dir = format!("digests/{key}");
    let mut charts = vec![];
    let mut shifts = vec![];
    let mut availability = json!({"error_ratio": null, "availability": null, "slo_target": ctx.cfg.digest.slo_target,
        "error_budget_left": null, "error_budget_reason": "no `error_ratio` history series in the window ([[history.series]])"});
    let span = end - start;
    let dau_pts: Vec<(i64, f64)> =
        dau.iter().filter(|(d, _)| d * DAY >= start).map(|(d, u)| (d * DAY, *u as f64)).collect();
    let mut svgs = vec![("daily_active_users".to_string(), dau_pts)];
    for s in &ctx.cfg.history.series {
        let rows = ctx.storage.history(&s.name, start - span, end).await?;
        let cur: Vec<f64> = rows.iter().filter(|r| r.ts >= start).map(|r| r.value).collect();
        let prev: Vec<f64> = rows.iter().filter(|r| r.ts < start).map(|r| r.value).collect();
        let (m, pm) = (mean(cur.iter().copied()), mean(prev.iter().copied()));
        let shift = match (m, pm) {
            (Some(a), Some(b)) if b.abs() > f64::EPSILON => Some((a - b) / b.abs() * 100.0),
            _ => None,
        };
        shifts.push(json!({"series": s.name, "mean": num(m), "previous_mean": num(pm), "shift_pct": num(shift),
            "notable": shift.is_some_and(|x| x.abs() >= 20.0), "evidence": query_link(&ctx.cfg, &s.expr, start, end)}));
        if s.name == "error_ratio"
            && let Some(er) = m
        {
            let target = ctx.cfg.digest.slo_target;
            let budget = 1.0 - target;
            availability = json!({"error_ratio": er, "availability": 1.0 - er, "slo_target": target,
                "error_budget_left": (budget > 0.0).then(|| 1.0 - er / budget),
                "error_budget_reason": if budget > 0.0 { Value::Null } else { json!("digest.slo_target is 1: no error budget") }});
        }
        let pts: Vec<(i64, f64)> = rows.iter().filter(|r| r.ts >= start).map(|r| (r.ts, r.value)).collect();
        let n = (span / 3_600_000) as usize;
        let hourly = frame::off_runtime(move || frame::window_stats(&pts, start, 3_600_000, n)).await?;
        svgs.push((s.name.clone(), hourly.iter().filter_map(|w| w.mean.map(|m| (w.start, m))).collect()));
    }
    let mut chart_svgs = Vec::new();
    for (name, pts) in &svgs {
        let svg = charts::line_svg(name, pts).map_err(|e| ReportError::Compute(e.to_string()))?;
        let rel = format!("{dir}/{name}.svg");
        write_atomic(&ctx.out(&rel), svg.as_bytes())?;
        charts.push(json!({"metric": name, "path": rel, "file": format!("{key}/{name}.svg")}));
        chart_svgs.push((name.clone(), svg));
    }
    let (dau_mean, dau_prev) = (mean(this_w.iter().copied()), mean(prev_w.iter().copied()));
    let display = display(&kpi, &availability, &shifts, dau_mean, dau_prev, failed.len());
    let headline = headline(&found, &availability, dau_mean, dau_prev, &kpi);
    let doc = json!({
        "schema": SCHEMA,
        "anchor_date": key,
        "lookback_days": args.lookback_days,
        "window": {"from": rfc3339(start), "to": rfc3339(end)},
        "generated_at": rfc3339(ctx.now),
        "headline": headline,
        "evidence": {"observed": observed, "required": required,
            "events_query": format!("SELECT COUNT(*) FROM events WHERE ts >= {start} AND ts < {end}"),
            "links": ctx.cfg.history.series.iter().map(|s| json!({"series": s.name, "url": query_link(&ctx.cfg, &s.expr, start, end)})).collect::<Vec<_>>()},
        "dau": {"mean": num(dau_mean), "previous_mean": num(dau_prev)},
        "kpi": {"funnels": kpi["funnels"], "alerts": kpi["alerts"], "retention": kpi["retention"]},
        "availability": availability,
        "incidents": found.iter().map(incidents::to_json).collect::<Vec<_>>(),
        "incident_groups": groups,
        "mttd_median_seconds": super::format::median(found.iter().filter_map(|i| i.mttd()).collect()),
        "mttr_median_seconds": super::format::median(found.iter().filter_map(|i| i.mttr()).collect()),
        "noisiest_alerts": noisiest,
        "failed_deliveries": {"total": failed.len(), "by_channel": failed_by,
            "examples": failed.iter().take(5).map(|r| json!({"id": r.id, "alerts": r.alert_names, "channel": r.channel, "error": r.error_text})).collect::<Vec<_>>()},
        "baseline_shifts": shifts,
        "charts": charts,
        "display": display,
    });
    let md = super::render("digest", &doc)?;
    let (jp, mp) = (ctx.out(&format!("digests/{key}.json")), ctx.out(&format!("digests/{key}.md")));
    let hp = ctx.out(&format!("digests/{key}.html"));
    write_json(&jp, &doc)?;
    write_atomic(&mp, md.as_bytes())?;
    // The same content as one page, the charts as images beside it.
    write_atomic(&hp, super::html::page(&format!("Weekly digest {key}"), &md, &|l: &str| l.to_string()).as_bytes())?;
    ctx.storage.record_draft("digest", &key, &mp.display().to_string(), ctx.now, true).await?;
    if let Err(e) = super::send::written(ctx, &key, &doc, &md, &chart_svgs).await {
        // The digest is written; its delivery is retried by a running sidewatch or not queued.
        tracing::warn!(error = %e, "cannot queue the digest for digest.receivers");
    }
    let paths = vec![jp.display().to_string(), mp.display().to_string(), hp.display().to_string()];
    Ok((Status::Written, answer(Status::Written, paths), Some(md)))
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The error budget as a lead reads it: `63.0% left`, `exhausted (250.0% used)`, or why not.
fn budget_text(availability: &Value) -> String {
    match f(&availability["error_budget_left"]) {
        Some(left) if left >= 0.0 => format!("{} left", pct(Some(left))),
        Some(left) => format!("exhausted ({} used)", pct(Some(1.0 - left))),
        None => format!("not shown: {}", availability["error_budget_reason"].as_str().unwrap_or("unknown")),
    }
}

/// One sentence: incidents by SEV, median MTTR, error budget left, DAU with its week-over-week
/// change, the worst KPI move.
fn headline(
    found: &[incidents::Incident],
    availability: &Value,
    dau: Option<f64>,
    prev: Option<f64>,
    kpi: &Value,
) -> String {
    let mut by_sev: BTreeMap<&str, usize> = BTreeMap::new();
    for i in found {
        *by_sev.entry(&i.sev).or_default() += 1;
    }
    let incidents = if found.is_empty() {
        "No incidents".to_string()
    } else {
        let sevs: Vec<String> = by_sev.iter().map(|(s, n)| format!("{n} {s}")).collect();
        format!("{} incident{} ({})", found.len(), if found.len() == 1 { "" } else { "s" }, sevs.join(", "))
    };
    let mttr = super::format::median(found.iter().filter_map(|i| i.mttr()).collect());
    let mut parts = vec![incidents];
    if mttr.is_some() {
        parts.push(format!("median MTTR {}", super::format::duration(mttr)));
    }
    if !availability["error_budget_left"].is_null() {
        parts.push(format!("error budget {}", budget_text(availability)));
    }
    parts.push(format!("DAU {} ({} week over week)", int(dau), change(dau, prev)));
    let worst = kpi["funnels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|fu| Some((fu["name"].as_str()?.to_string(), f(&fu["drop_pct"])?)))
        .filter(|(_, d)| d.abs() >= 0.05)
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    if let Some((name, drop)) = worst {
        parts.push(format!("worst KPI move: {name} {}", arrow(-drop)));
    }
    parts.join(", ") + "."
}

/// What the Markdown shows, formatted (the JSON keeps the numbers).
fn display(
    kpi: &Value,
    availability: &Value,
    shifts: &[Value],
    dau: Option<f64>,
    prev: Option<f64>,
    failed: usize,
) -> Value {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let funnels: Vec<Value> = list(&kpi["funnels"])
        .iter()
        .map(|fu| {
            json!({"name": fu["name"], "latest": pct(f(&fu["latest"])), "avg7": pct(f(&fu["avg7"])),
                "prev_week": pct(f(&fu["prev_week_avg"])),
                "change": f(&fu["drop_pct"]).map_or_else(|| "n/a".to_string(), |d| arrow(-d)),
                "severity": fu["severity"], "flagged": fu["severity"] != "ok"})
        })
        .collect();
    let cohorts: Vec<Value> = list(&kpi["retention"]["cohorts"])
        .iter()
        .map(|c| json!({"cohort": c["cohort"], "size": int(f(&c["size"])), "d1": pct(f(&c["d1"])), "d7": pct(f(&c["d7"]))}))
        .collect();
    let shifts: Vec<Value> = shifts
        .iter()
        .map(|s| {
            let n = |v: &Value| f(v).map_or_else(|| "n/a".to_string(), |x| format!("{}", (x * 1000.0).round() / 1000.0));
            json!({"series": s["series"], "evidence": s["evidence"], "mean": n(&s["mean"]), "previous": n(&s["previous_mean"]),
                "shift": f(&s["shift_pct"]).map_or_else(|| "n/a".to_string(), arrow), "notable": s["notable"]})
        })
        .collect();
    json!({
        "dau": {"mean": int(dau), "previous": int(prev), "change": change(dau, prev)},
        "funnels": funnels,
        "cohorts": cohorts,
        "availability": {"error_ratio": pct(f(&availability["error_ratio"])), "availability": pct(f(&availability["availability"])),
            "slo_target": pct(f(&availability["slo_target"])), "budget": budget_text(availability)},
        "baseline_shifts": shifts,
        "failed_total": int(Some(failed as f64)),
        "kpi_alerts": {"warning": int(f(&kpi["alerts"]["warning"])), "critical": int(f(&kpi["alerts"]["critical"]))},
    })
}
