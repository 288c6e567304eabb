//! The weekly *digest* a lead reads in one minute: for `lookback_days` × 24 h ending at the end
//! of the anchor date (UTC, anchor day included), a headline, the KPI table (against the
//! previous week and the 7-day average), availability and error budget, the incidents of the
//! week with MTTD and MTTR, the noisiest alerts, failed deliveries, baseline shifts and one SVG
//! chart per key metric, with evidence links. It is written only when the *evidence gate*
//! holds (`[digest.evidence]`: enough events and LLM calls in the window) — otherwise the
//! answer is `insufficient_evidence` with observed and required counts and nothing is written —
//! and only once per anchor date unless duplicates are allowed.

use super::{Ctx, ReportError, charts, date_of, day_of, frame, mean, num, query_link, write_atomic, write_json};
use crate::notify::model::rfc3339;
use crate::storage::{AlertRepo, OutboxFilter, OutboxRepo, ReportRepo};
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

/// Incidents (alerts that fired) in the window with MTTD (active → firing) and MTTR (firing →
/// resolved), and the noisiest alerts.
async fn incidents(ctx: &Ctx, start: i64, end: i64) -> Result<(Vec<Value>, Vec<Value>), ReportError> {
    let changes = ctx.storage.list_history(start - 7 * DAY, 1_000_000).await?;
    let mut open: BTreeMap<String, (i64, Option<i64>)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut noisy: BTreeMap<String, u32> = BTreeMap::new();
    for c in changes.iter().filter(|c| c.at < end) {
        match c.to.as_str() {
            "pending" => {
                open.insert(c.fingerprint.clone(), (c.at, None));
            }
            "firing" => {
                let e = open.entry(c.fingerprint.clone()).or_insert((c.at, None));
                e.1 = Some(c.at);
                if c.at >= start {
                    *noisy.entry(c.rule.clone()).or_default() += 1;
                }
            }
            "inactive" => {
                if let Some((active, Some(fired))) = open.remove(&c.fingerprint)
                    && c.at >= start
                {
                    out.push(
                        json!({"alert": c.rule, "labels": serde_json::from_str::<Value>(&c.labels).unwrap_or_default(),
                        "fired_at": rfc3339(fired), "resolved_at": rfc3339(c.at),
                        "mttd_seconds": (fired - active) / 1000, "mttr_seconds": (c.at - fired) / 1000}),
                    );
                }
            }
            _ => {}
        }
    }
    for (fp, (active, fired)) in open {
        if let Some(f) = fired.filter(|f| *f < end) {
            let rule = changes.iter().find(|c| c.fingerprint == fp).map(|c| c.rule.clone()).unwrap_or_default();
            out.push(json!({"alert": rule, "labels": {}, "fired_at": rfc3339(f), "resolved_at": "still firing",
                "mttd_seconds": (f - active) / 1000, "mttr_seconds": "n/a"}));
        }
    }
    let mut n: Vec<(String, u32)> = noisy.into_iter().collect();
    n.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok((out, n.into_iter().take(5).map(|(a, c)| json!({"alert": a, "fired": c})).collect()))
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
    if events < ev.min_events || calls < ev.min_llm_calls {
        return Ok((Status::InsufficientEvidence, answer(Status::InsufficientEvidence, vec![]), None));
    }
    let key = date_of(anchor);
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
    let (incidents, noisiest) = incidents(ctx, start, end).await?;
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
    let mut availability = json!({"error_ratio": "n/a", "availability": "n/a", "slo_target": ctx.cfg.digest.slo_target, "error_budget_left": "n/a"});
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
            availability = json!({"error_ratio": num(Some(er)), "availability": num(Some(1.0 - er)), "slo_target": target,
                "error_budget_left": num((budget > 0.0).then(|| 1.0 - er / budget))});
        }
        let pts: Vec<(i64, f64)> = rows.iter().filter(|r| r.ts >= start).map(|r| (r.ts, r.value)).collect();
        let n = (span / 3_600_000) as usize;
        let hourly = frame::off_runtime(move || frame::window_stats(&pts, start, 3_600_000, n)).await?;
        svgs.push((s.name.clone(), hourly.iter().filter_map(|w| w.mean.map(|m| (w.start, m))).collect()));
    }
    for (name, pts) in &svgs {
        let svg = charts::line_svg(name, pts).map_err(|e| ReportError::Compute(e.to_string()))?;
        let rel = format!("{dir}/{name}.svg");
        write_atomic(&ctx.out(&rel), svg.as_bytes())?;
        charts.push(json!({"metric": name, "path": rel, "file": format!("{key}/{name}.svg")}));
    }
    let headline = format!(
        "{} incident(s), {} failed deliveries, daily active users {} (previous week {})",
        incidents.len(),
        failed.len(),
        num(mean(this_w.iter().copied())),
        num(mean(prev_w.iter().copied()))
    );
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
        "dau": {"mean": num(mean(this_w.iter().copied())), "previous_mean": num(mean(prev_w.iter().copied()))},
        "kpi": {"funnels": kpi["funnels"], "alerts": kpi["alerts"], "retention": kpi["retention"]},
        "availability": availability,
        "incidents": incidents,
        "noisiest_alerts": noisiest,
        "failed_deliveries": {"total": failed.len(), "by_channel": failed_by,
            "examples": failed.iter().take(5).map(|r| json!({"id": r.id, "alerts": r.alert_names, "channel": r.channel, "error": r.error_text})).collect::<Vec<_>>()},
        "baseline_shifts": shifts,
        "charts": charts,
    });
    let md = super::render("digest", &doc)?;
    let (jp, mp) = (ctx.out(&format!("digests/{key}.json")), ctx.out(&format!("digests/{key}.md")));
    write_json(&jp, &doc)?;
    write_atomic(&mp, md.as_bytes())?;
    ctx.storage.record_draft("digest", &key, &mp.display().to_string(), ctx.now, true).await?;
    let paths = vec![jp.display().to_string(), mp.display().to_string()];
    Ok((Status::Written, answer(Status::Written, paths), Some(md)))
}
