//! The *delivery worker*: one loop per target (receiver channel), so a slow or dead channel
//! only ever delays itself. It claims due outbox rows (`pending` → `sending`), sends each with
//! the channel's timeout, and records the outcome: `sent`; `pending` again with exponential
//! backoff and jitter (at least what `Retry-After` asked); or `failed` with the last error once
//! retrying cannot help or `max_delivery_age` has passed. A row left `sending` by a crashed
//! process is claimed again when its lease (timeout + 60 s) has run out. During an alert storm
//! a token bucket limits each target to `rate_limit_per_minute`; what exceeds it is merged
//! into one summary notification instead of being dropped.

use super::channel::{Channel, SendError};
use super::metrics::NotifyMetrics;
use super::model::Notification;
use super::template::Templates;
use crate::notify::PlanError;
use crate::storage::{Attempt, OutboxRepo, OutboxRow, Storage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// One receiver channel and what delivering to it needs.
pub struct Target {
    /// `receiver/channel/index`.
    pub(crate) id: String,
    /// Receiver name.
    pub(crate) receiver: String,
    /// The sender.
    pub(crate) channel: Arc<dyn Channel>,
    /// Wakes the worker when rows are queued.
    pub(crate) wake: Arc<Notify>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Backoff before attempt `attempts + 1`: 1 s doubling to 5 min, ±20 % jitter.
pub(crate) fn backoff(attempts: i64, retry_after: Option<Duration>) -> Duration {
    let base = 1000u64.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1)).min(300_000);
    let r = (uuid::Uuid::new_v4().as_u128() % 401) as u64; // 0..=400 → ±20 %
    let jittered = base * (800 + r) / 1000;
    Duration::from_millis(jittered).max(retry_after.unwrap_or_default())
}

/// What one attempt at a row gives.
pub(crate) fn outcome(row: &OutboxRow, result: Result<Option<i64>, SendError>, now: i64) -> Attempt {
    match result {
        Ok(http_status) => Attempt::Sent { http_status, at: now },
        Err(e) if e.permanent => Attempt::Failed { http_status: e.status, error: e.message },
        Err(e) => {
            let next = now + backoff(row.attempts, e.retry_after).as_millis() as i64;
            if next > row.expires_at {
                let error = format!("gave up after {} attempts (max_delivery_age): {}", row.attempts, e.message);
                Attempt::Failed { http_status: e.status, error }
            } else {
                Attempt::Retry { http_status: e.status, error: e.message, next }
            }
        }
    }
}

/// A token bucket: `per_minute` tokens, refilled continuously.
struct Bucket {
    tokens: f64,
    per_minute: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn available(&mut self) -> usize {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_minute / 60.0;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.at = now;
        self.tokens.floor() as usize
    }
    fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

/// Shared by the workers.
pub struct Worker {
    /// Storage with the outbox.
    pub storage: Storage,
    /// Templates.
    pub templates: Arc<Templates>,
    /// Metrics.
    pub metrics: NotifyMetrics,
    /// This process's worker id (claims are tagged with it).
    pub id: String,
    /// Notifications per minute per target (0: unlimited).
    pub rate_per_minute: u32,
    /// A claimed row is claimed again when its worker has not finished it within the channel's
    /// timeout plus this (ms): the bound on redelivery after a crash (`notify.claim_grace`).
    pub claim_grace_ms: i64,
    /// Largest alerts in one notification, also in a storm summary (`notify.max_alerts`).
    pub max_alerts: usize,
}

impl Worker {
    /// Delivers `target`'s rows until `stop`.
    pub async fn run(self: Arc<Self>, target: Arc<Target>, mut stop: watch::Receiver<bool>) {
        let per_minute = if self.rate_per_minute == 0 { f64::INFINITY } else { self.rate_per_minute as f64 };
        let mut bucket =
            Bucket { tokens: per_minute.min(1e9), per_minute: per_minute.min(1e9), at: std::time::Instant::now() };
        let lease = target.channel.timeout().as_millis() as i64 + self.claim_grace_ms;
        loop {
            if *stop.borrow() {
                return;
            }
            let now = now_ms();
            let rows = match self.storage.claim(&target.id, &self.id, now, now - lease, 32).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(target = %target.id, error = %e, "outbox: claim failed");
                    Vec::new()
                }
            };
            if rows.is_empty() {
                tokio::select! {
                    _ = target.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            self.deliver_batch(&target, rows, &mut bucket).await;
        }
    }

