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
use std::sync::Arc;
use std::time::Instant;

crate::error::message_error! {
    /// Why a rule's query or its alerts' templates failed at one evaluation.
    pub(crate) EvalError
}

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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule with its evaluation state.
#[derive(Clone, Debug)]
pub(crate) struct RuleState {
    /// The rule.
    pub(crate) rule: Rule,
    /// Alerts (alerting rules).
    pub(crate) alerts: AlertSet,
    /// Health.
    pub(crate) health: Health,
    /// Last error.
    pub(crate) last_error: Option<String>,
    /// Last evaluation time (ms).
    pub(crate) last_eval: Option<i64>,
    /// Last evaluation duration (s).
    pub(crate) duration_s: f64,
    /// Store ids written at the last evaluation (for staleness markers).
    written: Vec<u32>,
}

/// A group with its rules' state.
#[derive(Clone, Debug)]
pub struct GroupState {
    /// The group.
    pub(crate) group: Group,
    /// Its rules.
    pub(crate) rules: Vec<RuleState>,
    /// Last evaluation time (ms).
    pub(crate) last_eval: Option<i64>,
    /// Last evaluation duration (s).
    pub duration_s: f64,
    /// Whether no rule reads what the group writes ([`independent`]), so the queries may run
    /// at once.
    independent: bool,
}

/// What templates and alert labels need beyond the rule.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `rules.external_labels`.
    pub external_labels: BTreeMap<String, String>,
    /// `server.external_url`.
    pub external_url: String,
    /// How many of a group's rule queries may run at once (`rules.concurrency`; 0 or 1: one
    /// after the other).
    pub concurrency: usize,
    /// Queries run on threads only when the group's rules took at least this long in all (s)
    /// at its last evaluation ([`PARALLEL_AFTER_S`] when running): a group of tiny queries is
    /// done rule by rule sooner than threads start. 0: whenever `concurrency` allows.
    pub parallel_after_s: f64,
}

/// [`Context::parallel_after_s`] of a running sidewatch: starting two threads and waking them
/// costs tens of microseconds, more on a busy machine, while a group of one-selector rules
/// (`up == 0`, `x > 4e9`) takes about as much in all.
pub const PARALLEL_AFTER_S: f64 = 0.002;

/// A state change of an alert of rule `rule` in this group.
#[derive(Clone, Debug)]
pub struct Event {
    /// Index of the rule in the group.
    pub(crate) rule: usize,
    /// The change.
    pub(crate) transition: Transition,
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
        GroupState { independent: independent(&group), group, rules, last_eval: None, duration_s: 0.0 }
    }

    /// Evaluates every rule at `ts` (ms); returns the alert state changes. When no rule reads
    /// what the group writes (see [`independent`]), `ctx.concurrency` > 1 and the group's rules
    /// took at least `ctx.parallel_after_s` last time, the rules' queries run on that many
    /// threads at once and their results are then applied in order, which is what sequential
    /// evaluation would give.
    pub fn eval(&mut self, engine: &Engine, ts: i64, ctx: &Context) -> Vec<Event> {
        let started = Instant::now();
        let at = ts - self.group.query_offset_ms;
        let cache = crate::promql::EvalCache::default();
        let threads = ctx.concurrency.min(self.rules.len());
        let last_work_s: f64 = self.rules.iter().map(|r| r.duration_s).sum();
        // Filled by the threads when the queries run at once; else each rule queries below.
        let queried: Vec<std::sync::OnceLock<Queried>> = self.rules.iter().map(|_| Default::default()).collect();
        if threads > 1 && self.independent && last_work_s >= ctx.parallel_after_s {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let rules = &self.rules;
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(rs) = rules.get(i) else { break };
                            let rule_started = Instant::now();
                            let r = query(rs, engine, at, &cache);
                            let _ = queried[i].set((r, rule_started.elapsed().as_secs_f64()));
                        }
                    });
                }
            });
        }
        let mut events = Vec::new();
        for ((i, rs), done) in self.rules.iter_mut().enumerate().zip(queried) {
            let rule_started = Instant::now();
            let (value, query_s) = done.into_inner().unwrap_or_else(|| (query(rs, engine, at, &cache), 0.0));
            let result = value.and_then(|v| apply(rs, &self.group, engine.store(), v, ts, ctx));
            if rs.rule.record.is_some() {
                cache.clear();
            }
            rs.duration_s = query_s + rule_started.elapsed().as_secs_f64();
            rs.last_eval = Some(ts);
            match result {
                Ok(transitions) => {
                    rs.health = Health::Ok;
                    rs.last_error = None;
                    events.extend(transitions.into_iter().map(|transition| Event { rule: i, transition }));
                }
                Err(e) => {
                    rs.health = Health::Err;
                    rs.last_error = Some(String::from(e));
                }
            }
        }
        self.last_eval = Some(ts);
        self.duration_s = started.elapsed().as_secs_f64();
        events
    }
}

/// A rule's query result and how long the query took (s).
type Queried = (Result<Value, EvalError>, f64);

