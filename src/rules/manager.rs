//! The *rule manager*: loads the configured rule files, runs each group on its own interval
//! (offset by a hash of its name so groups spread across the interval, as Prometheus does),
//! and reloads on demand (SIGHUP, `POST /-/reload`, or a change on disk). A reload that fails
//! keeps the last good rules running; its error is kept for `/api/v1/rules` and counted. Alert
//! state carries over a reload for rules that keep their group, name and expression.

use super::eval::{Context, GroupState};
use super::file::Group;
use crate::alerts::stream::AlertStream;
use crate::promql::Engine;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

crate::error::message_error! {
    /// Why rule files could not be (re)loaded; the last good rules stay.
    pub(crate) ReloadError
}

/// Self metrics of rule evaluation.
#[derive(Clone)]
pub struct RuleMetrics {
    evaluations: IntCounterVec,
    failures: IntCounterVec,
    missed: IntCounterVec,
    duration: GaugeVec,
    reloads: IntCounterVec,
    alerts: IntGaugeVec,
    flaps: IntGaugeVec,
}

impl RuleMetrics {
    /// Registers the metrics.
    pub fn register(registry: &prometheus::Registry) -> RuleMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let duration = GaugeVec::new(
            Opts::new("sidewatch_rule_group_last_duration_seconds", "Duration of the group's last evaluation."),
            &["group"],
        )
        .expect("valid metric");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        RuleMetrics {
            evaluations: counter("sidewatch_rule_evaluations_total", "Rule evaluations, by group.", &["group"]),
            failures: counter(
                "sidewatch_rule_evaluation_failures_total",
                "Failed rule evaluations, by group.",
                &["group"],
            ),
            missed: counter(
                "sidewatch_rule_group_iterations_missed_total",
                "Group evaluations skipped because the previous one ran past the interval.",
                &["group"],
            ),
            duration,
            reloads: counter(
                "sidewatch_rule_reloads_total",
                "Rule file reloads, by result (success, failure).",
                &["result"],
            ),
            alerts: gauge("sidewatch_alerts", "Active alerts, by state (pending, firing).", &["state"]),
            flaps: gauge(
                "sidewatch_alert_flaps",
                "State changes of the alerts of each alerting rule in the last hour.",
                &["alertname"],
            ),
        }
    }
}

/// The outcome of the last reload.
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus {
    /// Whether it succeeded.
    pub success: bool,
    /// The errors, one per line, when it did not.
    pub(crate) error: Option<String>,
    /// When (ms).
    pub(crate) at: i64,
}

struct Inner {
    groups: RwLock<Vec<Arc<Mutex<GroupState>>>>,
    status: Mutex<ReloadStatus>,
    files: Vec<String>,
    base: PathBuf,
    default_interval_ms: i64,
    ctx: Context,
    engine: Engine,
    metrics: RuleMetrics,
    generation: std::sync::atomic::AtomicU64,
    stream: AlertStream,
}

