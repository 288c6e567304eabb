//! *Notify*: from alerts to people. Alerts reported by the rules go through the dispatcher
//! (route tree, aggregation groups, inhibition, silences, mute time intervals, flap damping)
//! and become *notifications* for *receivers*. Every notification is written to the durable
//! outbox — one row per receiver *channel* (webhook, Slack, Telegram, email, Alertmanager),
//! `suppressed` rows for what was deliberately not sent, with the cooldown applied — before
//! the delivery workers send it. See docs/NOTIFY.md.

pub(crate) mod channel;
pub(crate) mod config;
pub mod deliver;
pub mod dispatch;
mod forward;
pub(crate) mod matcher;
pub mod metrics;
pub mod model;
pub(crate) mod mute;
pub mod registry;
pub(crate) mod route;
pub mod template;
pub(crate) mod timeinterval;
pub(crate) use config::{InhibitRuleConfig, NotifyConfig, RouteConfig, TimeIntervalConfig};
#[cfg(test)]
pub(crate) use config::{ReceiverConfig, TimeRangeConfig};

use crate::alerts::stream::{ActiveAlert, AlertStream, GroupAlerts};
use crate::storage::{NewOutboxRow, OutboxRepo, OutboxStatus, Storage};
use deliver::{Target, Worker};
use dispatch::{Dispatcher, Outgoing, Rules};
use metrics::NotifyMetrics;
use model::AlertStatus;
use sha2::Digest;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use template::{Runbooks, Templates};
use tokio::sync::{Notify, mpsc, watch};

crate::error::message_error! {
    /// Why `[notify]` could not be compiled into a delivery plan, or queued rows not summarized.
    pub PlanError
}

impl From<template::TemplateError> for PlanError {
    fn from(e: template::TemplateError) -> Self {
        PlanError(e.0)
    }
}

impl From<matcher::MatcherError> for PlanError {
    fn from(e: matcher::MatcherError) -> Self {
        PlanError(e.0)
    }
}

impl From<timeinterval::IntervalError> for PlanError {
    fn from(e: timeinterval::IntervalError) -> Self {
        PlanError(e.0)
    }
}

/// The compiled `[notify]` section.
pub struct Plan {
    /// What the dispatcher needs.
    pub rules: Arc<Rules>,
    /// Every receiver channel.
    pub targets: Vec<Arc<Target>>,
    /// Templates.
    pub templates: Arc<Templates>,
    /// Runbooks.
    pub runbooks: Arc<Runbooks>,
    /// The configuration.
    pub(crate) cfg: NotifyConfig,
    /// The rules' evaluation interval (ms): forwarded alerts expire 4 × max(resend delay,
    /// this) ahead.
    pub(crate) eval_interval_ms: i64,
}

/// Checks `[notify]` without touching files: routes, matchers, receiver references, channel
/// fields, inhibition rules, time intervals. Errors name the field.
pub(crate) fn check(cfg: &NotifyConfig) -> Vec<String> {
    let mut errors = Vec::new();
    let (route, route_errors) = route::Route::compile_all(&cfg.route);
    errors.extend(route_errors);
    let mut names = std::collections::HashSet::new();
    for (i, r) in cfg.receivers.iter().enumerate() {
        let at = format!("notify.receivers[{i}]");
        if r.name.is_empty() {
            errors.push(format!("{at}.name: is empty"));
        } else if !names.insert(r.name.as_str()) {
            errors.push(format!("{at}.name: {:?} is defined twice", r.name));
        }
        for (kind, j, c) in r.channels() {
            errors.extend(c.check().into_iter().map(|e| format!("{at}.{}[{j}].{e}", kind.name)));
        }
    }
    {
        let mut used = Vec::new();
        route.receivers(&mut used);
        used.sort();
        used.dedup();
        for u in used {
            if u.is_empty() && !cfg.receivers.is_empty() {
                errors.push("notify.route.receiver: must name a receiver".into());
            } else if !u.is_empty() && !names.contains(u.as_str()) {
                errors.push(format!("notify.route.receiver: {u:?} is not defined in [[notify.receivers]]"));
            }
        }
        let mut mutes = Vec::new();
        route.mute_names(&mut mutes);
        mutes.sort();
        mutes.dedup();
        for m in mutes {
            if !cfg.mute_time_intervals.iter().any(|t| t.name == m) {
                errors.push(format!(
                    "notify.route.mute_time_intervals: {m:?} is not defined in [[notify.mute_time_intervals]]"
                ));
            }
        }
    }
    for (i, r) in cfg.inhibit_rules.iter().enumerate() {
        if let Err(e) = mute::InhibitRule::compile(r) {
            errors.push(format!("notify.inhibit_rules[{i}]: {e}"));
        }
    }
    for (i, t) in cfg.mute_time_intervals.iter().enumerate() {
        if let Err(e) = timeinterval::TimeInterval::compile(t) {
            errors.push(format!("notify.mute_time_intervals[{i}]: {e}"));
        }
    }
    errors
}