    /// Delivers what is due for `target` now, once (for one-shot runs such as the CLI's).
    pub(crate) async fn drain(&self, target: &Target) -> usize {
        let now = now_ms();
        let lease = target.channel.timeout().as_millis() as i64 + self.claim_grace_ms;
        let rows = self.storage.claim(&target.id, &self.id, now, now - lease, 64).await.unwrap_or_default();
        let n = rows.len();
        if n > 0 {
            let mut bucket = Bucket { tokens: 1e9, per_minute: 1e9, at: std::time::Instant::now() };
            self.deliver_batch(target, rows, &mut bucket).await;
        }
        n
    }

    async fn deliver_batch(&self, target: &Target, rows: Vec<OutboxRow>, bucket: &mut Bucket) {
        // The outcomes are written together when the batch is done: one statement, not one per row.
        let mut done = Vec::with_capacity(rows.len());
        self.deliver_rows(target, rows, bucket, &mut done).await;
        if let Err(e) = self.storage.finish_many(&done).await {
            tracing::warn!(target = %target.id, rows = done.len(), error = %e, "outbox: recording attempts failed");
        }
    }

    async fn deliver_rows(
        &self,
        target: &Target,
        rows: Vec<OutboxRow>,
        bucket: &mut Bucket,
        done: &mut Vec<(i64, Attempt)>,
    ) {
        let tokens = bucket.available();
        if tokens == 0 {
            // Over budget: wait for the next token; nothing is dropped.
            let next = now_ms() + (60_000.0 / bucket.per_minute).ceil() as i64;
            for r in rows {
                let a = Attempt::Retry {
                    http_status: None,
                    error: "rate limited: waiting for the channel's budget".into(),
                    next,
                };
                self.record(target, &r, a, done);
            }
            return;
        }
        let (single, merged) = if rows.len() <= tokens {
            (rows, Vec::new())
        } else {
            let mut rows = rows;
            let rest = rows.split_off(tokens - 1);
            (rows, rest)
        };
        for r in single {
            bucket.take(1);
            self.deliver_one(target, &r, None, done).await;
        }
        if let Some(first) = merged.first() {
            bucket.take(1);
            self.metrics.storm_summaries.with_label_values(&[&target.receiver, target.channel.kind()]).inc();
            self.deliver_one(target, first, Some(&merged), done).await;
        }
    }

    /// Sends `row` (or, with `merged`, one summary of all those rows) and records the outcome.
    async fn deliver_one(
        &self,
        target: &Target,
        row: &OutboxRow,
        merged: Option<&[OutboxRow]>,
        done: &mut Vec<(i64, Attempt)>,
    ) {
        let now = now_ms();
        let n = match merged {
            Some(rows) => summary(rows, self.max_alerts),
            None => {
                serde_json::from_str::<Notification>(&row.payload).map_err(|e| PlanError(format!("bad payload: {e}")))
            }
        };
        let result = match n {
            Err(e) => Err(SendError::permanent(e)),
            Ok(n) => {
                let ch = &target.channel;
                match tokio::time::timeout(ch.timeout(), ch.send(&n, &self.templates)).await {
                    Ok(r) => r.map(|d| d.status),
                    Err(_) => Err(SendError::transient(format!("timed out after {:?}", ch.timeout()))),
                }
            }
        };
        let finished = now_ms();
        for r in merged.unwrap_or(std::slice::from_ref(row)) {
            let mut a = outcome(r, result.clone(), finished);
            if let (Some(_), Attempt::Sent { .. }) = (merged, &a) {
                a = Attempt::Sent { http_status: result.clone().ok().flatten(), at: finished };
            }
            if matches!(a, Attempt::Sent { .. }) {
                self.metrics
                    .latency
                    .with_label_values(&[target.channel.kind()])
                    .observe((finished - r.created_at.min(now)) as f64 / 1000.0);
            }
            self.record(target, r, a, done);
        }
    }