/// Loads, runs and reloads the rule groups; cheap to clone.
#[derive(Clone)]
pub struct RuleManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuleManager")
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl RuleManager {
    /// A manager for `files` (globs relative to `base`); loads them once (a failure is
    /// reported in the status and leaves no rules).
    pub fn new(
        files: Vec<String>,
        base: PathBuf,
        default_interval_ms: i64,
        ctx: Context,
        engine: Engine,
        metrics: RuleMetrics,
    ) -> RuleManager {
        let m = RuleManager {
            inner: Arc::new(Inner {
                groups: RwLock::new(Vec::new()),
                status: Mutex::new(ReloadStatus::default()),
                files,
                base,
                default_interval_ms,
                ctx,
                engine,
                metrics,
                generation: Default::default(),
                stream: AlertStream::default(),
            }),
        };
        let _ = m.reload();
        m
    }

    /// The alert stream this manager publishes on after every group evaluation: subscribe
    /// to its transitions or its alert sets.
    pub(crate) fn stream(&self) -> &AlertStream {
        &self.inner.stream
    }

    /// The current groups.
    pub(crate) fn groups(&self) -> Vec<Arc<Mutex<GroupState>>> {
        self.inner.groups.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last reload's outcome.
    pub fn status(&self) -> ReloadStatus {
        self.inner.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes whenever the set of groups is replaced.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reloads the rule files; on any error the running rules stay. Returns the errors.
    pub(crate) fn reload(&self) -> Result<usize, ReloadError> {
        let i = &self.inner;
        let loaded = super::load_globs(&i.base, &i.files, i.default_interval_ms);
        let mut status = i.status.lock().unwrap_or_else(|e| e.into_inner());
        match loaded {
            Err(errs) => {
                let msg = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
                tracing::error!(error = %msg, "rule files not loaded; the previous rules keep running");
                i.metrics.reloads.with_label_values(&["failure"]).inc();
                *status = ReloadStatus { success: false, error: Some(msg.clone()), at: now_ms() };
                Err(ReloadError::from(msg))
            }
            Ok(groups) => {
                let mut current = i.groups.write().unwrap_or_else(|e| e.into_inner());
                let next: Vec<Arc<Mutex<GroupState>>> =
                    groups.into_iter().map(|g| Arc::new(Mutex::new(carry_over(g, &current)))).collect();
                let n = next.iter().map(|g| g.lock().map(|g| g.rules.len()).unwrap_or(0)).sum();
                i.engine.store().set_retentions(&retentions(&next));
                *current = next;
                i.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                i.metrics.reloads.with_label_values(&["success"]).inc();
                *status = ReloadStatus { success: true, error: None, at: now_ms() };
                tracing::info!(rules = n, "rules loaded");
                Ok(n)
            }
        }
    }

    /// Refreshes the alert gauges (called when `/metrics` renders).
    pub(crate) fn observe(&self) {
        let (mut pending, mut firing) = (0, 0);
        let now = now_ms();
        self.inner.metrics.flaps.reset();
        for g in self.groups() {
            let g = g.lock().unwrap_or_else(|e| e.into_inner());
            for r in &g.rules {
                let Some(name) = &r.rule.alert else { continue };
                let mut flaps = 0;
                for a in r.alerts.active.values() {
                    flaps += a.flaps(now);
                    match a.state {
                        crate::alerts::State::Pending => pending += 1,
                        crate::alerts::State::Firing => firing += 1,
                        crate::alerts::State::Inactive => {}
                    }
                }
                self.inner.metrics.flaps.with_label_values(&[name]).add(flaps as i64);
            }
        }
        self.inner.metrics.alerts.with_label_values(&["pending"]).set(pending);
        self.inner.metrics.alerts.with_label_values(&["firing"]).set(firing);
    }

    /// Starts the evaluation loops (and the rule-file watch) and a SIGHUP reload; they end
    /// with `stop`.
    pub(crate) fn start(
        &self,
        watch: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![tokio::spawn(self.clone().run(watch, stop.clone())), tokio::spawn(reload_on_sighup(self.clone(), stop))]
    }

    /// Runs every group until `stop`, restarting the loops when the groups are replaced, and
    /// reloads when a rule file changes on disk (every `watch`, unless zero).
    pub(crate) async fn run(self, watch: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut signature = self.files_signature();
        loop {
            let generation = self.generation();
            let (tx, rx) = tokio::sync::watch::channel(false);
            let tasks: Vec<_> =
                self.groups().into_iter().map(|g| tokio::spawn(self.clone().group_loop(g, rx.clone()))).collect();
            loop {
                let tick = if watch.is_zero() { Duration::from_secs(1) } else { watch };
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    let _ = tx.send(true);
                    for t in tasks {
                        let _ = t.await;
                    }
                    return;
                }
                if !watch.is_zero() {
                    let now = self.files_signature();
                    if now != signature {
                        signature = now;
                        tracing::info!("rule files changed on disk; reloading");
                        let _ = self.reload();
                    }
                }
                if self.generation() != generation {
                    break;
                }
            }
            let _ = tx.send(true);
            for t in tasks {
                let _ = t.await;
            }
        }
    }

    /// Names, sizes and modification times of the matched files.
    fn files_signature(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let files = super::matching_files(&self.inner.base, &self.inner.files).unwrap_or_default();
        files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                (f, len, meta.and_then(|m| m.modified().ok()))
            })
            .collect()
    }

    async fn group_loop(self, group: Arc<Mutex<GroupState>>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let (name, interval, offset) = {
            let g = group.lock().unwrap_or_else(|e| e.into_inner());
            let key = format!("{};{}", g.group.file, g.group.name);
            let h = crate::store::Labels::from_pairs([("g", key.as_str())]).fingerprint();
            (g.group.name.clone(), g.group.interval_ms.max(1), (h % g.group.interval_ms.max(1) as u64) as i64)
        };
        let m = &self.inner.metrics;
        loop {
            let now = now_ms();
            let next = ((now - offset).div_euclid(interval) + 1) * interval + offset;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let (g, inner) = (group.clone(), self.inner.clone());
            let done = tokio::task::spawn_blocking(move || {
                let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
                let events = g.eval(&inner.engine, next, &inner.ctx);
                super::publish::publish(&inner.stream, &g, &events, &inner.ctx, now_ms());
                let out = (g.duration_s, g.rules.iter().filter(|r| r.health == super::Health::Err).count());
                drop(g);
                crate::telemetry::release_free_memory();
                out
            })
            .await;
            let Ok((duration, failed)) = done else { continue };
            m.evaluations.with_label_values(&[&name]).inc();
            m.failures.with_label_values(&[&name]).inc_by(failed as u64);
            m.duration.with_label_values(&[&name]).set(duration);
            let late = now_ms() - next;
            if late > interval {
                m.missed.with_label_values(&[&name]).inc_by((late / interval) as u64);
            }
        }
    }
}

