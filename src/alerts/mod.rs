//! *Alerts* and their state machine, as Prometheus runs it. An alerting rule's expression
//! yields one alert per output label set (its *fingerprint*): new → *pending*; pending for
//! `for` → *firing*; gone from the output → *inactive* (a firing one is *resolved*, and kept
//! 15 minutes so receivers learn it ended), unless `keep_firing_for` holds it firing a while
//! longer. A pending alert that disappears is simply dropped. Each state change is an event the
//! caller records (history, notifications); `flaps` counts an alert's fire and resolve
//! transitions in the last hour (pending comings and goings are not flapping).

pub(crate) mod stream;

use crate::store::Labels;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Prometheus keeps resolved alerts this long (ms) so they are sent as resolved.
pub(crate) const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;
/// The window over which state changes count as flapping (ms).
pub(crate) const FLAP_WINDOW_MS: i64 = 60 * 60_000;

/// Where an alert is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Not (or no longer) active; a resolved alert is inactive with `resolved_at` set.
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl State {
    /// `inactive`, `pending`, `firing`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }

    /// Parses the SQL text [`State::as_str`] gives.
    pub(crate) fn parse(text: &str) -> Option<State> {
        match text {
            "inactive" => Some(State::Inactive),
            "pending" => Some(State::Pending),
            "firing" => Some(State::Firing),
            _ => None,
        }
    }
}

/// One alert of a rule.
#[derive(Clone, Debug)]
pub(crate) struct Alert {
    /// The alert's labels: the expression's output labels, the rule's labels, `alertname`.
    pub(crate) labels: Labels,
    /// Rendered annotations.
    pub(crate) annotations: BTreeMap<String, String>,
    /// State.
    pub(crate) state: State,
    /// When it became pending (ms).
    pub(crate) active_at: i64,
    /// When it started firing (ms).
    pub(crate) fired_at: Option<i64>,
    /// When it resolved (ms).
    pub(crate) resolved_at: Option<i64>,
    /// Since when it is held firing by `keep_firing_for` (ms).
    pub(crate) keep_firing_since: Option<i64>,
    /// Restored after a restart: until this time (ms) the rule's windows may still miss the
    /// outage's samples, so the alert is not resolved or dropped merely for lack of data.
    pub(crate) warming_until: Option<i64>,
    /// The expression's value at the last evaluation.
    pub(crate) value: f64,
    /// Times of its recent state changes (for flapping).
    pub(crate) changes: VecDeque<i64>,
}

impl Alert {
    /// State changes in the last [`FLAP_WINDOW_MS`] up to `now`.
    pub(crate) fn flaps(&self, now: i64) -> usize {
        self.changes.iter().filter(|t| **t > now - FLAP_WINDOW_MS).count()
    }

    fn changed(&mut self, t: i64) {
        self.changes.push_back(t);
        while self.changes.front().is_some_and(|c| *c <= t - FLAP_WINDOW_MS) {
            self.changes.pop_front();
        }
    }
}

/// A state change produced by an evaluation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Transition {
    /// The alert's fingerprint.
    pub(crate) fingerprint: u64,
    /// The alert's labels.
    pub(crate) labels: Labels,
    /// From state.
    pub(crate) from: State,
    /// To state.
    pub(crate) to: State,
    /// Value at the change.
    pub(crate) value: f64,
    /// When (ms).
    pub(crate) at: i64,
}

/// One output sample of a rule's expression, labelled and annotated for its alert.
pub(crate) struct Candidate {
    /// Final alert labels.
    pub(crate) labels: Labels,
    /// Rendered annotations.
    pub(crate) annotations: BTreeMap<String, String>,
    /// The value.
    pub(crate) value: f64,
}

/// The active alerts of one alerting rule and its `for` / `keep_firing_for`.
#[derive(Clone, Debug, Default)]
pub(crate) struct AlertSet {
    /// Pending `for` (ms).
    pub(crate) for_ms: i64,
    /// `keep_firing_for` (ms).
    pub(crate) keep_firing_for_ms: i64,
    /// Active (and recently resolved) alerts by fingerprint.
    pub(crate) active: HashMap<u64, Alert>,
}

impl AlertSet {
    /// Applies one evaluation at `ts` whose output is `candidates`; returns the transitions.
    pub(crate) fn update(&mut self, ts: i64, candidates: Vec<Candidate>) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in candidates {
            let fp = c.labels.fingerprint();
            seen.insert(fp);
            match self.active.get_mut(&fp) {
                Some(a) if a.state != State::Inactive => {
                    a.value = c.value;
                    a.annotations = c.annotations;
                    a.keep_firing_since = None;
                }
                _ => {
                    let a = Alert {
                        labels: c.labels,
                        annotations: c.annotations,
                        state: State::Pending,
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        keep_firing_since: None,
                        warming_until: None,
                        value: c.value,
                        changes: self.active.remove(&fp).map(|old| old.changes).unwrap_or_default(),
                    };
                    out.push(Transition {
                        fingerprint: fp,
                        labels: a.labels.clone(),
                        from: State::Inactive,
                        to: State::Pending,
                        value: a.value,
                        at: ts,
                    });
                    self.active.insert(fp, a);
                }
            }
        }
        let mut drop = Vec::new();
        for (&fp, a) in self.active.iter_mut() {
            if !seen.contains(&fp) {
                let mut keep_firing = false;
                if a.state == State::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                if a.state != State::Inactive && a.warming_until.is_some_and(|w| ts < w) {
                    // Held: its windows are still filling after the restart.
                    continue;
                }
                if a.state == State::Pending || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                    drop.push(fp);
                }
                if a.state != State::Inactive && !keep_firing {
                    if a.state == State::Firing {
                        a.changed(ts); // resolved
                    }
                    out.push(Transition {
                        fingerprint: fp,
                        labels: a.labels.clone(),
                        from: a.state,
                        to: State::Inactive,
                        value: a.value,
                        at: ts,
                    });
                    a.state = State::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            }
            if a.state == State::Pending && ts - a.active_at >= self.for_ms {
                a.state = State::Firing;
                a.fired_at = Some(ts);
                a.changed(ts);
                out.push(Transition {
                    fingerprint: fp,
                    labels: a.labels.clone(),
                    from: State::Pending,
                    to: State::Firing,
                    value: a.value,
                    at: ts,
                });
            }
        }
        for fp in drop {
            // A pending alert that vanished is forgotten at once (its changes with it).
            if self.active.get(&fp).is_some_and(|a| a.state == State::Inactive) {
                self.active.remove(&fp);
            }
        }
        out
    }

    /// Pending and firing alerts.
    pub(crate) fn live(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().filter(|a| a.state != State::Inactive)
    }
}

#[cfg(test)]
mod tests;