impl Plan {
    /// Compiles `[notify]` (paths relative to `base_dir`) and loads its templates and runbooks.
    pub fn build(cfg: &NotifyConfig, base_dir: &Path, external_url: &str) -> Result<Plan, PlanError> {
        let errors = check(cfg);
        if !errors.is_empty() {
            return Err(PlanError::from(errors.join("; ")));
        }
        let route = route::Route::compile(&cfg.route).map_err(|e| e.join("; "))?;
        let mut targets = Vec::new();
        let mut extra = Vec::new();
        for r in &cfg.receivers {
            for (kind, j, c) in r.channels() {
                let mut ctx = registry::BuildContext { receiver: &r.name, index: j, base_dir, templates: &mut extra };
                targets.push(Arc::new(Target {
                    id: format!("{}/{}/{j}", r.name, kind.name),
                    receiver: r.name.clone(),
                    channel: c.build(&mut ctx),
                    wake: Arc::new(Notify::new()),
                }));
            }
        }
        let dir = (!cfg.templates_dir.is_empty()).then(|| crate::config::resolve_path(base_dir, &cfg.templates_dir));
        let templates = Templates::load(dir.as_deref(), &extra)?;
        let rules = Rules {
            route,
            inhibit: cfg.inhibit_rules.iter().map(mute::InhibitRule::compile).collect::<Result<_, _>>()?,
            intervals: cfg
                .mute_time_intervals
                .iter()
                .map(|t| timeinterval::TimeInterval::compile(t).map(|c| (t.name.clone(), c)))
                .collect::<Result<_, _>>()?,
            flap_threshold: cfg.flap_threshold,
            max_alerts: cfg.max_alerts,
            external_url: external_url.to_string(),
            runbook_base: runbook_base(&cfg.runbook_base_url, external_url),
        };
        Ok(Plan {
            rules: Arc::new(rules),
            targets,
            templates: Arc::new(templates),
            runbooks: Arc::new(Runbooks::load(&crate::config::resolve_path(base_dir, &cfg.runbooks_dir))),
            cfg: cfg.clone(),
            eval_interval_ms: 60_000,
        })
    }

    /// The plan for rules evaluated every `ms`.
    pub(crate) fn with_eval_interval(mut self, ms: i64) -> Plan {
        self.eval_interval_ms = ms;
        self
    }

    /// The targets of a receiver.
    pub(crate) fn targets_of<'a>(&'a self, receiver: &'a str) -> impl Iterator<Item = &'a Arc<Target>> + 'a {
        self.targets.iter().filter(move |t| t.receiver == receiver)
    }
}