/// How long each metric must be kept for the rules to see their whole windows: the longest
/// window any rule reads it over, plus the lookback and one evaluation interval.
fn retentions(groups: &[Arc<Mutex<GroupState>>]) -> std::collections::HashMap<String, i64> {
    let mut out = std::collections::HashMap::new();
    for g in groups {
        let g = g.lock().unwrap_or_else(|e| e.into_inner());
        for r in &g.rules {
            for (name, ms) in crate::promql::lookback_by_metric(&r.rule.expr) {
                let Some(name) = name else { continue };
                let need = ms + 5 * 60_000 + g.group.interval_ms;
                let e = out.entry(name).or_insert(0);
                *e = (*e).max(need);
            }
        }
    }
    out
}

/// A new group, keeping the state of rules that existed before with the same group, name and
/// expression (so a reload neither resets `for` clocks nor re-fires alerts).
fn carry_over(g: Group, current: &[Arc<Mutex<GroupState>>]) -> GroupState {
    let mut next = GroupState::new(g);
    for old in current {
        let old = old.lock().unwrap_or_else(|e| e.into_inner());
        if old.group.name != next.group.name || old.group.file != next.group.file {
            continue;
        }
        for r in &mut next.rules {
            if let Some(o) =
                old.rules.iter().find(|o| o.rule.name() == r.rule.name() && o.rule.expr_text == r.rule.expr_text)
            {
                let (for_ms, keep) = (r.alerts.for_ms, r.alerts.keep_firing_for_ms);
                r.alerts = o.alerts.clone();
                r.alerts.for_ms = for_ms;
                r.alerts.keep_firing_for_ms = keep;
                r.health = o.health;
                r.last_error = o.last_error.clone();
                r.last_eval = o.last_eval;
            }
        }
        next.last_eval = old.last_eval;
    }
    next
}

/// Reloads the rules on every SIGHUP until `stop`.
async fn reload_on_sighup(rules: RuleManager, mut stop: tokio::sync::watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!(signal = "SIGHUP", "reloading rules");
                    let r = rules.clone();
                    let _ = tokio::task::spawn_blocking(move || r.reload()).await;
                }
                _ = stop.changed() => return,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (rules, stop.changed().await);
    }
}
