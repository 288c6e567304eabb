//! The notifier's self metrics: notifications by receiver, channel and outcome; failures for
//! good by channel; delivery latency (queued → delivered); outbox rows by status and the age
//! of the oldest undelivered one; storm summaries.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The metrics; cheap to clone.
#[derive(Clone)]
pub struct NotifyMetrics {
    /// `sidewatch_notifications_total{receiver,channel,outcome}`.
    pub(crate) notifications: IntCounterVec,
    /// `sidewatch_notifications_failed_total{channel}`.
    pub(crate) failed: IntCounterVec,
    /// `sidewatch_notification_latency_seconds{channel}`.
    pub(crate) latency: HistogramVec,
    /// `sidewatch_outbox_rows{status}`.
    pub(crate) rows: IntGaugeVec,
    /// `sidewatch_outbox_pending`.
    pub(crate) pending: IntGauge,
    /// `sidewatch_outbox_oldest_age_seconds`.
    pub(crate) oldest_age: Gauge,
    /// `sidewatch_notification_storm_summaries_total{receiver,channel}`.
    pub(crate) storm_summaries: IntCounterVec,
    /// `sidewatch_notify_groups`.
    pub(crate) groups: IntGauge,
}

impl NotifyMetrics {
    /// Registers the metrics in `r`.
    pub(crate) fn register(r: &Registry) -> NotifyMetrics {
        let m = NotifyMetrics::unregistered();
        for c in [
            Box::new(m.notifications.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.failed.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.rows.clone()),
            Box::new(m.pending.clone()),
            Box::new(m.oldest_age.clone()),
            Box::new(m.storm_summaries.clone()),
            Box::new(m.groups.clone()),
        ] {
            r.register(c).expect("unique metric");
        }
        m
    }

    /// Metrics not registered anywhere (CLI use).
    pub fn unregistered() -> NotifyMetrics {
        let counter = |n: &str, h: &str, l: &[&str]| IntCounterVec::new(Opts::new(n, h), l).expect("valid metric");
        NotifyMetrics {
            notifications: counter(
                "sidewatch_notifications_total",
                "Delivery attempts by receiver, channel and outcome (sent, retried, failed, suppressed).",
                &["receiver", "channel", "outcome"],
            ),
            failed: counter(
                "sidewatch_notifications_failed_total",
                "Notifications given up (status failed), by channel.",
                &["channel"],
            ),
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "sidewatch_notification_latency_seconds",
                    "Time from a notification being queued to its delivery, by channel.",
                )
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
                &["channel"],
            )
            .expect("valid metric"),
            rows: IntGaugeVec::new(Opts::new("sidewatch_outbox_rows", "Outbox rows by status."), &["status"])
                .expect("valid metric"),
            pending: IntGauge::new(
                "sidewatch_outbox_pending",
                "Outbox rows waiting to be delivered (pending or sending).",
            )
            .expect("valid metric"),
            oldest_age: Gauge::new(
                "sidewatch_outbox_oldest_age_seconds",
                "Age of the oldest undelivered outbox row (0 when none).",
            )
            .expect("valid metric"),
            storm_summaries: counter(
                "sidewatch_notification_storm_summaries_total",
                "Summaries sent instead of single notifications because a channel's rate limit was reached.",
                &["receiver", "channel"],
            ),
            groups: IntGauge::new("sidewatch_notify_groups", "Aggregation groups held by the dispatcher.")
                .expect("valid metric"),
        }
    }
}
