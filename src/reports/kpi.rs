//! The daily *KPI rollup* for one UTC date (default: yesterday, the latest full day): daily
//! active users, each `[[kpi.funnels]]` rate (users who did `to` / users who did `from`) with
//! its 7-day average and change, D1 and D7 retention per cohort (`n/a` until the cohort is
//! mature and when it has fewer than `kpi.min_cohort_size` users), and *KPI alerts*: a funnel
//! whose latest day is `warn_drop_pct` / `crit_drop_pct` below its 7-day average. Critical
//! ones are sent to `kpi.receiver` through the notification outbox (so the cooldown drops an
//! identical alert within `notify.cooldown`). Written as `kpi/<date>.json` and `kpi/<date>.md`.

use super::{Ctx, ReportError, date_of, day_of, frame, mean, num, write_atomic, write_json};
use crate::storage::ReportRepo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Schema of `kpi/<date>.json`.
pub(crate) const SCHEMA: &str = "sidewatch.kpi/v1";
const DAY: i64 = 86_400_000;
/// Days before the rollup's date whose daily counts and active users it loads.
pub(crate) const LOADED_DAYS: i64 = 37;

/// The day to roll up: `date`, or yesterday.
pub(crate) fn target_day(ctx: &Ctx, date: Option<&str>) -> Result<i64, ReportError> {
    let today = day_of(ctx.now);
    let day = match date {
        Some(d) => super::parse_date(d)?,
        None => today - 1,
    };
    if day > today {
        return Err(ReportError::Input(format!(
            "date {} is in the future (today is {})",
            date_of(day),
            date_of(today)
        )));
    }
    Ok(day)
}

/// Funnel rates per day: `to` users / `from` users.
fn rates(
    users: &HashMap<(&str, i64), i64>,
    from: &str,
    to: &str,
    days: impl Iterator<Item = i64>,
) -> BTreeMap<i64, f64> {
    days.filter_map(|d| {
        let f = *users.get(&(from, d))?;
        (f > 0).then(|| (d, *users.get(&(to, d)).unwrap_or(&0) as f64 / f as f64))
    })
    .collect()
}

/// What the rollup reads from the database: three grouped queries, not the events themselves.
pub struct Loaded {
    /// Distinct users and events per day and event name, the 37 days up to the date.
    pub(crate) counts: Vec<crate::storage::DailyCount>,
    /// Daily active users (day → users), the same days.
    pub(crate) dau: BTreeMap<i64, i64>,
    /// Retention cohorts first seen in the 30 days up to the date.
    pub(crate) cohorts: Vec<crate::storage::Cohort>,
}

/// Computes the rollup (no files); the JSON document.
pub async fn compute(ctx: &Ctx, day: i64) -> Result<Value, ReportError> {
    build(ctx, day, &load(ctx, day).await?).await
}

/// Loads what the rollup for `day` needs; fails when a funnel names an event never recorded.
pub async fn load(ctx: &Ctx, day: i64) -> Result<Loaded, ReportError> {
    let (start, end) = ((day - LOADED_DAYS) * DAY, (day + 1) * DAY);
    // The three grouped queries run at once, each on its own pooled connection.
    let (counts, dau, cohorts) = tokio::try_join!(
        ctx.storage.daily_counts(start, end),
        ctx.storage.daily_active(start, end),
        ctx.storage.cohorts(day - 30, day),
    )?;
    for f in &ctx.cfg.kpi.funnels {
        for e in [&f.from, &f.to] {
            if !counts.iter().any(|c| &c.name == e) && !ctx.storage.event_exists(e).await? {
                let mut known: Vec<&str> = counts.iter().map(|c| c.name.as_str()).collect();
                known.sort();
                known.dedup();
                return Err(ReportError::Input(format!(
                    "funnel {:?}: no event named {e:?} was ever recorded (recent: {})",
                    f.name,
                    known.join(", ")
                )));
            }
        }
    }
    Ok(Loaded { counts, dau: dau.into_iter().collect(), cohorts })
}

