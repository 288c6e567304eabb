//! *Persisted alert state*: every alert state change is appended to the history and the
//! group's alerts that changed are written to storage (only those: with thousands of active
//! alerts, rewriting the group at every change was most of the process's CPU); every 30 s and
//! at shutdown each group is rewritten as a whole, which also refreshes the stored value and
//! annotations of alerts whose state did not change. At
//! start the stored alerts are put back into their rules — unless sidewatch was down longer
//! than `rules.for_outage_tolerance` — so a restart neither drops a firing alert nor resets a
//! `for` clock. A restored alert is also held (not resolved, not dropped) while the longest
//! window its rule reads may still miss samples from the outage. Storage failures are logged
//! and retried with the next snapshot. The [`writer`] takes a changed group's snapshot when it
//! writes (not during the evaluation) and coalesces changes that queued up meanwhile.

use super::eval::GroupState;
use super::manager::RuleManager;
use crate::alerts::stream::{AlertEvent, Transitions};
use crate::alerts::{Alert, State};
use crate::storage::{AlertChange, AlertRepo, Storage, StoredAlert};
use crate::store::Labels;
use std::collections::BTreeMap;

pub(crate) use super::publish::group_key;

fn json_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let m: BTreeMap<&str, &str> = pairs.collect();
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

/// The group's alerts as rows (what a whole rewrite writes).
#[cfg(test)]
pub(crate) fn snapshot(g: &GroupState, now: i64) -> Vec<StoredAlert> {
    let mut written = Written::default();
    diff(g, now, &mut written).upserts
}

/// One alert as a row.
fn row(group_key: &str, rule: &str, fp: u64, a: &Alert, now: i64) -> StoredAlert {
    StoredAlert {
        fingerprint: format!("{fp:016x}"),
        group_key: group_key.to_string(),
        rule: rule.to_string(),
        labels: json_map(a.labels.0.iter().map(|(k, v)| (&**k, &**v))),
        annotations: json_map(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        state: a.state.as_str().into(),
        active_at: a.active_at,
        fired_at: a.fired_at,
        resolved_at: a.resolved_at,
        keep_firing_since: a.keep_firing_since,
        value: a.value,
        updated_at: now,
        flap_times: a.changes.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
    }
}

/// What a restart needs of an alert, as storage holds it: when it changes, the row is written.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Kept {
    state: State,
    active_at: i64,
    fired_at: Option<i64>,
    resolved_at: Option<i64>,
    keep_firing_since: Option<i64>,
}

impl Kept {
    fn of(a: &Alert) -> Kept {
        Kept {
            state: a.state,
            active_at: a.active_at,
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            keep_firing_since: a.keep_firing_since,
        }
    }
}

/// A group's alerts as storage holds them since the last write: rule name → fingerprint →
/// [`Kept`].
#[derive(Default)]
pub(crate) struct Written(std::collections::HashMap<String, std::collections::HashMap<u64, Kept>>);

/// What to write so that storage holds the group's alerts as they are now.
#[derive(Default)]
pub(crate) struct Diff {
    /// Rows new or changed since `written`.
    pub(crate) upserts: Vec<StoredAlert>,
    /// `(rule, fingerprint)` of rows in `written` whose alert is gone.
    pub(crate) deletes: Vec<(String, String)>,
}

/// The rows of `g` that differ from `written` (all of them when it is empty), and `written`
/// updated to what storage holds once they are written. Two rules of one name producing the
/// same labels would share a row: the first one's alert is kept.
pub(crate) fn diff(g: &GroupState, now: i64, written: &mut Written) -> Diff {
    let mut out = Diff::default();
    let key = group_key(g);
    let mut current: std::collections::HashMap<String, std::collections::HashMap<u64, Kept>> = Default::default();
    for r in &g.rules {
        let Some(rule) = &r.rule.alert else { continue };
        let before = written.0.get(rule);
        let now_kept = current.entry(rule.clone()).or_default();
        for (&fp, a) in &r.alerts.active {
            let std::collections::hash_map::Entry::Vacant(slot) = now_kept.entry(fp) else { continue };
            let kept = *slot.insert(Kept::of(a));
            if before.and_then(|m| m.get(&fp)) != Some(&kept) {
                out.upserts.push(row(&key, rule, fp, a, now));
            }
        }
    }
    for (rule, fps) in &written.0 {
        let still = current.get(rule);
        for fp in fps.keys().filter(|fp| !still.is_some_and(|m| m.contains_key(fp))) {
            out.deletes.push((rule.clone(), format!("{fp:016x}")));
        }
    }
    written.0 = current;
    out
}

/// History rows for the stream's `events`.
pub(crate) fn changes(events: &[AlertEvent]) -> Vec<AlertChange> {
    events
        .iter()
        .map(|e| AlertChange {
            fingerprint: format!("{:016x}", e.fingerprint),
            rule: e.rule.clone(),
            labels: json_map(e.labels.0.iter().map(|(k, v)| (&**k, &**v))),
            from: e.from.as_str().into(),
            to: e.recorded_to().as_str().into(),
            value: e.value,
            at: e.at,
        })
        .collect()
}

/// Work for the writer task.
enum Write {
    /// A group's alerts changed: the group's key and the history rows. The writer takes the
    /// group's snapshot when it writes, so evaluations do not serialize every active alert
    /// and changes that queue up while storage is busy are written once.
    Changed(String, Vec<AlertChange>),
    /// Snapshot every group now (periodic, and at shutdown).
    All,
}

