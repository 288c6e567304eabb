//! *Target state*: what the scrape and probe loops last saw, shared with the HTTP API
//! (`/api/v1/targets`, `/api/v1/health`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Mutex;

/// `up`, `down`, or `unknown` before the first scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
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
pub struct ScrapeStatus {
    /// Outcome of the last scrape.
    pub health: Health,
    /// Why it failed; empty when it did not.
    pub last_error: String,
    /// When it started.
    pub last_scrape: Option<DateTime<Utc>>,
    /// How long it took, in seconds.
    pub last_scrape_duration: f64,
    /// Samples it stored.
    pub last_samples: usize,
}

/// The last probe of one health check.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStatus {
    /// Check name.
    pub name: String,
    /// URL probed.
    pub url: String,
    /// `up`, `down` or `unknown`.
    pub health: Health,
    /// HTTP status of the last answer.
    pub last_status: Option<u16>,
    /// Why it failed; empty when healthy.
    pub last_error: String,
    /// When it ran.
    pub last_probe: Option<DateTime<Utc>>,
    /// Seconds it took.
    pub last_probe_duration: f64,
}

/// One configured target and its live status.
#[derive(Debug)]
pub struct TargetState {
    /// Target name (`job`).
    pub name: String,
    /// The metrics URL, if it has one.
    pub scrape_url: Option<String>,
    /// Labels on every series of the target (`job`, `instance`, extras), sorted.
    pub labels: Vec<(String, String)>,
    /// Scrape interval in seconds.
    pub interval_s: f64,
    /// Scrape timeout in seconds.
    pub timeout_s: f64,
    /// Last scrape.
    pub scrape: Mutex<ScrapeStatus>,
    /// Last probe of each health check.
    pub checks: Vec<Mutex<CheckStatus>>,
}

impl TargetState {
    /// A snapshot of the scrape status.
    pub fn scrape_status(&self) -> ScrapeStatus {
        self.scrape.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Snapshots of every check's status.
    pub fn check_statuses(&self) -> Vec<CheckStatus> {
        self.checks.iter().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }
}

/// `host:port` of a URL (the `instance` label), with the scheme's default port filled in.
pub fn instance_of(url: &str) -> String {
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
