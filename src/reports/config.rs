//! `[ingest]`, `[events]`, `[history]`, `[reports]`, `[kpi]`, `[digest]` and `[recovery]`: what
//! the report pipeline reads (product events, metric history) and how it writes reports.

use crate::config::{ByteSize, Duration, Invalid, Secret};
use serde::{Deserialize, Serialize};

/// `[ingest]`: `POST /api/v1/events`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Bearer token clients must send; empty: the endpoint answers 401 to everyone.
    pub(crate) token: Secret,
    /// Most events in one batch (more: 413).
    pub(crate) max_batch_items: usize,
    /// Largest batch body (more: 413).
    pub(crate) max_body_bytes: ByteSize,
    /// Events timed further ahead of the server's clock than this are refused (400).
    pub(crate) max_ahead: Duration,
    /// Events timed before this (RFC 3339) are refused (400).
    pub(crate) earliest: String,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            token: Secret::new(""),
            max_batch_items: 1000,
            max_body_bytes: ByteSize::mib(1),
            max_ahead: Duration::from_secs(86_400),
            earliest: "2000-01-01T00:00:00Z".into(),
        }
    }
}

impl IngestConfig {
    /// `earliest` in ms (it is checked by [`validate`]).
    pub(crate) fn earliest_ms(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.earliest).map_or(0, |t| t.timestamp_millis())
    }
}

/// `[events]`: pull sources of product events.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// SQL sources polled for new events.
    pub(crate) sources: Vec<EventSource>,
}

/// One `[[events.sources]]`: a read-only query against the service's own database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSource {
    /// Name; its watermark is kept under this name.
    pub(crate) name: String,
    /// `sqlite://PATH` (opened read-only) or `postgres://…` (queried in a read-only
    /// transaction). The password never appears in output.
    pub(crate) url: crate::config::SecretUrl,
    /// Returns columns `ts` (ms, integer), `name`, `user_id` and optionally `props` (JSON text)
    /// for rows with `ts > $1`, `$1` being the largest `ts` pulled so far; order by `ts` and
    /// limit the batch.
    pub(crate) query: String,
    /// How often to poll.
    pub(crate) interval: Duration,
}

impl Default for EventSource {
    fn default() -> Self {
        EventSource {
            name: String::new(),
            url: crate::config::SecretUrl::new(""),
            query: String::new(),
            interval: Duration::from_secs(60),
        }
    }
}

/// `[history]`: metric history kept in the database for reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// How often every series is evaluated and appended.
    pub(crate) interval: Duration,
    /// How long rows are kept.
    pub(crate) retention: Duration,
    /// Named PromQL expressions; each output series becomes one row per interval.
    pub(crate) series: Vec<HistorySeries>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            interval: Duration::from_secs(60),
            retention: Duration::from_secs(90 * 86400),
            series: Vec::new(),
        }
    }
}

/// One `[[history.series]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySeries {
    /// Name reports refer to (e.g. `error_ratio`, `latency_p95`, `queue_depth`).
    pub(crate) name: String,
    /// PromQL expression, evaluated at each interval.
    pub(crate) expr: String,
}

/// `[reports]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Output folder, relative to the configuration file.
    pub(crate) dir: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { dir: "reports".into() }
    }
}

/// `[kpi]`: funnels, retention and KPI alerts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KpiConfig {
    /// D1/D7 retention is shown only for cohorts of at least this many users (else `n/a`).
    pub(crate) min_cohort_size: u64,
    /// Receiver (in `[[notify.receivers]]`) that gets critical KPI alerts; empty: none sent.
    pub(crate) receiver: String,
    /// Funnels: users who did `to` divided by users who did `from`, per day.
    pub funnels: Vec<FunnelConfig>,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig { min_cohort_size: 50, receiver: String::new(), funnels: Vec::new() }
    }
}

/// One `[[kpi.funnels]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunnelConfig {
    /// Name shown in reports, e.g. `Landing -> Run CTR`.
    pub name: String,
    /// Event name of the funnel's first step.
    pub from: String,
    /// Event name of its second step.
    pub to: String,
    /// Warning when the latest day is this many percent below its 7-day average.
    pub warn_drop_pct: f64,
    /// Critical when it is this many percent below.
    pub crit_drop_pct: f64,
}