    fn record(&self, target: &Target, row: &OutboxRow, a: Attempt, done: &mut Vec<(i64, Attempt)>) {
        let outcome = match &a {
            Attempt::Sent { .. } => "sent",
            Attempt::Retry { .. } => "retried",
            Attempt::Failed { .. } => "failed",
        };
        let kind = target.channel.kind();
        self.metrics.notifications.with_label_values(&[&target.receiver, kind, outcome]).inc();
        match &a {
            Attempt::Failed { error, .. } => {
                self.metrics.failed.with_label_values(&[kind]).inc();
                tracing::warn!(target = %target.id, row = row.id, error = %error, "notification failed for good");
            }
            Attempt::Retry { error, .. } => {
                tracing::info!(target = %target.id, row = row.id, attempts = row.attempts, error = %error, "notification will be retried");
            }
            Attempt::Sent { .. } => tracing::debug!(target = %target.id, row = row.id, "notification sent"),
        }
        done.push((row.id, a));
    }
}

/// One notification carrying the alerts of several queued ones (newest status per alert).
pub(crate) fn summary(rows: &[OutboxRow], max_alerts: usize) -> Result<Notification, PlanError> {
    let mut ns = Vec::new();
    for r in rows {
        ns.push(serde_json::from_str::<Notification>(&r.payload).map_err(|e| format!("bad payload: {e}"))?);
    }
    let first = ns.first().cloned().ok_or("no rows")?;
    let mut by_fp = std::collections::BTreeMap::new();
    for n in &ns {
        for a in &n.alerts {
            by_fp.insert(a.fingerprint.clone(), a.clone());
        }
    }
    let truncated: usize = ns.iter().map(|n| n.truncated_alerts).sum();
    let mut n = Notification::build(
        &first.receiver,
        &format!("storm summary of {} notifications", ns.len()),
        &Default::default(),
        &first.external_url,
        by_fp.into_values().collect(),
        max_alerts,
    );
    n.truncated_alerts += truncated;
    n.group_labels.insert("alertname".into(), format!("{} notifications", ns.len()));
    n.sidewatch_kind = Some("summary".into());
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        for (attempts, base) in [(1, 1000.0), (2, 2000.0), (5, 16000.0), (30, 300_000.0)] {
            let d = backoff(attempts, None).as_millis() as f64;
            assert!(d >= base * 0.8 && d <= base * 1.2, "{attempts}: {d}");
        }
        assert!(backoff(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    /// A storm summary keeps `notify.max_alerts` like any notification and counts the rest.
    #[test]
    fn storm_summaries_keep_max_alerts() {
        let rows: Vec<OutboxRow> = (0..10)
            .map(|i| {
                let mut n = crate::notify::template::sample("firing");
                n.alerts[0].fingerprint = format!("{i:016x}");
                OutboxRow {
                    id: i,
                    receiver: "r".into(),
                    channel: "webhook".into(),
                    target: "r/webhook/0".into(),
                    group_key: format!("g{i}"),
                    alert_names: "A".into(),
                    kind: "firing".into(),
                    payload: serde_json::to_string(&n).unwrap(),
                    payload_hash: String::new(),
                    status: crate::storage::OutboxStatus::Sending,
                    attempts: 1,
                    next_attempt_at: 0,
                    expires_at: i64::MAX,
                    last_http_status: None,
                    error_text: None,
                    created_at: 0,
                    sent_at: None,
                }
            })
            .collect();
        let n = summary(&rows, 3).unwrap();
        assert_eq!((n.alerts.len(), n.truncated_alerts), (3, 7));
        assert_eq!(summary(&rows, 0).unwrap().alerts.len(), 10, "0: no limit");
    }
}