/// Hash of what makes two notifications "identical" for the cooldown.
fn payload_hash(target: &str, n: &model::Notification) -> String {
    let mut h = sha2::Sha256::new();
    h.update(target.as_bytes());
    h.update(n.sidewatch_kind.as_deref().unwrap_or("").as_bytes());
    for a in &n.alerts {
        h.update(a.fingerprint.as_bytes());
        h.update(a.status.as_str().as_bytes());
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A reminder is a duplicate of the same notification queued this recently (ms): replicas'
/// repeat_interval timers for one group run within an evaluation or two of each other.
const REMINDER_DEDUPE_MS: i64 = 60_000;

/// Writes `out` to the outbox, one row per channel of its receiver, applying `send_resolved`
/// and the cooldown; wakes the workers of the targets that got rows. Returns the rows written.
pub async fn enqueue(
    plan: &Plan,
    storage: &Storage,
    out: Vec<Outgoing>,
    now: i64,
) -> Result<usize, crate::storage::StorageError> {
    let cooldown = plan.cfg.cooldown.get().as_millis() as i64;
    let expires = now + plan.cfg.max_delivery_age.get().as_millis() as i64;
    let mut rows = Vec::new();
    let mut woken = Vec::new();
    for o in out {
        // Forwarding channels (an Alertmanager) get alerts from the forwarder instead.
        for t in plan.targets_of(&o.receiver).filter(|t| t.channel.forwards().is_none()) {
            let mut n = o.notification.clone();
            if !t.channel.send_resolved() {
                n.alerts.retain(|a| a.status == AlertStatus::Firing);
                if n.alerts.is_empty() {
                    continue;
                }
            }
            let hash = payload_hash(&t.id, &n);
            let suppressed = o.suppressed.clone();
            if suppressed.is_none() {
                woken.push(t.clone());
            }
            let status = if suppressed.is_some() { OutboxStatus::Suppressed } else { OutboxStatus::Pending };
            let mut row = outbox_row(t, &n, &o.kind, status, hash, now, expires);
            row.error_text = suppressed;
            // The cooldown drops a duplicate of the last notification queued for this channel
            // and group (restarts, replicas, retried jobs) — never a change of state, which
            // differs from the last one. A repeat_interval reminder is a duplicate only of one
            // queued in the last minute (another replica's reminder of the same group).
            let window = match o.reminder {
                Some(repeat) => cooldown.min(REMINDER_DEDUPE_MS).min(repeat / 2),
                None => cooldown,
            };
            rows.push((row, window));
        }
    }
    let n = rows.len();
    if n > 0 {
        // The duplicate check and the write are one atomic step, so replicas sharing the
        // database queue one notification per group change between them.
        storage.enqueue_once(&rows).await?;
    }
    for t in woken {
        t.wake.notify_one();
    }
    Ok(n)
}

/// A delivery worker for `plan`'s targets, tagging its claims with `id`.
fn worker(plan: &Plan, storage: &Storage, metrics: NotifyMetrics, id: String, rate_per_minute: u32) -> Worker {
    Worker {
        storage: storage.clone(),
        templates: plan.templates.clone(),
        metrics,
        id,
        rate_per_minute,
        claim_grace_ms: plan.cfg.claim_grace.get().as_millis() as i64,
        max_alerts: plan.cfg.max_alerts,
    }
}

/// Sends what is due in the outbox for every target of `plan` once, from this process (for
/// one-shot runs: `sidewatch report kpi` delivering its KPI alert without a running sidecar).
pub(crate) async fn deliver_due(plan: &Plan, storage: &Storage) -> usize {
    let w = worker(plan, storage, NotifyMetrics::unregistered(), format!("cli-{}", std::process::id()), 0);
    let mut n = 0;
    for t in &plan.targets {
        n += w.drain(t).await;
    }
    n
}

/// An outbox row recording a test notification to `t` (status `sending`: the caller sends it).
pub(crate) fn test_row(t: &Target, n: &model::Notification) -> NewOutboxRow {
    let now = chrono::Utc::now().timestamp_millis();
    let mut row = outbox_row(t, n, "test", OutboxStatus::Sending, payload_hash(&t.id, n), now, now);
    row.target = format!("{}/test", t.id);
    row
}

/// The outbox row of notification `n` (its cooldown hash `hash`) to target `t`, queued at
/// `now`, given up at `expires`.
pub(crate) fn outbox_row(
    t: &Target,
    n: &model::Notification,
    kind: &str,
    status: OutboxStatus,
    hash: String,
    now: i64,
    expires: i64,
) -> NewOutboxRow {
    NewOutboxRow {
        receiver: t.receiver.clone(),
        channel: t.channel.kind().into(),
        target: t.id.clone(),
        group_key: n.group_key.clone(),
        alert_names: n.alert_names(),
        kind: kind.into(),
        payload: serde_json::to_string(n).unwrap_or_default(),
        payload_hash: hash,
        status,
        error_text: None,
        expires_at: expires,
        created_at: now,
    }
}

/// A running notifier's input: the alert sets of rule groups, for the dispatcher and the
/// forwarder.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Arc<GroupAlerts>>,
    forward: mpsc::UnboundedSender<Arc<GroupAlerts>>,
}

impl Notifier {
    /// Reports the complete set of firing and resolved alerts of `source` (a rule group), as
    /// the alert stream does.
    pub fn update(&self, source: String, alerts: Vec<ActiveAlert>) {
        let m = Arc::new(GroupAlerts { group: source, alerts });
        let _ = self.forward.send(m.clone());
        let _ = self.tx.send(m);
    }

    /// Subscribes this notifier to `stream`'s alert sets.
    pub(crate) fn subscribe(&self, stream: &AlertStream) {
        stream.alerts.attach(self.tx.clone());
        if !self.forward.is_closed() {
            stream.alerts.attach(self.forward.clone());
        }
    }

    /// Starts the dispatcher, the workers and the housekeeping loops; they end with `stop`.
    pub fn start(
        plan: Plan,
        storage: Storage,
        metrics: NotifyMetrics,
        stop: watch::Receiver<bool>,
    ) -> (Notifier, Vec<tokio::task::JoinHandle<()>>) {
        tracing::info!(receivers = plan.cfg.receivers.len(), targets = plan.targets.len(), "notifier started");
        let plan = Arc::new(plan);
        let (tx, rx) = mpsc::unbounded_channel();
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let worker = Arc::new(worker(&plan, &storage, metrics.clone(), id, plan.cfg.rate_limit_per_minute));
        let mut tasks: Vec<_> =
            plan.targets.iter().map(|t| tokio::spawn(worker.clone().run(t.clone(), stop.clone()))).collect();
        tasks.push(tokio::spawn(run_dispatcher(plan.clone(), storage.clone(), metrics.clone(), rx, stop.clone())));
        let (forward, forward_rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(forward::run(plan.clone(), storage.clone(), forward_rx, stop.clone())));
        tasks.push(tokio::spawn(housekeeping(plan, storage, metrics, stop)));
        (Notifier { tx, forward }, tasks)
    }
}

async fn load_silences(storage: &Storage, now: i64) -> Option<Vec<mute::Silence>> {
    match storage.list_silences(now).await {
        Ok(rows) => Some(rows.iter().filter_map(|s| mute::Silence::from_stored(s).ok()).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read silences; keeping the last ones");
            None
        }
    }
}

async fn run_dispatcher(
    plan: Arc<Plan>,
    storage: Storage,
    metrics: NotifyMetrics,
    mut rx: mpsc::UnboundedReceiver<Arc<GroupAlerts>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut d = Dispatcher::new(plan.rules.clone(), plan.runbooks.clone());
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let mut silences_at = 0;
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    loop {
        let now = now_ms();
        if now - silences_at >= 2000 {
            if let Some(s) = load_silences(&storage, now).await {
                d.set_silences(s);
            }
            silences_at = now;
            // A rule group that stopped reporting (removed on reload) resolves its alerts.
            let gone: Vec<String> =
                last_seen.iter().filter(|(_, t)| now - **t > 600_000).map(|(k, _)| k.clone()).collect();
            for k in gone {
                d.update(&k, Vec::new(), now);
                last_seen.remove(&k);
            }
        }
        let out = d.flush(now);
        metrics.groups.set(d.group_count() as i64);
        if !out.is_empty() {
            // The outbox must get these; retry while the database is away.
            loop {
                match enqueue(&plan, &storage, out.clone(), now).await {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox: cannot queue notifications; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        }
        let wait = d.next_due().map(|t| (t - now_ms()).clamp(5, 1000)).unwrap_or(1000) as u64;
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                let now = now_ms();
                for m in std::iter::once(msg).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    let GroupAlerts { group, alerts } = Arc::unwrap_or_clone(m);
                    last_seen.insert(group.clone(), now);
                    d.update(&group, alerts, now);
                }
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
    }
}

async fn housekeeping(plan: Arc<Plan>, storage: Storage, metrics: NotifyMetrics, mut stop: watch::Receiver<bool>) {
    let mut pruned_at = 0;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        if let Ok((counts, oldest)) = storage.outbox_depth().await {
            for s in OutboxStatus::ALL {
                let n = counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
                metrics.rows.with_label_values(&[s.as_str()]).set(n);
            }
            let p: i64 = counts.iter().filter(|(k, _)| k.is_open()).map(|(_, n)| n).sum();
            metrics.pending.set(p);
            metrics.oldest_age.set(oldest.map(|o| (now - o).max(0) as f64 / 1000.0).unwrap_or(0.0));
        }
        if now - pruned_at > 3_600_000 {
            let keep = plan.cfg.history_retention.get().as_millis() as i64;
            match storage.prune_outbox(now - keep).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "outbox: pruned old delivery history"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox: prune failed"),
            }
            pruned_at = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
    }
}

/// The base of runbook links, ending with `/`: `notify.runbook_base_url`, else sidewatch's own
/// `/runbooks/` under `external_url`.
pub(crate) fn runbook_base(configured: &str, external_url: &str) -> String {
    let base = if configured.is_empty() {
        format!("{}/runbooks/", external_url.trim_end_matches('/'))
    } else {
        configured.to_string()
    };
    if base.ends_with('/') { base } else { base + "/" }
}