/// Puts stored alerts back into the manager's rules; returns how many were restored.
pub(crate) fn restore(manager: &RuleManager, rows: Vec<StoredAlert>, now: i64, tolerance_ms: i64) -> usize {
    let mut n = 0;
    for g in manager.groups() {
        let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
        n += restore_group(&mut g, &rows, now, tolerance_ms);
    }
    n
}

/// Puts the stored alerts of group `g` back into its rules (state, times, flap times);
/// returns how many.
pub(crate) fn restore_group(g: &mut GroupState, rows: &[StoredAlert], now: i64, tolerance_ms: i64) -> usize {
    let mut n = 0;
    let key = group_key(g);
    for r in &mut g.rules {
        let Some(rule) = r.rule.alert.clone() else { continue };
        // The longest window the rule reads: until it has refilled, a restored alert holds.
        let window = crate::promql::lookback_by_metric(&r.rule.expr).iter().map(|x| x.1).max().unwrap_or(0);
        for row in rows.iter().filter(|x| x.group_key == key && x.rule == rule) {
            if now - row.updated_at > tolerance_ms {
                continue;
            }
            let state = State::parse(&row.state).unwrap_or(State::Inactive);
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
                    changes: row.flap_times.split(',').filter_map(|t| t.parse().ok()).collect(),
                },
            );
            n += 1;
        }
    }
    n
}

/// Puts the stored alert state back into `manager`'s rules (see [`restore`]) and starts the
/// alert-state writer on a subscription to the manager's transitions; it ends with `stop`,
/// after a last whole write.
pub(crate) async fn start(
    manager: &RuleManager,
    storage: Storage,
    tolerance_ms: i64,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    match storage.load_alerts().await {
        Ok(rows) => {
            let n = restore(manager, rows, chrono::Utc::now().timestamp_millis(), tolerance_ms);
            if n > 0 {
                tracing::info!(alerts = n, "alert state restored");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot load alert state; alerts start over"),
    }
    let transitions = manager.stream().transitions.subscribe();
    vec![tokio::spawn(writer(storage, manager.clone(), transitions, stop))]
}

/// Writes snapshots and history until `stop`, from the manager's transitions (`rx`, a
/// subscription to its alert stream), then a final snapshot of every group.
pub(crate) async fn writer(
    storage: Storage,
    manager: RuleManager,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<Transitions>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    // What storage holds, per group key; a group missing here is rewritten as a whole.
    let mut written = std::collections::HashMap::new();
    loop {
        let job = tokio::select! {
            Some(t) = rx.recv() => Write::Changed(t.group.clone(), changes(&t.events)),
            _ = tick.tick() => Write::All,
            _ = stop.changed() => {
                save_all(&storage, &manager).await;
                return;
            }
        };
        match job {
            Write::Changed(key, mut history) => {
                // Coalesce what queued up while storage was busy (alerts that change every
                // evaluation): every history row, and one write per changed group.
                let mut keys = std::collections::BTreeSet::from([key]);
                while let Ok(t) = rx.try_recv() {
                    history.extend(changes(&t.events));
                    keys.insert(t.group.clone());
                }
                if let Err(e) = storage.append_history(&history).await {
                    tracing::warn!(error = %e, "cannot append alert history");
                }
                written = write_groups(&storage, &manager, Some(keys), written).await;
            }
            Write::All => written = write_groups(&storage, &manager, None, written).await,
        }
    }
}

/// Writes the groups named in `keys`: the rows that changed since `written` says, or the whole
/// group when `written` does not know it; with `None`, every group as a whole. Each group's rows are
/// taken under its lock, on a blocking thread (an evaluation holds that lock while it runs).
/// Returns what storage now holds; a group whose write failed is left out, so its next write
/// rewrites it as a whole.
async fn write_groups(
    storage: &Storage,
    manager: &RuleManager,
    keys: Option<std::collections::BTreeSet<String>>,
    mut written: std::collections::HashMap<String, Written>,
) -> std::collections::HashMap<String, Written> {
    if keys.is_none() {
        written.clear();
    }
    let manager = manager.clone();
    let take = move || {
        let now = chrono::Utc::now().timestamp_millis();
        let mut jobs = Vec::new();
        for g in manager.groups() {
            let g = g.lock().unwrap_or_else(|e| e.into_inner());
            let key = group_key(&g);
            if keys.as_ref().is_some_and(|k| !k.contains(&key)) {
                continue;
            }
            let (mut w, whole) = match written.remove(&key) {
                Some(w) => (w, false),
                None => (Written::default(), true),
            };
            let d = diff(&g, now, &mut w);
            jobs.push((key, whole, d, w));
        }
        (jobs, written)
    };
    let Ok((jobs, mut written)) = tokio::task::spawn_blocking(take).await else { return Default::default() };
    for (key, whole, d, w) in jobs {
        let result = if whole {
            storage.save_alerts(&key, &d.upserts).await
        } else {
            storage.update_alerts(&key, &d.upserts, &d.deletes).await
        };
        match result {
            Ok(()) => {
                written.insert(key, w);
            }
            Err(e) => tracing::warn!(error = %e, group = %key, "cannot save alert state; retrying with the next write"),
        }
    }
    written
}

async fn save_all(storage: &Storage, manager: &RuleManager) {
    write_groups(storage, manager, None, Default::default()).await;
}
