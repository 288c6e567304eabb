//! *Target state*: what the scrape and probe loops last saw, shared with the HTTP API
//! (`/api/v1/targets`, `/api/v1/health`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Mutex;

/// `up`, `down`, or `unknown` before the first scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

/// The last scrape of a target's metrics.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScrapeStatus {
    /// Outcome of the last scrape.
    pub(crate) health: Health,
    /// Why it failed; empty when it did not.
    pub(crate) last_error: String,
    /// When it started.
    pub(crate) last_scrape: Option<DateTime<Utc>>,
    /// How long it took, in seconds.
    pub(crate) last_scrape_duration: f64,
    /// Samples it stored.
    pub(crate) last_samples: usize,
}

/// The last probe of one health check.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckStatus {
    /// Check name.
    pub(crate) name: String,
    /// URL probed.
    pub(crate) url: String,
    /// `up`, `down` or `unknown`.
    pub(crate) health: Health,
    /// HTTP status of the last answer.
    pub(crate) last_status: Option<u16>,
    /// Why it failed; empty when healthy.
    pub(crate) last_error: String,
    /// When it ran.
    pub(crate) last_probe: Option<DateTime<Utc>>,
    /// Seconds it took.
    pub(crate) last_probe_duration: f64,
}

/// One configured target and its live status.
#[derive(Debug)]
pub(crate) struct TargetState {
    /// Target name (`job`).
    pub(crate) name: String,
    /// The metrics URL, if it has one.
    pub(crate) scrape_url: Option<String>,
    /// Labels on every series of the target (`job`, `instance`, extras), sorted.
    pub(crate) labels: Vec<(String, String)>,
    /// Scrape interval in seconds.
    pub(crate) interval_s: f64,
    /// Scrape timeout in seconds.
    pub(crate) timeout_s: f64,
    /// Last scrape.
    pub(crate) scrape: Mutex<ScrapeStatus>,
    /// Last probe of each health check.
    pub(crate) checks: Vec<Mutex<CheckStatus>>,
    /// The metric metadata of the last scrape that changed it.
    pub(crate) metadata: Mutex<std::sync::Arc<super::metadata::MetaMap>>,
}

impl TargetState {
    /// A snapshot of the scrape status.
    pub(crate) fn scrape_status(&self) -> ScrapeStatus {
        self.scrape.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The metric metadata kept for this target.
    pub(crate) fn metadata(&self) -> std::sync::Arc<super::metadata::MetaMap> {
        self.metadata.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Snapshots of every check's status.
    pub(crate) fn check_statuses(&self) -> Vec<CheckStatus> {
        self.checks.iter().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }
}

/// `host:port` of a URL (the `instance` label), with the scheme's default port filled in.
pub(crate) fn instance_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            match u.port_or_known_default() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            }
        }
        Err(_) => url.to_string(),
    }
}
