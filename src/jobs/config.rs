//! The *job settings*: `[jobs]`, the cron schedules of the report jobs (6 fields, seconds
//! first) and their time zone.

use crate::config::{Duration, Invalid};
use serde::{Deserialize, Serialize};

/// `[jobs]`: cron schedules (6 fields, seconds first).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct JobsConfig {
    /// Time zone of the schedules: `UTC` or a fixed offset such as `+02:00`.
    pub(crate) timezone: String,
    /// A run missed while sidewatch was down is made up at start when it is at most this old.
    pub(crate) catch_up_grace: Duration,
    /// The baseline snapshot.
    pub(crate) baseline: BaselineJob,
    /// The daily KPI rollup.
    pub(crate) kpi: KpiJob,
    /// The weekly digest.
    pub(crate) digest: DigestJob,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            timezone: "UTC".into(),
            catch_up_grace: Duration::from_secs(6 * 3600),
            baseline: BaselineJob::default(),
            kpi: KpiJob::default(),
            digest: DigestJob::default(),
        }
    }
}

/// `[jobs.baseline]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BaselineJob {
    /// Cron schedule; empty: not scheduled.
    pub(crate) schedule: String,
    /// Number of windows.
    pub(crate) windows: u32,
    /// Minutes per window.
    pub(crate) window_minutes: u32,
}

impl Default for BaselineJob {
    fn default() -> Self {
        BaselineJob { schedule: "0 */30 * * * *".into(), windows: 24, window_minutes: 5 }
    }
}

/// `[jobs.kpi]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KpiJob {
    /// Cron schedule; empty: not scheduled.
    pub(crate) schedule: String,
}

impl Default for KpiJob {
    fn default() -> Self {
        KpiJob { schedule: "0 15 0 * * *".into() }
    }
}

/// `[jobs.digest]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DigestJob {
    /// Cron schedule; empty: not scheduled.
    pub(crate) schedule: String,
    /// Days the digest covers, ending with the anchor date.
    pub(crate) lookback_days: u32,
}

impl Default for DigestJob {
    fn default() -> Self {
        DigestJob { schedule: "0 0 9 * * Mon".into(), lookback_days: 7 }
    }
}

/// Checks `[jobs]`: the time zone, every schedule, the digest's and baseline's sizes.
pub(crate) fn validate(c: &JobsConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(e) = super::timezone(&c.timezone) {
        errors.push(invalid(&["jobs", "timezone"], &e.to_string()));
    }
    for (name, schedule) in
        [("baseline", &c.baseline.schedule), ("kpi", &c.kpi.schedule), ("digest", &c.digest.schedule)]
    {
        if !schedule.is_empty()
            && let Err(e) = super::cron(schedule)
        {
            errors.push(invalid(&["jobs", name, "schedule"], &e.to_string()));
        }
    }
    if c.digest.lookback_days == 0 {
        errors.push(invalid(&["jobs", "digest", "lookback_days"], "must be at least 1"));
    }
    if c.baseline.windows == 0 || c.baseline.window_minutes == 0 {
        errors.push(invalid(&["jobs", "baseline", "windows"], "windows and window_minutes must be at least 1"));
    }
    errors
}
