//! The *dispatcher*: Alertmanager's aggregation in one place. It keeps the alerts the rules
//! report (firing, and resolved ones until they are notified), routes each through the route
//! tree into *aggregation groups* (one per route and group labels), and on each group's timer
//! decides what to tell its receiver: the first notification after `group_wait`, changes
//! (new or resolved alerts) every `group_interval`, an unchanged firing group again after
//! `repeat_interval`. Silenced, inhibited and muted-time alerts are recorded as suppressed;
//! a flapping alert is held and announced once as flapping. The dispatcher is a plain state
//! machine driven with explicit times, so its tests need no clock.

use super::model::{
    ActiveAlert, AlertData, AlertExtra, AlertStatus, Map, Notification, ZERO_TIME, fingerprint, rfc3339,
};
use super::mute::{self, InhibitRule, Silence};
use super::route::Route;
use super::template::Runbooks;
use super::timeinterval::TimeInterval;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What the dispatcher decided: a notification for a receiver, or a record that one was not
/// sent and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// Receiver name.
    pub(crate) receiver: String,
    /// `firing`, `resolved` or `flapping`.
    pub(crate) kind: String,
    /// The notification.
    pub(crate) notification: Notification,
    /// Why it is not sent (silence, inhibition, mute time), if so.
    pub(crate) suppressed: Option<String>,
    /// A `repeat_interval` reminder of an unchanged firing group (its repeat interval, ms):
    /// the cooldown lets it pass.
    pub(crate) reminder: Option<i64>,
}

/// The parts of the notify configuration the dispatcher uses.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Route tree.
    pub(crate) route: Route,
    /// Inhibition rules.
    pub(crate) inhibit: Vec<InhibitRule>,
    /// Mute time intervals by name.
    pub(crate) intervals: HashMap<String, TimeInterval>,
    /// Flap threshold (0: off).
    pub(crate) flap_threshold: u32,
    /// Largest alerts per notification.
    pub(crate) max_alerts: usize,
    /// Base of links.
    pub(crate) external_url: String,
    /// Base of runbook links (ends with `/`).
    pub(crate) runbook_base: String,
}

#[derive(Clone, Debug)]
struct Tracked {
    alert: ActiveAlert,
    source: String,
}

#[derive(Clone, Debug)]
struct Group {
    route: Route,
    labels: Map,
    fps: BTreeSet<u64>,
    next_flush: i64,
    last_firing: BTreeSet<u64>,
    last_notify: i64,
    flapping_sent: BTreeSet<u64>,
    noted: HashMap<u64, String>,
}

/// The aggregation state.
pub struct Dispatcher {
    rules: Arc<Rules>,
    runbooks: Arc<Runbooks>,
    alerts: HashMap<u64, Tracked>,
    groups: HashMap<String, Group>,
    silences: Vec<Silence>,
}

impl Dispatcher {
    /// An empty dispatcher.
    pub fn new(rules: Arc<Rules>, runbooks: Arc<Runbooks>) -> Dispatcher {
        Dispatcher { rules, runbooks, alerts: HashMap::new(), groups: HashMap::new(), silences: Vec::new() }
    }

    /// Replaces the silences.
    pub(crate) fn set_silences(&mut self, s: Vec<Silence>) {
        self.silences = s;
    }

    /// Number of aggregation groups (for metrics and tests).
    pub(crate) fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The earliest time a group wants to flush.
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// The complete set of firing and resolved alerts of `source` (a rule group) at `now`.
    /// A firing alert that disappears is taken as resolved now.
    pub fn update(&mut self, source: &str, alerts: Vec<ActiveAlert>, now: i64) {
        let incoming: HashMap<u64, ActiveAlert> = alerts.into_iter().map(|a| (fingerprint(&a.labels), a)).collect();
        self.alerts.retain(|fp, t| {
            if t.source != source || incoming.contains_key(fp) {
                return true;
            }
            if t.alert.firing() {
                t.alert.ends_at = Some(now);
                return true;
            }
            false
        });
        for (fp, a) in incoming {
            if !a.firing() {
                // Resolved alerts only update groups that already hold them.
                self.alerts.insert(fp, Tracked { alert: a, source: source.to_string() });
                continue;
            }
            let routes: Vec<Route> = self.rules.route.find(&a.labels).into_iter().map(strip).collect();
            for r in routes {
                let labels = r.group_labels(&a.labels);
                let key = r.group_key(&labels);
                let g = self.groups.entry(key).or_insert_with(|| {
                    // An alert that started longer than group_wait ago is not held back again.
                    let wait = if a.starts_at + r.group_wait_ms < now { 0 } else { r.group_wait_ms };
                    Group {
                        next_flush: now + wait,
                        route: r.clone(),
                        labels,
                        fps: BTreeSet::new(),
                        last_firing: BTreeSet::new(),
                        last_notify: i64::MIN / 2,
                        flapping_sent: BTreeSet::new(),
                        noted: HashMap::new(),
                    }
                });
                g.fps.insert(fp);
            }
            self.alerts.insert(fp, Tracked { alert: a, source: source.to_string() });
        }
    }

    fn data(&self, fp: u64, a: &ActiveAlert) -> AlertData {
        let raw_url = a.annotations.get("runbook_url").map(String::as_str).unwrap_or_default();
        let runbook_url = super::template::runbook_link(raw_url, &self.rules.runbook_base);
        let name = a.labels.get("alertname").map(String::as_str).unwrap_or("");
        AlertData {
            status: if a.firing() { AlertStatus::Firing } else { AlertStatus::Resolved },
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: rfc3339(a.starts_at),
            ends_at: a.ends_at.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
            generator_url: a.generator_url.clone(),
            fingerprint: format!("{fp:016x}"),
            sidewatch: Some(AlertExtra {
                value: crate::promql::format_value(a.value),
                flaps: a.flaps,
                runbook_steps: self.runbooks.steps(name, raw_url, &a.labels),
                runbook_url,
            }),
        }
    }

