//! The *settings tree*: everything an operator can set, as one [`Config`] that names each
//! stage's section. Each section's type and its checks live with the stage that owns it
//! (`notify::NotifyConfig`, `jobs::JobsConfig`, …); `crate::config` loads the file and the
//! environment into this tree. The key names follow `config-contract.toml`; every field is
//! documented in `docs/CONFIG.md`, and a test keeps the two in step.

use crate::config::{ConfigError, Invalid, Loaded, Settings};
// Only the stages' `config` modules: the settings tree sits above them, and the stages
// that read the whole tree (jobs, reports, http, startup) above it.
use crate::http::admin::config as admin;
use crate::http::config as http;
use crate::jobs::config as jobs;
use crate::notify::config as notify;
use crate::promql::config as promql;
use crate::remote::config as remote;
use crate::reports::config as reports;
use crate::rules::config as rules;
use crate::scrape::config as scrape;
use crate::storage::config as storage;
use crate::store::config as store;
use crate::telemetry::config as telemetry;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[cfg(test)]
mod tests;

/// The whole configuration and where it came from.
pub(crate) type LoadedConfig = Loaded<Config>;

/// Loads the configuration: `path` if given (it must exist), else `sidewatch.toml` in the
/// working directory if present, else built-in defaults; then applies the process environment.
pub(crate) fn load(path: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    crate::config::load(path)
}

/// Loads a configuration from `text` (the contents of `file`, or empty for defaults) with the
/// given environment. Fails with every problem found, each naming its key and source.
pub fn load_from_str(text: &str, file: Option<&Path>, env: &[(String, String)]) -> Result<LoadedConfig, ConfigError> {
    crate::config::load_from_str(text, file, env)
}

/// The whole configuration. Every section may be left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The sidecar's own HTTP server: health, metrics and APIs.
    pub(crate) server: http::ServerConfig,
    /// Where alert state, history and the outbox are kept.
    pub storage: storage::StorageConfig,
    /// Logging.
    pub(crate) log: telemetry::LogConfig,
    /// Defaults for scraping.
    pub(crate) scrape: scrape::ScrapeConfig,
    /// The in-memory time-series store.
    pub(crate) store: store::StoreConfig,
    /// PromQL evaluation limits.
    pub(crate) query: promql::QueryConfig,
    /// Rule files and their evaluation.
    pub rules: rules::RulesConfig,
    /// Routing, receivers and delivery of notifications.
    pub notify: notify::NotifyConfig,
    /// `POST /api/v1/events`: product events for KPI reports and digests.
    pub(crate) ingest: reports::IngestConfig,
    /// Pull sources of product events.
    pub(crate) events: reports::EventsConfig,
    /// Metric history kept in the database for reports.
    pub(crate) history: reports::HistoryConfig,
    /// Where reports are written.
    pub(crate) reports: reports::ReportsConfig,
    /// Cron schedules of the report jobs.
    pub(crate) jobs: jobs::JobsConfig,
    /// KPI rollups: funnels, retention, KPI alerts.
    pub kpi: reports::KpiConfig,
    /// The weekly digest.
    pub(crate) digest: reports::DigestConfig,
    /// The recovery check.
    pub(crate) recovery: reports::RecoveryConfig,
    /// Services to scrape and probe. None: sidewatch scrapes and probes itself.
    pub(crate) targets: Vec<scrape::TargetConfig>,
    /// The guarded admin API: tokens, allowed addresses, the read-only switch.
    pub(crate) admin: admin::AdminConfig,
    /// Receivers of every appended sample (Prometheus remote write).
    pub(crate) remote_write: Vec<remote::RemoteWriteConfig>,
    /// Labels that say where this sidewatch runs.
    pub(crate) global: GlobalConfig,
}