/// Builds the rollup document for `day` from what [`load`] read (retention rates on a polars
/// DataFrame of the cohort rows, off the async runtime).
pub async fn build(ctx: &Ctx, day: i64, loaded: &Loaded) -> Result<Value, ReportError> {
    let cfg = &ctx.cfg.kpi;
    let rows = loaded.cohorts.clone();
    let min_size = i64::try_from(cfg.min_cohort_size).unwrap_or(i64::MAX);
    let retention = frame::off_runtime(move || frame::retention(&rows, day, min_size)).await?;
    let (counts, dau) = (&loaded.counts, &loaded.dau);
    let users: HashMap<(&str, i64), i64> = counts.iter().map(|c| ((c.name.as_str(), c.day), c.users)).collect();
    let mut funnels = Vec::new();
    let mut alerts = Vec::new();
    for f in &cfg.funnels {
        let r = rates(&users, &f.from, &f.to, day - 30..=day);
        let latest = r.get(&day).copied();
        let avg7 = mean((day - 7..day).filter_map(|d| r.get(&d).copied()));
        let prev_week = mean((day - 14..day - 7).filter_map(|d| r.get(&d).copied()));
        let drop_pct = match (latest, avg7) {
            (Some(l), Some(a)) if a > 0.0 => Some((a - l) / a * 100.0),
            _ => None,
        };
        let severity = match drop_pct {
            Some(d) if f.crit_drop_pct > 0.0 && d >= f.crit_drop_pct => "critical",
            Some(d) if f.warn_drop_pct > 0.0 && d >= f.warn_drop_pct => "warning",
            _ => "ok",
        };
        if severity != "ok" {
            alerts.push(json!({"funnel": f.name, "severity": severity, "latest": num(latest), "avg7": num(avg7),
                "drop_pct": num(drop_pct), "threshold_pct": if severity == "critical" { f.crit_drop_pct } else { f.warn_drop_pct }}));
        }
        funnels.push(json!({
            "name": f.name, "from": f.from, "to": f.to,
            "latest": num(latest), "avg7": num(avg7), "prev_week_avg": num(prev_week), "drop_pct": num(drop_pct),
            "severity": severity,
            "daily": r.iter().map(|(d, v)| json!({"date": date_of(*d), "rate": num(Some(*v))})).collect::<Vec<_>>(),
        }));
    }
    let dau_latest = dau.get(&day).map(|v| *v as f64);
    let dau_avg7 = mean((day - 7..day).filter_map(|d| dau.get(&d).map(|v| *v as f64)));
    let na = |r: Option<f64>| r.map_or(json!("n/a"), |v| num(Some(v)));
    let cohorts: Vec<Value> = retention
        .iter()
        .map(|c| json!({"cohort": date_of(c.day), "size": c.size, "d1": na(c.d1), "d7": na(c.d7)}))
        .collect();
    let count = |s: &str| alerts.iter().filter(|a| a["severity"] == s).count();
    Ok(json!({
        "schema": SCHEMA,
        "date": date_of(day),
        "generated_at": crate::notify::model::rfc3339(ctx.now),
        "dau": {"latest": num(dau_latest), "avg7": num(dau_avg7),
                 "daily": dau.iter().filter(|(d, _)| **d >= day - 30).map(|(d, v)| json!({"date": date_of(*d), "users": v})).collect::<Vec<_>>()},
        "funnels": funnels,
        "retention": {"min_cohort_size": cfg.min_cohort_size, "cohorts": cohorts},
        "alerts": {"warning": count("warning"), "critical": count("critical"), "items": alerts},
        "events_today": counts.iter().filter(|c| c.day == day).map(|c| json!({"name": c.name, "events": c.events, "users": c.users})).collect::<Vec<_>>(),
    }))
}

/// Queues critical KPI alerts for `kpi.receiver` (cooldown applies) and sends them now.
async fn notify_critical(ctx: &Ctx, doc: &Value) -> Result<usize, ReportError> {
    let receiver = &ctx.cfg.kpi.receiver;
    let items: Vec<&Value> =
        doc["alerts"]["items"].as_array().into_iter().flatten().filter(|a| a["severity"] == "critical").collect();
    if receiver.is_empty() || items.is_empty() {
        return Ok(0);
    }
    let plan = crate::notify::Plan::build(&ctx.cfg.notify, &ctx.base_dir, &ctx.cfg.external_url())
        .map_err(|e| ReportError::Compute(format!("[notify]: {e}")))?;
    use crate::notify::model::{AlertData, AlertExtra, Map, Notification, ZERO_TIME, fingerprint, rfc3339};
    let alerts: Vec<AlertData> = items
        .iter()
        .map(|a| {
            let labels: Map =
                [("alertname", "KpiDrop"), ("funnel", a["funnel"].as_str().unwrap_or("")), ("severity", "critical")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            let summary = format!(
                "{}: {} vs 7-day average {} ({}% drop) on {}",
                a["funnel"].as_str().unwrap_or(""),
                a["latest"],
                a["avg7"],
                a["drop_pct"],
                doc["date"].as_str().unwrap_or("")
            );
            AlertData {
                status: crate::notify::model::AlertStatus::Firing,
                fingerprint: format!("{:016x}", fingerprint(&labels)),
                annotations: [("summary".to_string(), summary)].into(),
                labels,
                starts_at: rfc3339(ctx.now),
                ends_at: ZERO_TIME.into(),
                generator_url: String::new(),
                sidewatch: Some(AlertExtra { value: a["drop_pct"].to_string(), ..Default::default() }),
            }
        })
        .collect();
    let group: Map = [("alertname".to_string(), "KpiDrop".to_string())].into();
    let n = Notification::build(receiver, "{}:{alertname=\"KpiDrop\"}", &group, &ctx.cfg.external_url(), alerts, 0);
    let out = vec![crate::notify::dispatch::Outgoing {
        receiver: receiver.clone(),
        kind: "firing".into(),
        notification: n,
        suppressed: None,
        reminder: None,
    }];
    crate::notify::enqueue(&plan, &ctx.storage, out, ctx.now).await?;
    Ok(crate::notify::deliver_due(&plan, &ctx.storage).await)
}

/// Makes the rollup for `date` (default yesterday); returns its JSON and the paths written.
pub(crate) async fn run(ctx: &Ctx, date: Option<&str>) -> Result<(Value, Vec<String>), ReportError> {
    let day = target_day(ctx, date)?;
    let doc = compute(ctx, day).await?;
    let json_path = ctx.out(&format!("kpi/{}.json", date_of(day)));
    let md_path = ctx.out(&format!("kpi/{}.md", date_of(day)));
    write_json(&json_path, &doc)?;
    write_atomic(&md_path, super::render("kpi", &doc)?.as_bytes())?;
    notify_critical(ctx, &doc).await?;
    Ok((doc, vec![json_path.display().to_string(), md_path.display().to_string()]))
}
