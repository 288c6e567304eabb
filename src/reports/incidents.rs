//! *Incidents* for the digest and the post-incident pack. An incident is one firing → resolved
//! cycle of one alert instance (one fingerprint): an alert that fired and resolved three times
//! is three incidents; one still firing counts with its duration so far. Its *MTTD* runs from
//! the alert's pending start to the first notification delivered for it, its *MTTR* from firing
//! to resolved. Its *SEV* comes from the alert's `severity` label through `digest.sev`
//! (SEV-1 complete outage, SEV-2 major degradation, SEV-3 partial, as the runbooks define
//! them). Incidents are grouped by alert; a group shows only the labels that tell its
//! incidents apart.

use super::format::{duration, median};
use super::{Ctx, ReportError};
use crate::notify::model::rfc3339;
use crate::storage::{AlertRepo, OutboxFilter, OutboxRepo, OutboxStatus};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 86_400_000;
/// Incidents of one group the Markdown lists (the JSON keeps them all).
const SHOWN: usize = 10;

/// `2026-12-04 23:16 UTC`.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// One firing → resolved cycle of one alert instance.
#[derive(Clone, Debug)]
pub(crate) struct Incident {
    /// The alert's name.
    pub(crate) alert: String,
    /// Its labels.
    pub(crate) labels: BTreeMap<String, String>,
    /// SEV level.
    pub(crate) sev: String,
    /// Pending start (ms).
    pub(crate) pending_at: i64,
    /// Firing start (ms).
    pub(crate) fired_at: i64,
    /// Resolution (ms), `None` while firing (as of the window's end).
    pub(crate) resolved_at: Option<i64>,
    /// First notification delivered for it (ms).
    pub(crate) delivered_at: Option<i64>,
    /// The end of what is known: the resolution, or the window's end / now.
    pub(crate) until: i64,
}

impl Incident {
    /// Pending → first delivered notification, in seconds.
    pub(crate) fn mttd(&self) -> Option<i64> {
        self.delivered_at.map(|d| (d - self.pending_at).max(0) / 1000)
    }
    /// Firing → resolved, in seconds (resolved incidents only).
    pub(crate) fn mttr(&self) -> Option<i64> {
        self.resolved_at.map(|r| (r - self.fired_at).max(0) / 1000)
    }
    /// How long it fired (so far, for a still-firing one), in seconds.
    pub(crate) fn duration(&self) -> i64 {
        (self.until - self.fired_at).max(0) / 1000
    }
}

/// The SEV level of `severity` through `digest.sev`.
pub(crate) fn sev_of(ctx: &Ctx, severity: Option<&str>) -> String {
    let d = &ctx.cfg.digest;
    severity.and_then(|s| d.sev.get(s)).cloned().unwrap_or_else(|| d.sev_default.clone())
}

/// The incidents that fired before `end` and were still open at `start` or later, oldest
/// first; only those of `alert` when given.
pub(crate) async fn list(ctx: &Ctx, start: i64, end: i64, alert: Option<&str>) -> Result<Vec<Incident>, ReportError> {
    let changes = ctx.storage.list_history(start - 7 * DAY, 5_000_000).await?;
    let sent = ctx
        .storage
        .list_outbox(&OutboxFilter {
            status: Some(OutboxStatus::Sent),
            since: Some(start - 7 * DAY),
            limit: 1_000_000,
            alertname: alert.map(String::from),
            ..Default::default()
        })
        .await?;
    // When each alert's firing notifications were delivered, oldest first: an incident's first
    // delivery is a binary search, not a pass over every row.
    let mut delivered_at: std::collections::HashMap<&str, Vec<i64>> = std::collections::HashMap::new();
    for r in sent.iter().filter(|r| r.kind == "firing") {
        if let Some(t) = r.sent_at {
            for n in r.alert_names.split(',') {
                delivered_at.entry(n).or_default().push(t);
            }
        }
    }
    for times in delivered_at.values_mut() {
        times.sort_unstable();
    }
    let horizon = end.min(ctx.now);
    // Per fingerprint: the open cycle (pending start, firing start).
    let mut open: BTreeMap<&str, (i64, Option<i64>)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut close = |c: &crate::storage::AlertChange, pending: i64, fired: i64, resolved: Option<i64>| {
        let labels: BTreeMap<String, String> = serde_json::from_str(&c.labels).unwrap_or_default();
        let name = labels.get("alertname").cloned().unwrap_or_else(|| c.rule.clone());
        let delivered = delivered_at.get(name.as_str()).and_then(|times| {
            let first = times.get(times.partition_point(|t| *t < pending)).copied()?;
            resolved.is_none_or(|r| first <= r + 60_000).then_some(first)
        });
        out.push(Incident {
            sev: sev_of(ctx, labels.get("severity").map(String::as_str)),
            alert: name,
            labels,
            pending_at: pending,
            fired_at: fired,
            resolved_at: resolved,
            delivered_at: delivered,
            until: resolved.unwrap_or(horizon),
        });
    };
    let mut last: BTreeMap<&str, &crate::storage::AlertChange> = BTreeMap::new();
    for c in changes.iter().filter(|c| c.at < end) {
        last.insert(&c.fingerprint, c);
        match c.to.as_str() {
            "pending" => {
                open.insert(&c.fingerprint, (c.at, None));
            }
            "firing" => {
                let e = open.entry(&c.fingerprint).or_insert((c.at, None));
                if e.1.is_none() {
                    e.1 = Some(c.at);
                }
            }
            // `resolved` ends a firing cycle; `inactive` ends a pending one that never fired.
            "resolved" | "inactive" => {
                if let Some((pending, Some(fired))) = open.remove(c.fingerprint.as_str())
                    && c.at >= start
                {
                    close(c, pending, fired, Some(c.at));
                }
            }
            _ => {}
        }
    }
    for (fp, (pending, fired)) in open {
        if let (Some(f), Some(c)) = (fired, last.get(fp)) {
            close(c, pending, f, None);
        }
    }
    out.retain(|i| alert.is_none_or(|a| i.alert == a));
    out.sort_by(|a, b| (a.fired_at, &a.alert).cmp(&(b.fired_at, &b.alert)));
    Ok(out)
}

