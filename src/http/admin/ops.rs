//! The *ops view* (`GET /api/v1/admin/ops`): what an operator checks first — environment,
//! read-only or not, failed deliveries in the last hour, the signals, targets, alerts by
//! severity, the outbox backlog, the report jobs' last runs, the version — and the *trend*
//! (`GET /api/v1/admin/analytics?days=14`): per UTC day, alerts fired and resolved and
//! notifications sent and failed, overall and per alert, with the history series' daily means.
//! A *signal* is a named yes/no an operator watches (`fallbackTriggered`): the state of one
//! alert, named through `[admin.signals]` or after the alerting rule itself.

use super::{bad, rfc3339, unavailable};
use crate::alerts::State as AlertState;
use crate::http::AppState;
use crate::jobs::JobKind;
use crate::storage::{AdminRepo, OutboxFilter, OutboxRepo, OutboxStatus, ReportRepo};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 86_400_000;

/// One live alert, as the ops view lists it.
struct Live {
    name: String,
    state: AlertState,
    severity: String,
    since: i64,
    value: f64,
    labels: Map<String, Value>,
    annotations: BTreeMap<String, String>,
}

fn live_alerts(state: &AppState) -> (Vec<Live>, Vec<String>) {
    let (mut out, mut rules) = (Vec::new(), Vec::new());
    let Some(m) = &state.rules else { return (out, rules) };
    for g in m.groups() {
        let g = g.lock().unwrap_or_else(|e| e.into_inner());
        for r in &g.rules {
            let Some(name) = r.rule.alert.clone() else { continue };
            rules.push(name.clone());
            for a in r.alerts.live() {
                let labels: Map<String, Value> =
                    a.labels.0.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
                out.push(Live {
                    name: name.clone(),
                    state: a.state,
                    severity: a.labels.get("severity").unwrap_or("none").to_string(),
                    since: if a.state == AlertState::Firing { a.fired_at.unwrap_or(a.active_at) } else { a.active_at },
                    value: a.value,
                    labels,
                    annotations: a.annotations.clone(),
                });
            }
        }
    }
    (out, rules)
}

fn signals(state: &AppState, live: &[Live], rules: &[String]) -> Value {
    let mut names: BTreeMap<String, String> = rules.iter().map(|r| (r.clone(), r.clone())).collect();
    names.extend(state.config.config.admin.signals.clone());
    let mut out = Map::new();
    for (signal, alert) in names {
        let mine: Vec<&Live> = live.iter().filter(|l| l.name == alert).collect();
        let firing = mine.iter().filter(|l| l.state == AlertState::Firing).map(|l| l.since).min();
        let pending = mine.iter().filter(|l| l.state == AlertState::Pending).map(|l| l.since).min();
        let (st, since) = match (firing, pending) {
            (Some(t), _) => ("firing", Some(t)),
            (None, Some(t)) => ("pending", Some(t)),
            _ => ("inactive", None),
        };
        out.insert(
            signal,
            json!({"alert": alert, "triggered": st == "firing", "state": st, "since": since.map(rfc3339)}),
        );
    }
    Value::Object(out)
}

/// `GET /api/v1/admin/ops`
pub(crate) async fn ops(State(state): State<AppState>) -> Response {
    let now = chrono::Utc::now().timestamp_millis();
    let storage = &state.storage;
    let failed =
        OutboxFilter { status: Some(OutboxStatus::Failed), since: Some(now - 3_600_000), ..Default::default() };
    let recent_failed = match storage.page_outbox(&OutboxFilter { limit: 1, ..failed }, 0).await {
        Ok((_, n)) => n,
        Err(e) => return unavailable(e),
    };
    let (by_status, oldest) = match storage.outbox_depth().await {
        Ok(d) => d,
        Err(e) => return unavailable(e),
    };
    let pending: i64 = by_status
        .iter()
        .filter(|(s, _)| matches!(s, OutboxStatus::Pending | OutboxStatus::Sending))
        .map(|(_, n)| n)
        .sum();
    let (live, rules) = live_alerts(&state);
    let mut counts: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
    counts.insert("firing", BTreeMap::new());
    counts.insert("pending", BTreeMap::new());
    for l in &live {
        let key = if l.state == AlertState::Firing { "firing" } else { "pending" };
        *counts.entry(key).or_default().entry(l.severity.clone()).or_default() += 1;
    }
    let cfg = &state.config.config;
    let runbook_base = crate::notify::runbook_base(&cfg.notify.runbook_base_url, &cfg.external_url());
    let link = |l: &Option<&String>| l.map(|u| crate::notify::template::runbook_link(u, &runbook_base));
    let items: Vec<Value> = live
        .iter()
        .map(|l| {
            json!({
                "alertname": l.name, "state": l.state.as_str(), "severity": l.severity, "since": rfc3339(l.since),
                "value": l.value.is_finite().then_some(l.value), "labels": l.labels,
                "summary": l.annotations.get("summary"), "runbookUrl": link(&l.annotations.get("runbook_url")),
                "firstSteps": l.annotations.get("first_steps").or(l.annotations.get("description")),
            })
        })
        .collect();
    let targets: Vec<Value> = state
        .targets
        .iter()
        .map(|t| {
            let s = t.scrape_status();
            json!({
                "name": t.name, "scrapeUrl": t.scrape_url, "health": s.health, "lastError": s.last_error,
                "lastScrape": s.last_scrape.map(|t| rfc3339(t.timestamp_millis())),
                "scrapeAgeSeconds": s.last_scrape.map(|t| (now - t.timestamp_millis()) as f64 / 1000.0),
                "healthChecks": t.check_statuses(),
            })
        })
        .collect();
    let mut jobs = Vec::new();
    for kind in JobKind::ALL {
        let last = match storage.list_runs(kind.name(), 1).await {
            Ok(r) => r.into_iter().next(),
            Err(e) => return unavailable(e),
        };
        jobs.push(
            json!({"job": kind.name(), "schedule": kind.schedule(&state.config.config), "lastRun": last.map(run_json)}),
        );
    }
    let admin = &state.config.config.admin;
    Json(json!({
        "environment": admin.environment,
        "writeEnabled": admin.write_enabled,
        "version": env!("CARGO_PKG_VERSION"),
        "recentFailedAlerts1h": recent_failed,
        "signals": signals(&state, &live, &rules),
        "targets": targets,
        "alerts": {"firing": counts["firing"], "pending": counts["pending"], "items": items},
        "outbox": {"pending": pending, "oldestPendingAgeSeconds": oldest.map(|t| (now - t) as f64 / 1000.0)},
        "jobs": jobs,
    }))
    .into_response()
}

