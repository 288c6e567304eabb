//! *Persisted alert state*: every alert state change is appended to the history and the
//! group's active alerts are rewritten in storage (also every 30 s and at shutdown), and at
//! start the stored alerts are put back into their rules — unless sidewatch was down longer
//! than `rules.for_outage_tolerance` — so a restart neither drops a firing alert nor resets a
//! `for` clock. A restored alert is also held (not resolved, not dropped) while the longest
//! window its rule reads may still miss samples from the outage. Storage failures are logged
//! and retried with the next snapshot. The [`writer`] takes a changed group's snapshot when it
//! writes (not during the evaluation) and coalesces changes that queued up meanwhile.

use super::eval::{Event, GroupState};
use super::manager::RuleManager;
use crate::alerts::{Alert, State};
use crate::storage::{AlertChange, AlertRepo, Storage, StoredAlert};
use crate::store::Labels;
use std::collections::BTreeMap;

/// A group's key in storage: `file;name`.
pub fn group_key(g: &GroupState) -> String {
    format!("{};{}", g.group.file, g.group.name)
}

fn json_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let m: BTreeMap<&str, &str> = pairs.collect();
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

/// The group's alerts as rows.
pub fn snapshot(g: &GroupState, now: i64) -> Vec<StoredAlert> {
    let mut out = Vec::new();
    for r in &g.rules {
        let Some(rule) = &r.rule.alert else { continue };
        for (fp, a) in &r.alerts.active {
            out.push(StoredAlert {
                fingerprint: format!("{fp:016x}"),
                group_key: group_key(g),
                rule: rule.clone(),
                labels: json_map(a.labels.0.iter().map(|(k, v)| (&**k, &**v))),
                annotations: json_map(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                state: a.state.as_str().into(),
                active_at: a.active_at,
                fired_at: a.fired_at,
                resolved_at: a.resolved_at,
                keep_firing_since: a.keep_firing_since,
                value: a.value,
                updated_at: now,
            });
        }
    }
    out
}

/// History rows for `events` of group `g`.
pub fn changes(g: &GroupState, events: &[Event]) -> Vec<AlertChange> {
    events
        .iter()
        .map(|e| {
            let t = &e.transition;
            AlertChange {
                fingerprint: format!("{:016x}", t.fingerprint),
                rule: g.rules[e.rule].rule.name().to_string(),
                labels: json_map(t.labels.0.iter().map(|(k, v)| (&**k, &**v))),
                from: t.from.as_str().into(),
                to: if t.from == State::Firing && t.to == State::Inactive {
                    "resolved".into()
                } else {
                    t.to.as_str().into()
                },
                value: t.value,
                at: t.at,
            }
        })
        .collect()
}

/// Work for the writer task.
pub enum Write {
    /// A group's alerts changed: the group's key and the history rows. The writer takes the
    /// group's snapshot when it writes, so evaluations do not serialize every active alert
    /// and changes that queue up while storage is busy are written once.
    Changed(String, Vec<AlertChange>),
    /// Snapshot every group now (periodic, and at shutdown).
    All,
}

/// Puts stored alerts back into the manager's rules; returns how many were restored.
pub fn restore(manager: &RuleManager, rows: Vec<StoredAlert>, now: i64, tolerance_ms: i64) -> usize {
    let mut n = 0;
    for g in manager.groups() {
        let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
        let key = group_key(&g);
        for r in &mut g.rules {
            let Some(rule) = r.rule.alert.clone() else { continue };
            // The longest window the rule reads: until it has refilled, a restored alert holds.
            let window = crate::promql::lookback_by_metric(&r.rule.expr).iter().map(|x| x.1).max().unwrap_or(0);
            for row in rows.iter().filter(|x| x.group_key == key && x.rule == rule) {
                if now - row.updated_at > tolerance_ms {
                    continue;
                }
                let state = match row.state.as_str() {
                    "pending" => State::Pending,
                    "firing" => State::Firing,
                    _ => State::Inactive,
                };
                let labels: BTreeMap<String, String> = serde_json::from_str(&row.labels).unwrap_or_default();
                let labels = Labels::from_pairs(labels);
                let fp = labels.fingerprint();
                let annotations = serde_json::from_str(&row.annotations).unwrap_or_default();
                r.alerts.active.insert(
                    fp,
                    Alert {
                        labels,
                        annotations,
                        state,
                        active_at: row.active_at,
                        fired_at: row.fired_at,
                        resolved_at: row.resolved_at,
                        keep_firing_since: row.keep_firing_since,
                        warming_until: Some(now + window),
                        value: row.value,
                        changes: Default::default(),
                    },
                );
                n += 1;
            }
        }
    }
    n
}

/// Writes snapshots and history until `stop`, then a final snapshot of every group.
pub async fn writer(
    storage: Storage,
    manager: RuleManager,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Write>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        let job = tokio::select! {
            Some(w) = rx.recv() => w,
            _ = tick.tick() => Write::All,
            _ = stop.changed() => {
                save_all(&storage, &manager).await;
                return;
            }
        };
        match job {
            Write::Changed(key, mut history) => {
                // Coalesce what queued up while storage was busy (alerts that change every
                // evaluation): every history row, and one snapshot per changed group.
                let mut keys = std::collections::BTreeSet::from([key]);
                let mut all = false;
                while let Ok(w) = rx.try_recv() {
                    match w {
                        Write::Changed(k, h) => {
                            history.extend(h);
                            keys.insert(k);
                        }
                        Write::All => all = true,
                    }
                }
                if let Err(e) = storage.append_history(&history).await {
                    tracing::warn!(error = %e, "cannot append alert history");
                }
                if all {
                    save_all(&storage, &manager).await;
                    continue;
                }
                for (key, alerts) in snapshots(&manager, Some(keys)).await {
                    if let Err(e) = storage.save_alerts(&key, &alerts).await {
                        tracing::warn!(error = %e, group = %key, "cannot save alert state; retrying with the next snapshot");
                    }
                }
            }
            Write::All => save_all(&storage, &manager).await,
        }
    }
}

/// The snapshots of the groups named in `keys` (every group with `None`), each taken under
/// its group's lock — on a blocking thread, since an evaluation holds that lock while it runs.
async fn snapshots(
    manager: &RuleManager,
    keys: Option<std::collections::BTreeSet<String>>,
) -> Vec<(String, Vec<StoredAlert>)> {
    let manager = manager.clone();
    let take = move || {
        let now = chrono::Utc::now().timestamp_millis();
        manager
            .groups()
            .iter()
            .filter_map(|g| {
                let g = g.lock().unwrap_or_else(|e| e.into_inner());
                let key = group_key(&g);
                keys.as_ref().is_none_or(|k| k.contains(&key)).then(|| {
                    let snap = snapshot(&g, now);
                    (key, snap)
                })
            })
            .collect()
    };
    tokio::task::spawn_blocking(take).await.unwrap_or_default()
}

async fn save_all(storage: &Storage, manager: &RuleManager) {
    for (key, alerts) in snapshots(manager, None).await {
        if let Err(e) = storage.save_alerts(&key, &alerts).await {
            tracing::warn!(error = %e, group = %key, "cannot save alert state");
        }
    }
}