/// Whether no rule of `group` can read a series the group writes — recording rules' names,
/// `ALERTS` and `ALERTS_FOR_STATE` — so all its queries may run before any result is written.
/// A selector without a metric-name matcher could read anything, so it makes the group
/// dependent (evaluated rule by rule, as Prometheus does).
pub(crate) fn independent(group: &Group) -> bool {
    let mut written: Vec<&str> = group.rules.iter().filter_map(|r| r.record.as_deref()).collect();
    if group.rules.iter().any(|r| r.alert.is_some()) {
        written.extend(["ALERTS", "ALERTS_FOR_STATE"]);
    }
    group.rules.iter().all(|r| {
        crate::promql::selectors(&r.expr).iter().all(|vs| {
            if !vs.matchers.or_matchers.is_empty() {
                return false;
            }
            let name_matchers: Vec<_> = vs.matchers.matchers.iter().filter(|m| m.name == "__name__").collect();
            if vs.name.is_none() && name_matchers.is_empty() {
                return false;
            }
            !written
                .iter()
                .any(|w| vs.name.as_deref().is_none_or(|n| n == *w) && name_matchers.iter().all(|m| m.is_match(w)))
        })
    })
}

/// The output of an expression as labelled samples (a scalar is one sample without labels).
fn samples(v: Value) -> Result<Vec<(Labels, f64)>, EvalError> {
    match v {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar(x) => Ok(vec![(Labels::default(), x)]),
        other => {
            Err(EvalError::from(format!("rule result is a {}, not an instant vector or scalar", other.type_name())))
        }
    }
}

/// `labels` with `extra` (sorted by name) applied: an empty value removes the label. The
/// strings are shared (reference counts), not copied: an alert's or a recorded sample's labels
/// are mostly the store's interned strings.
fn with_labels(labels: &Labels, extra: &[(Arc<str>, Arc<str>)]) -> Labels {
    use std::cmp::Ordering;
    let mut out = Vec::with_capacity(labels.0.len() + extra.len());
    let (mut a, mut b) = (labels.0.iter().peekable(), extra.iter().peekable());
    loop {
        let take_extra = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                Ordering::Less => false,
                Ordering::Equal => {
                    a.next();
                    true
                }
                Ordering::Greater => true,
            },
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        if take_extra {
            let y = b.next().expect("peeked");
            if !y.1.is_empty() {
                out.push(y.clone());
            }
        } else {
            out.push(a.next().expect("peeked").clone());
        }
    }
    Labels(out)
}

/// An alerting rule's extra label: name, value when it is not a template, the template.
type ExtraLabel<'a> = (Arc<str>, Option<Arc<str>>, &'a str);

/// The rule's query at `at`.
fn query(rs: &RuleState, engine: &Engine, at: i64, cache: &crate::promql::EvalCache) -> Result<Value, EvalError> {
    engine.instant_cached(&rs.rule.expr, at, Some(cache)).map(|o| o.value).map_err(|e| EvalError(e.msg))
}

/// Applies a rule's query result at `ts`: writes a recording rule's samples, or runs the alert
/// state machine and writes `ALERTS`/`ALERTS_FOR_STATE`; marks what it stopped writing stale.
fn apply(
    rs: &mut RuleState,
    group: &Group,
    store: &Store,
    value: Value,
    ts: i64,
    ctx: &Context,
) -> Result<Vec<Transition>, EvalError> {
    let samples = samples(value)?;
    let written: Vec<u32>;
    let result = if let Some(record) = rs.rule.record.clone() {
        let mut extra = group.labels.clone();
        extra.extend(rs.rule.labels.clone());
        extra.insert("__name__".into(), record);
        let extra = Labels::from_pairs(&extra).0;
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
            return Err(EvalError::from(format!("exceeded limit of {} with {} series", group.limit, batch.len())));
        }
        store.append_batch(&batch);
        written = batch.iter().map(|b| b.0).collect();
        Ok(Vec::new())
    } else {
        let name = rs.rule.alert.clone().unwrap_or_default();
        let ext: BTreeMap<&str, &str> = ctx.external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The rule's extra labels (the rule's over the group's, `alertname` over both), each
        // with its value when it is not a template (shared by every alert of the rule).
        let mut extra_t: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, t) in group.labels.iter().chain(rs.rule.labels.iter()) {
            extra_t.insert(k, t);
        }
        extra_t.insert("alertname", &name);
        let fixed: Vec<ExtraLabel> = extra_t
            .iter()
            .map(|(&k, &t)| (Arc::from(k), (k == "alertname" || !t.contains("{{")).then(|| Arc::from(t)), t))
            .collect();
        let templated = !rs.rule.annotations.is_empty() || fixed.iter().any(|f| f.1.is_none());
        let mut candidates = Vec::with_capacity(samples.len());
        for (l, v) in samples {
            let base = Labels(l.0.into_iter().filter(|(k, _)| &**k != "__name__").collect());
            let data = templated.then(|| Data {
                labels: base.0.iter().map(|(k, v)| (&**k, &**v)).collect(),
                value: v,
                external_labels: ext.clone(),
                external_url: &ctx.external_url,
            });
            let expand = |t: &str| data.as_ref().map_or_else(String::new, |d| template::expand(t, d));
            let extra: Vec<(Arc<str>, Arc<str>)> = fixed
                .iter()
                .map(|(k, value, t)| (k.clone(), value.clone().unwrap_or_else(|| Arc::from(expand(t)))))
                .collect();
            let annotations = rs.rule.annotations.iter().map(|(k, t)| (k.clone(), expand(t))).collect();
            let labels = with_labels(&base, &extra);
            candidates.push(Candidate { labels, annotations, value: v });
        }
        let transitions = rs.alerts.update(ts, candidates);
        let live = rs.alerts.live().count();
        if group.limit > 0 && live > group.limit {
            rs.alerts.active.clear();
            return Err(EvalError::from(format!("exceeded limit of {} with {live} alerts", group.limit)));
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