/// `[global]`: labels that say where this sidewatch runs, as Prometheus' `global` section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GlobalConfig {
    /// Added to every series sent by remote write and `/federate` and to every alert (where
    /// missing), e.g. `{ cluster = "eu-1", replica = "a" }`.
    pub(crate) external_labels: std::collections::BTreeMap<String, String>,
    /// External labels that differ per replica (`["replica"]`): sent with remote write and
    /// federation, but never added to alerts, so replicas' alerts are the same alerts and are
    /// delivered once (docs/FLEET.md).
    pub(crate) replica_labels: Vec<String>,
}

impl Config {
    /// The external labels of series (remote write, federation): `[global]`'s, then
    /// `rules.external_labels`' over them.
    pub(crate) fn series_external_labels(&self) -> std::collections::BTreeMap<String, String> {
        let mut all = self.global.external_labels.clone();
        all.extend(self.rules.external_labels.clone());
        all
    }

    /// The external labels of alerts: those of series without `global.replica_labels`.
    pub(crate) fn alert_external_labels(&self) -> std::collections::BTreeMap<String, String> {
        let mut all = self.series_external_labels();
        all.retain(|k, _| !self.global.replica_labels.contains(k));
        all
    }

    /// The external URL, or `http://<listen>` when none is set — with the machine's host name
    /// for a wildcard address (`0.0.0.0`, `[::]`), as Prometheus does, so that links in
    /// notifications can be opened.
    pub(crate) fn external_url(&self) -> String {
        if !self.server.external_url.is_empty() {
            return self.server.external_url.trim_end_matches('/').to_string();
        }
        let listen = &self.server.listen;
        let (host, port) = listen.rsplit_once(':').unwrap_or((listen.as_str(), ""));
        if matches!(host, "0.0.0.0" | "[::]" | "::" | "")
            && let Some(name) = host_name()
        {
            return format!("http://{name}:{port}");
        }
        format!("http://{listen}")
    }
}

/// This machine's host name, if the kernel gives one.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

impl Settings for Config {
    /// Each stage checks its own section; what spans sections is checked here.
    fn validate(&self, invalid: Invalid<'_>) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(http::validate(&self.server, invalid));
        errors.extend(storage::validate(&self.storage, invalid));
        errors.extend(telemetry::validate(&self.log, invalid));
        errors.extend(scrape::validate(&self.scrape, &self.targets, invalid));
        errors.extend(store::validate(&self.store, invalid));
        errors.extend(promql::validate(&self.query, invalid));
        errors.extend(rules::validate(&self.rules, invalid));
        errors.extend(jobs::validate(&self.jobs, invalid));
        errors.extend(admin::validate(&self.admin, invalid));
        errors.extend(remote::validate(&self.remote_write, invalid));
        let usable = |k: &str| {
            !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for k in self.global.external_labels.keys().chain(self.global.replica_labels.iter()) {
            if !usable(k) {
                errors.push(invalid(&["global", "external_labels"], &format!("{k:?} is not a usable label name")));
            }
        }
        let sections = reports::Sections {
            ingest: &self.ingest,
            events: &self.events,
            history: &self.history,
            kpi: &self.kpi,
            digest: &self.digest,
        };
        errors.extend(reports::validate(sections, invalid));
        for e in crate::notify::check(&self.notify) {
            let (path, msg) = e.split_once(": ").unwrap_or(("notify", &e));
            let segments: Vec<&str> = path.split('.').collect();
            errors.push(invalid(&segments, msg));
        }
        for (i, name) in self.digest.receivers.iter().enumerate() {
            if !self.notify.receivers.iter().any(|r| &r.name == name) {
                errors.push(invalid(
                    &["digest", "receivers", &i.to_string()],
                    &format!("{name:?} is not defined in [[notify.receivers]]"),
                ));
            }
        }
        if !self.kpi.receiver.is_empty() && !self.notify.receivers.iter().any(|r| r.name == self.kpi.receiver) {
            errors.push(invalid(
                &["kpi", "receiver"],
                &format!("{:?} is not defined in [[notify.receivers]]", self.kpi.receiver),
            ));
        }
        errors
    }
}