    /// Flushes every group that is due at `now`.
    pub fn flush(&mut self, now: i64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let due: Vec<String> =
            self.groups.iter().filter(|(_, g)| g.next_flush <= now).map(|(k, _)| k.clone()).collect();
        // Inhibition sources; only needed (and copied) when some group is due.
        let firing: Vec<(u64, ActiveAlert)> = if due.is_empty() {
            Vec::new()
        } else {
            self.alerts.iter().filter(|(_, t)| t.alert.firing()).map(|(fp, t)| (*fp, t.alert.clone())).collect()
        };
        for key in due {
            let Some(mut g) = self.groups.remove(&key) else { continue };
            g.fps.retain(|fp| self.alerts.contains_key(fp));
            self.flush_group(&key, &mut g, &firing, now, &mut out);
            g.next_flush = now + g.route.group_interval_ms;
            if !g.fps.is_empty() {
                self.groups.insert(key, g);
            }
        }
        // Resolved alerts that no group holds any more are done.
        let held: BTreeSet<u64> = self.groups.values().flat_map(|g| g.fps.iter().copied()).collect();
        self.alerts.retain(|fp, t| t.alert.firing() || held.contains(fp));
        out
    }

    fn flush_group(&self, key: &str, g: &mut Group, firing: &[(u64, ActiveAlert)], now: i64, out: &mut Vec<Outgoing>) {
        let rules = &self.rules;
        let mut send_firing = BTreeSet::new();
        let mut send_resolved = BTreeSet::new();
        let mut new_flapping = BTreeSet::new();
        let mut muted: Vec<(u64, String)> = Vec::new();
        let mut still_flapping = BTreeSet::new();
        for &fp in &g.fps {
            let a = &self.alerts[&fp].alert;
            let reason = mute::reason(a, fp, &self.silences, &rules.inhibit, firing.iter().map(|(f, a)| (*f, a)), now);
            if let Some(r) = reason {
                muted.push((fp, r));
                continue;
            }
            let flapping = rules.flap_threshold > 0 && a.flaps >= rules.flap_threshold;
            if a.firing() && flapping {
                still_flapping.insert(fp);
                if !g.flapping_sent.contains(&fp) {
                    new_flapping.insert(fp);
                }
            } else if a.firing() {
                send_firing.insert(fp);
            } else if g.last_firing.contains(&fp) || g.flapping_sent.contains(&fp) {
                // Told as firing (or flapping) before: tell it resolved.
                send_resolved.insert(fp);
            }
        }
        let mute_by = g.route.mute.iter().find(|n| rules.intervals.get(*n).is_some_and(|i| i.contains(now)));
        let build = |fps: &mut dyn Iterator<Item = u64>| {
            let alerts = fps.map(|fp| self.data(fp, &self.alerts[&fp].alert)).collect();
            Notification::build(&g.route.receiver, key, &g.labels, &rules.external_url, alerts, rules.max_alerts)
        };
        let emit = |out: &mut Vec<Outgoing>, kind: &str, n: Notification, suppressed: Option<String>| {
            let receiver = g.route.receiver.clone();
            out.push(Outgoing { receiver, kind: kind.into(), notification: n, suppressed, reminder: None })
        };
        // Muted alerts are recorded once per reason and status.
        for (fp, r) in &muted {
            let status = if self.alerts[fp].alert.firing() { "firing" } else { "resolved" };
            let note = format!("{status}: {r}");
            if g.noted.get(fp) != Some(&note) {
                let n = build(&mut std::iter::once(*fp));
                emit(out, status, n, Some(r.clone()));
                g.noted.insert(*fp, note);
            }
        }
        let changed = send_firing != g.last_firing || !send_resolved.is_empty();
        let repeat = !send_firing.is_empty() && now - g.last_notify >= g.route.repeat_interval_ms;
        if let Some(interval) = mute_by {
            if changed || repeat || !new_flapping.is_empty() {
                let note = format!("mute:{interval}:{send_firing:?}:{send_resolved:?}");
                if g.noted.get(&0) != Some(&note) {
                    let mut all = send_firing.iter().chain(&send_resolved).chain(&new_flapping).copied();
                    let n = build(&mut all);
                    let kind = n.status.as_str();
                    emit(out, kind, n, Some(format!("muted by time interval {interval}")));
                    g.noted.insert(0, note);
                }
            }
            return;
        }
        g.noted.remove(&0);
        if changed || repeat {
            if !send_firing.is_empty() || !send_resolved.is_empty() {
                let n = build(&mut send_firing.iter().chain(&send_resolved).copied());
                let kind = n.status.as_str();
                emit(out, kind, n, None);
                if let Some(o) = out.last_mut() {
                    o.reminder = (!changed).then_some(g.route.repeat_interval_ms);
                }
            }
            g.last_firing = send_firing;
            g.last_notify = now;
        }
        if !new_flapping.is_empty() {
            let mut n = build(&mut new_flapping.iter().copied());
            n.sidewatch_kind = Some("flapping".into());
            emit(out, "flapping", n, None);
        }
        g.flapping_sent = g.flapping_sent.intersection(&still_flapping).copied().chain(new_flapping).collect();
        // Resolved alerts were told now, or never notified as firing: either way they are done.
        g.fps.retain(|fp| self.alerts[fp].alert.firing());
    }
}

/// A route without its children (groups keep a copy).
fn strip(r: &Route) -> Route {
    Route { routes: Vec::new(), ..r.clone() }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
