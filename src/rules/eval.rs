//! *Group evaluation*: the rules of a group, in order, at one time. A recording rule writes its
//! result back into the store under its `record` name (so later rules and queries see it); an
//! alerting rule feeds its output through the alert state machine and writes the `ALERTS` and
//! `ALERTS_FOR_STATE` series. Series a rule stops producing get a staleness marker, as in
//! Prometheus. Each rule keeps its health (`ok`/`err`/`unknown`), last error and duration.

use super::file::{Group, Rule};
use super::template::{self, Data};
use crate::alerts::{AlertSet, Candidate, Transition};
use crate::promql::{Engine, Value};
use crate::store::{Labels, Store};
use std::collections::BTreeMap;
use std::time::Instant;

/// Rule health, as `/api/v1/rules` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Ok,
    /// Last evaluation failed.
    Err,
}

impl Health {
    /// `unknown`, `ok`, `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule with its evaluation state.
#[derive(Clone, Debug)]
pub struct RuleState {
    /// The rule.
    pub rule: Rule,
    /// Alerts (alerting rules).
    pub alerts: AlertSet,
    /// Health.
    pub health: Health,
    /// Last error.
    pub last_error: Option<String>,
    /// Last evaluation time (ms).
    pub last_eval: Option<i64>,
    /// Last evaluation duration (s).
    pub duration_s: f64,
    /// Store ids written at the last evaluation (for staleness markers).
    written: Vec<u32>,
}

/// A group with its rules' state.
#[derive(Clone, Debug)]
pub struct GroupState {
    /// The group.
    pub group: Group,
    /// Its rules.
    pub rules: Vec<RuleState>,
    /// Last evaluation time (ms).
    pub last_eval: Option<i64>,
    /// Last evaluation duration (s).
    pub duration_s: f64,
}

/// What templates and alert labels need beyond the rule.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `rules.external_labels`.
    pub external_labels: BTreeMap<String, String>,
    /// `server.external_url`.
    pub external_url: String,
}

/// A state change of an alert of rule `rule` in this group.
#[derive(Clone, Debug)]
pub struct Event {
    /// Index of the rule in the group.
    pub rule: usize,
    /// The change.
    pub transition: Transition,
}

impl GroupState {
    /// A group that has not run yet.
    pub fn new(group: Group) -> GroupState {
        let rules = group
            .rules
            .iter()
            .map(|r| RuleState {
                alerts: AlertSet { for_ms: r.for_ms, keep_firing_for_ms: r.keep_firing_for_ms, ..Default::default() },
                rule: r.clone(),
                health: Health::Unknown,
                last_error: None,
                last_eval: None,
                duration_s: 0.0,
                written: Vec::new(),
            })
            .collect();
        GroupState { group, rules, last_eval: None, duration_s: 0.0 }
    }

    /// Evaluates every rule at `ts` (ms); returns the alert state changes.
    pub fn eval(&mut self, engine: &Engine, ts: i64, ctx: &Context) -> Vec<Event> {
        let started = Instant::now();
        let mut events = Vec::new();
        let at = ts - self.group.query_offset_ms;
        let cache = crate::promql::EvalCache::default();
        for (i, rs) in self.rules.iter_mut().enumerate() {
            let rule_started = Instant::now();
            let result = eval_rule(rs, &self.group, engine, at, ts, ctx, &cache);
            if rs.rule.record.is_some() {
                cache.clear();
            }
            rs.duration_s = rule_started.elapsed().as_secs_f64();
            rs.last_eval = Some(ts);
            match result {
                Ok(transitions) => {
                    rs.health = Health::Ok;
                    rs.last_error = None;
                    events.extend(transitions.into_iter().map(|transition| Event { rule: i, transition }));
                }
                Err(e) => {
                    rs.health = Health::Err;
                    rs.last_error = Some(e);
                }
            }
        }
        self.last_eval = Some(ts);
        self.duration_s = started.elapsed().as_secs_f64();
        events
    }
}

/// The output of an expression as labelled samples (a scalar is one sample without labels).
fn samples(v: Value) -> Result<Vec<(Labels, f64)>, String> {
    match v {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar(x) => Ok(vec![(Labels::default(), x)]),
        other => Err(format!("rule result is a {}, not an instant vector or scalar", other.type_name())),
    }
}