/// One incident as the digest's JSON keeps it (the existing keys, plus `sev`, `still_firing`
/// and `duration_seconds`).
pub(crate) fn to_json(i: &Incident) -> Value {
    json!({
        "alert": i.alert, "labels": i.labels, "sev": i.sev,
        "fired_at": rfc3339(i.fired_at), "resolved_at": i.resolved_at.map(rfc3339),
        "still_firing": i.resolved_at.is_none(),
        "mttd_seconds": i.mttd(), "mttr_seconds": i.mttr(), "duration_seconds": i.duration(),
    })
}

/// The labels whose values differ among `incidents` (what tells them apart).
fn distinguishing(incidents: &[&Incident]) -> Vec<String> {
    let keys: BTreeSet<&String> = incidents.iter().flat_map(|i| i.labels.keys()).collect();
    keys.into_iter()
        .filter(|k| *k != "alertname")
        .filter(|k| {
            let values: BTreeSet<Option<&String>> = incidents.iter().map(|i| i.labels.get(*k)).collect();
            values.len() > 1
        })
        .cloned()
        .collect()
}

/// Incidents grouped by alert, most severe and most frequent first: `alert`, `sev`, `count`,
/// `resolved`, `still_firing`, `median_mttr_seconds`, `labels` (those that differ) and the
/// incidents with only those labels, for the Markdown.
pub(crate) fn groups(incidents: &[Incident]) -> Vec<Value> {
    let mut by: BTreeMap<&str, Vec<&Incident>> = BTreeMap::new();
    for i in incidents {
        by.entry(&i.alert).or_default().push(i);
    }
    let mut out: Vec<(String, usize, Value)> = by
        .into_iter()
        .map(|(alert, list)| {
            let keys = distinguishing(&list);
            let sev = list.iter().map(|i| i.sev.clone()).min().unwrap_or_default();
            let mttrs: Vec<i64> = list.iter().filter_map(|i| i.mttr()).collect();
            let rows: Vec<Value> = list
                .iter()
                .take(SHOWN)
                .map(|i| {
                    let shown: Map<String, Value> = keys
                        .iter()
                        .map(|k| (k.clone(), Value::String(i.labels.get(k).cloned().unwrap_or_default())))
                        .collect();
                    let labels = shown.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>();
                    json!({"labels": shown, "labels_text": labels.join(", "), "sev": i.sev,
                        "fired_at": rfc3339(i.fired_at), "fired_text": when(i.fired_at),
                        "resolved_text": i.resolved_at.map_or_else(|| format!("still firing ({} so far)", duration(Some(i.duration()))), when),
                        "mttd_text": duration(i.mttd()), "mttr_text": duration(i.mttr())})
                })
                .collect();
            let v = json!({
                "alert": alert, "sev": sev, "count": list.len(),
                "resolved": list.iter().filter(|i| i.resolved_at.is_some()).count(),
                "still_firing": list.iter().filter(|i| i.resolved_at.is_none()).count(),
                "median_mttr_seconds": median(mttrs.clone()),
                "median_mttr_text": median(mttrs).map_or_else(|| "— none resolved yet".to_string(), |m| format!("median MTTR {}", duration(Some(m)))),
                "labels": keys, "incidents": rows, "more": list.len().saturating_sub(SHOWN),
            });
            (sev, list.len(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}