/// `[digest]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Availability objective; the error budget is `1 - slo_target` of requests, read from the
    /// `error_ratio` history series.
    pub(crate) slo_target: f64,
    /// The evidence gate.
    pub(crate) evidence: EvidenceConfig,
    /// Receivers (`[[notify.receivers]]` names) each written digest is sent to through the
    /// outbox: email as HTML with the charts inline and a plain-text part, Slack and Telegram
    /// as the headline, the top lines and a link, webhooks as the digest JSON.
    pub(crate) receivers: Vec<String>,
    /// Also tell `receivers` when the evidence gate holds a digest back (observed vs required).
    pub(crate) notify_held: bool,
    /// An incident's SEV level from its alert's `severity` label.
    pub(crate) sev: std::collections::BTreeMap<String, String>,
    /// The SEV level of an alert whose severity `sev` does not name.
    pub(crate) sev_default: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        let sev = [("critical", "SEV-1"), ("error", "SEV-2"), ("major", "SEV-2"), ("warning", "SEV-3")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DigestConfig {
            slo_target: 0.999,
            evidence: EvidenceConfig::default(),
            receivers: Vec::new(),
            notify_held: false,
            sev,
            sev_default: "SEV-3".into(),
        }
    }
}

/// `[recovery]`: what "recovered" means for `sidewatch report recovery`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Readiness (history series `ready`) must have held this long.
    pub(crate) stable_for: Duration,
    /// The `latency_p95` history series must be under this (seconds).
    pub(crate) p95_target_seconds: f64,
    /// Error ratio and retries count as "back to baseline" within this factor of the previous
    /// 24 hours' mean.
    pub(crate) baseline_tolerance: f64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig { stable_for: Duration::from_secs(900), p95_target_seconds: 1.0, baseline_tolerance: 1.2 }
    }
}

/// `[digest.evidence]`: a digest is written only with at least this much evidence in its window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Product events.
    pub(crate) min_events: u64,
    /// LLM calls.
    pub(crate) min_llm_calls: u64,
    /// PromQL counting LLM calls over a range, e.g. `sum(increase(ai_requests_total[1h]))`:
    /// the history writer records it (series `llm_calls`) and the digest adds its values at
    /// steps of that range across the window. Empty: LLM calls are events named `llm_call`.
    pub(crate) llm_calls_expr: String,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig { min_events: 25, min_llm_calls: 5, llm_calls_expr: String::new() }
    }
}

/// The report sections, borrowed together for [`validate`].
pub struct Sections<'a> {
    /// `[ingest]`.
    pub(crate) ingest: &'a IngestConfig,
    /// `[events]`.
    pub(crate) events: &'a EventsConfig,
    /// `[history]`.
    pub(crate) history: &'a HistoryConfig,
    /// `[kpi]`.
    pub(crate) kpi: &'a KpiConfig,
    /// `[digest]`.
    pub(crate) digest: &'a DigestConfig,
}

/// Checks the report sections.
pub(crate) fn validate(c: Sections<'_>, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if chrono::DateTime::parse_from_rfc3339(&c.ingest.earliest).is_err() {
        errors.push(invalid(&["ingest", "earliest"], "expected an RFC 3339 time such as \"2000-01-01T00:00:00Z\""));
    }
    for (i, s) in c.events.sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        if s.name.is_empty() {
            errors.push(invalid(&["events", &at, "name"], "is empty"));
        }
        let u = s.url.expose();
        if !(u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            errors.push(invalid(&["events", &at, "url"], "must be sqlite://PATH or postgres://…"));
        }
        if !s.query.contains("$1") {
            errors.push(invalid(&["events", &at, "query"], "must filter on the watermark: `WHERE ts > $1`"));
        }
    }
    if c.history.interval.get().as_secs() < 1 {
        errors.push(invalid(&["history", "interval"], "must be at least 1s"));
    }
    let mut names = std::collections::HashSet::new();
    for s in &c.history.series {
        if s.name.is_empty() || !names.insert(s.name.as_str()) {
            errors.push(invalid(&["history", "series"], &format!("name {:?} is empty or used twice", s.name)));
        }
        if let Err(e) = promql_parser::parser::parse(&s.expr) {
            errors.push(invalid(&["history", "series"], &format!("{}: invalid PromQL: {e}", s.name)));
        }
    }
    let llm = &c.digest.evidence.llm_calls_expr;
    if !llm.is_empty()
        && let Err(e) = promql_parser::parser::parse(llm)
    {
        errors.push(invalid(&["digest", "evidence", "llm_calls_expr"], &format!("invalid PromQL: {e}")));
    }
    for f in &c.kpi.funnels {
        if f.name.is_empty() || f.from.is_empty() || f.to.is_empty() {
            errors.push(invalid(&["kpi", "funnels"], "every funnel needs name, from and to"));
        }
        if f.crit_drop_pct > 0.0 && f.warn_drop_pct > f.crit_drop_pct {
            errors.push(invalid(&["kpi", "funnels"], &format!("{}: warn_drop_pct is above crit_drop_pct", f.name)));
        }
    }
    if !(0.0..1.0).contains(&c.digest.slo_target) {
        errors.push(invalid(&["digest", "slo_target"], "must be between 0 and 1, e.g. 0.999"));
    }
    errors
}