/// A job run as JSON.
pub(crate) fn run_json(r: crate::storage::JobRun) -> Value {
    json!({
        "id": r.id, "job": r.job, "scheduledFor": rfc3339(r.scheduled_for), "startedAt": rfc3339(r.started_at),
        "finishedAt": r.ended_at.map(rfc3339), "status": r.status.as_str(),
        "durationSeconds": r.ended_at.map(|f| (f - r.started_at) as f64 / 1000.0),
        "runner": r.runner, "outputs": serde_json::from_str::<Value>(&r.outputs).unwrap_or(Value::Null),
        "error": r.error,
    })
}

#[derive(Default, Clone, Copy)]
struct Tally {
    fired: i64,
    resolved: i64,
    sent: i64,
    failed: i64,
}

impl Tally {
    fn json(self) -> Value {
        json!({"fired": self.fired, "resolved": self.resolved, "sent": self.sent, "failed": self.failed})
    }
}

/// `GET /api/v1/admin/analytics?days=14`
pub(crate) async fn analytics(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let days = match q.get("days").map(|d| d.parse::<i64>()) {
        None => 14,
        Some(Ok(d)) if (1..=90).contains(&d) => d,
        Some(_) => return bad("days: expected an integer from 1 to 90"),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let first_day = now / DAY_MS - (days - 1);
    let since = first_day * DAY_MS;
    let (changes, deliveries) =
        match (state.storage.transitions_per_day(since).await, state.storage.deliveries_per_day(since).await) {
            (Ok(c), Ok(d)) => (c, d),
            (Err(e), _) | (_, Err(e)) => return unavailable(e),
        };
    let mut per_day: BTreeMap<i64, (Tally, BTreeMap<String, Tally>)> =
        (first_day..first_day + days).map(|d| (d, Default::default())).collect();
    for c in changes {
        let (total, alerts) = per_day.entry(c.day).or_default();
        let t = alerts.entry(c.name).or_default();
        if c.what == "fired" {
            total.fired += c.count;
            t.fired += c.count;
        } else {
            total.resolved += c.count;
            t.resolved += c.count;
        }
    }
    for d in deliveries {
        let (total, alerts) = per_day.entry(d.day).or_default();
        let sent = d.what == OutboxStatus::Sent.as_str();
        let failed = d.what == OutboxStatus::Failed.as_str();
        for name in d.name.split(',').filter(|n| !n.is_empty()) {
            let t = alerts.entry(name.to_string()).or_default();
            t.sent += if sent { d.count } else { 0 };
            t.failed += if failed { d.count } else { 0 };
        }
        total.sent += if sent { d.count } else { 0 };
        total.failed += if failed { d.count } else { 0 };
    }
    let day_str =
        |d: i64| chrono::DateTime::from_timestamp_millis(d * DAY_MS).map(|t| t.format("%Y-%m-%d").to_string());
    let out: Vec<Value> = per_day
        .into_iter()
        .filter(|(d, _)| *d >= first_day)
        .map(|(d, (total, alerts))| {
            let mut v = total.json();
            v["date"] = json!(day_str(d));
            v["alerts"] = Value::Object(alerts.into_iter().map(|(k, t)| (k, t.json())).collect());
            v
        })
        .collect();
    let mut history = Map::new();
    for (name, _) in crate::jobs::history::series(&state.config.config) {
        let rows = match state.storage.history(&name, since, now + 1).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        let mut sums: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.value.is_finite()) {
            let e = sums.entry(r.ts / DAY_MS).or_default();
            e.0 += r.value;
            e.1 += 1;
        }
        let pts: Vec<Value> =
            sums.into_iter().map(|(d, (s, n))| json!({"date": day_str(d), "mean": s / n as f64})).collect();
        history.insert(name, Value::Array(pts));
    }
    Json(json!({"days": out, "history": history})).into_response()
}
