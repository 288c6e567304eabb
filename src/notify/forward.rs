//! *Forwarding* to an Alertmanager, as Prometheus' notifier does it (the alert-generator
//! compliance specification): an Alertmanager groups, silences, inhibits and repeats by
//! itself, so alerts routed to a forwarding channel skip sidewatch's grouping and cooldown.
//! Every firing alert is sent with `endsAt` = now + 4 × max(resend delay, evaluation
//! interval) and sent again every resend delay while it fires, so the Alertmanager never
//! resolves it by its `resolve_timeout`; a resolved alert is sent with its `endsAt` for as
//! long as the rules hold it (15 minutes). A change (an alert new, gone or resolved) is sent
//! at once. Each send is an outbox row (kind `forward`) like any notification.

use super::deliver::Target;
use super::model::{AlertData, AlertStatus, Map, Notification, fingerprint, rfc3339};
use super::{Plan, payload_hash};
use crate::alerts::stream::{ActiveAlert, GroupAlerts};
use crate::storage::{OutboxRepo, OutboxStatus, Storage};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The alert as the forwarding channel sends it: a firing one expires at `firing_ends_at`.
fn data(a: &ActiveAlert, firing_ends_at: i64) -> AlertData {
    AlertData {
        status: if a.firing() { AlertStatus::Firing } else { AlertStatus::Resolved },
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: rfc3339(a.starts_at),
        ends_at: rfc3339(a.ends_at.unwrap_or(firing_ends_at)),
        generator_url: a.generator_url.clone(),
        fingerprint: format!("{:016x}", fingerprint(&a.labels)),
        sidewatch: None,
    }
}

/// What is due to a forwarding target at `now`, with its hash: the alerts routed to its
/// receiver, when they changed since `last` (their hash) or `resend_ms` passed since `last`
/// (its time).
pub(crate) fn due(
    plan: &Plan,
    target: &Target,
    groups: &HashMap<String, Vec<ActiveAlert>>,
    last: Option<(i64, &str)>,
    resend_ms: i64,
    now: i64,
) -> Option<(Notification, String)> {
    let ends = now + 4 * resend_ms.max(plan.eval_interval_ms);
    let mut alerts: Vec<AlertData> = groups
        .values()
        .flatten()
        .filter(|a| a.firing() || target.channel.send_resolved())
        .filter(|a| plan.rules.route.find(&a.labels).iter().any(|r| r.receiver == target.receiver))
        .map(|a| data(a, ends))
        .collect();
    alerts.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    alerts.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    let n = Notification::build(&target.receiver, "forward", &Map::new(), &plan.rules.external_url, alerts, 0);
    if n.alerts.is_empty() {
        return None; // the Alertmanager already has every endsAt
    }
    let hash = payload_hash(&target.id, &n);
    match last {
        Some((at, h)) if h == hash && now - at < resend_ms => None,
        _ => Some((n, hash)),
    }
}

/// Forwards the alert sets `rx` brings to every forwarding target of `plan` until `stop`.
pub(crate) async fn run(
    plan: Arc<Plan>,
    storage: Storage,
    mut rx: mpsc::UnboundedReceiver<Arc<GroupAlerts>>,
    mut stop: watch::Receiver<bool>,
) {
    let targets: Vec<(Arc<Target>, i64)> = plan
        .targets
        .iter()
        .filter_map(|t| t.channel.forwards().map(|d| (t.clone(), d.as_millis().max(1) as i64)))
        .collect();
    if targets.is_empty() {
        return;
    }
    let mut groups: HashMap<String, Vec<ActiveAlert>> = HashMap::new();
    let mut last: HashMap<String, (i64, String)> = HashMap::new();
    // Routing every alert is only worth doing when the alerts changed or a resend is due.
    let mut changed = false;
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                for m in std::iter::once(msg).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    let GroupAlerts { group, alerts } = Arc::unwrap_or_clone(m);
                    changed |= groups.get(&group) != Some(&alerts);
                    if alerts.is_empty() {
                        groups.remove(&group);
                    } else {
                        groups.insert(group, alerts);
                    }
                }
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut failed = false;
        for (t, resend_ms) in &targets {
            let prev = last.get(&t.id).map(|(at, h)| (*at, h.as_str()));
            if !changed && prev.is_some_and(|(at, _)| now - at < *resend_ms) {
                continue;
            }
            let Some((n, hash)) = due(&plan, t, &groups, prev, *resend_ms, now) else { continue };
            // A forward is stale once the next one is due.
            let row = super::outbox_row(t, &n, "forward", OutboxStatus::Pending, hash.clone(), now, now + resend_ms);
            match storage.enqueue(&[row]).await {
                Ok(_) => {
                    last.insert(t.id.clone(), (now, hash));
                    t.wake.notify_one();
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(error = %e, target = %t.id, "outbox: cannot queue a forward; retrying");
                }
            }
        }
        changed = failed; // a forward that could not be queued is tried again next round
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::model::ZERO_TIME;

    fn alert(name: &str, ends_at: Option<i64>) -> ActiveAlert {
        ActiveAlert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: Map::new(),
            starts_at: 1_000,
            ends_at,
            value: 1.0,
            flaps: 0,
            generator_url: String::new(),
        }
    }

    #[test]
    fn firing_alerts_expire_ahead_and_are_resent_every_delay_and_on_change() {
        let text = "[notify]\n[[notify.receivers]]\nname = \"r\"\nalertmanager = [{ url = \"http://127.0.0.1:9\", resend_delay = \"1m\" }]\n[notify.route]\nreceiver = \"r\"\n";
        let loaded = crate::settings::load_from_str(text, None, &[]).unwrap();
        let mut plan = Plan::build(&loaded.config.notify, std::path::Path::new("."), "http://x").unwrap();
        plan.eval_interval_ms = 15_000;
        let t = plan.targets[0].clone();
        let mut groups = HashMap::new();
        groups.insert("g".to_string(), vec![alert("A", None)]);
        let now = 10_000_000;
        let (n, h) = due(&plan, &t, &groups, None, 60_000, now).expect("a new alert is sent at once");
        assert_eq!(n.alerts[0].ends_at, rfc3339(now + 240_000), "endsAt = now + 4 × max(1m, 15s)");
        assert!(due(&plan, &t, &groups, Some((now, &h)), 60_000, now + 59_000).is_none(), "not before the delay");
        assert!(due(&plan, &t, &groups, Some((now, &h)), 60_000, now + 60_000).is_some(), "resent after it");
        groups.insert("g".to_string(), vec![alert("A", Some(now + 5_000))]);
        let (r, _) = due(&plan, &t, &groups, Some((now, &h)), 60_000, now + 6_000).expect("resolution sent at once");
        assert_eq!(r.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(r.alerts[0].ends_at, rfc3339(now + 5_000));
        assert_ne!(r.alerts[0].ends_at, ZERO_TIME);
    }
}