/// `labels` with `extra` applied (an empty value removes the label).
fn with_labels(labels: &Labels, extra: &BTreeMap<String, String>) -> Labels {
    let mut m: BTreeMap<String, String> = labels.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (k, v) in extra {
        if v.is_empty() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    Labels::from_pairs(m)
}

fn eval_rule(
    rs: &mut RuleState,
    group: &Group,
    engine: &Engine,
    at: i64,
    ts: i64,
    ctx: &Context,
    cache: &crate::promql::EvalCache,
) -> Result<Vec<Transition>, String> {
    let store: &Store = engine.store();
    let out = engine.instant_cached(&rs.rule.expr, at, Some(cache)).map_err(|e| e.msg)?;
    let samples = samples(out.value)?;
    let written: Vec<u32>;
    let result = if let Some(record) = rs.rule.record.clone() {
        let mut extra = group.labels.clone();
        extra.extend(rs.rule.labels.clone());
        extra.insert("__name__".into(), record);
        let mut seen = std::collections::HashSet::new();
        let mut batch = Vec::with_capacity(samples.len());
        for (l, v) in &samples {
            let l = with_labels(l, &extra);
            if !seen.insert(l.clone()) {
                return Err("vector contains metrics with the same labelset after applying rule labels".into());
            }
            let id = store.get_or_create(l.0.iter().map(|(k, v)| (&**k, &**v))).map_err(|e| e.to_string())?;
            batch.push((id, ts, *v));
        }
        if group.limit > 0 && batch.len() > group.limit {
            return Err(format!("exceeded limit of {} with {} series", group.limit, batch.len()));
        }
        store.append_batch(&batch);
        written = batch.iter().map(|b| b.0).collect();
        Ok(Vec::new())
    } else {
        let name = rs.rule.alert.clone().unwrap_or_default();
        let ext: BTreeMap<&str, &str> = ctx.external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut candidates = Vec::with_capacity(samples.len());
        for (l, v) in samples {
            let l = l.0.iter().filter(|(k, _)| &**k != "__name__").map(|(k, v)| (k.to_string(), v.to_string()));
            let base: BTreeMap<String, String> = l.collect();
            let data = Data {
                labels: base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                value: v,
                external_labels: ext.clone(),
                external_url: &ctx.external_url,
            };
            let mut extra: BTreeMap<String, String> = BTreeMap::new();
            for (k, t) in group.labels.iter().chain(rs.rule.labels.iter()) {
                extra.insert(k.clone(), template::expand(t, &data));
            }
            extra.insert("alertname".into(), name.clone());
            let annotations =
                rs.rule.annotations.iter().map(|(k, t)| (k.clone(), template::expand(t, &data))).collect();
            let labels = with_labels(&Labels::from_pairs(base.iter()), &extra);
            candidates.push(Candidate { labels, annotations, value: v });
        }
        let transitions = rs.alerts.update(ts, candidates);
        let live = rs.alerts.live().count();
        if group.limit > 0 && live > group.limit {
            rs.alerts.active.clear();
            return Err(format!("exceeded limit of {} with {live} alerts", group.limit));
        }
        let mut batch = Vec::new();
        for a in rs.alerts.live() {
            let state = a.state.as_str();
            let mut alerts = a.labels.0.iter().map(|(k, v)| (&**k, &**v)).collect::<Vec<_>>();
            alerts.push(("__name__", "ALERTS"));
            alerts.push(("alertstate", state));
            if let Ok(id) = store.get_or_create(alerts.iter().copied()) {
                batch.push((id, ts, 1.0));
            }
            let mut for_state = a.labels.0.iter().map(|(k, v)| (&**k, &**v)).collect::<Vec<_>>();
            for_state.push(("__name__", "ALERTS_FOR_STATE"));
            if let Ok(id) = store.get_or_create(for_state.iter().copied()) {
                batch.push((id, ts, a.active_at as f64 / 1000.0));
            }
        }
        store.append_batch(&batch);
        written = batch.iter().map(|b| b.0).collect();
        Ok(transitions)
    };
    // Series produced last time and not now get a staleness marker.
    let now: std::collections::HashSet<u32> = written.iter().copied().collect();
    let gone: Vec<u32> = rs.written.iter().copied().filter(|id| !now.contains(id)).collect();
    store.mark_stale(gone, ts);
    rs.written = written;
    result
}
