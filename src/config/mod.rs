//! The *settings tree*: everything an operator can set, read from one TOML file
//! (`--config PATH`, else `sidewatch.toml` in the working directory, else built-in defaults),
//! with `${VAR}` expansion, `<key>_file` secrets and `SIDEWATCH_<SECTION>__<KEY>` environment
//! overrides. The key names follow `config-contract.toml`; every field below is documented in
//! `docs/CONFIG.md`, and a test keeps the two in step.

mod error;
mod load;
pub mod notify;
pub mod query;
pub mod reports;
pub mod rules;
pub mod scrape;
pub mod types;
mod validate;

pub use error::ConfigError;
pub use load::{LoadedConfig, load, load_from_str, resolve_path};
pub use scrape::{
    HealthCheckConfig, RelabelAction, RelabelConfig, ScrapeConfig, StoreConfig as SeriesStoreConfig, TargetConfig,
};
pub use types::{ByteSize, Duration, Secret, SecretUrl};

use serde::{Deserialize, Serialize};

/// The whole configuration. Every section may be left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The sidecar's own HTTP server: health, metrics and APIs.
    pub server: ServerConfig,
    /// Where alert state, history and the outbox are kept.
    pub storage: StorageConfig,
    /// Logging.
    pub log: LogConfig,
    /// Defaults for scraping.
    pub scrape: ScrapeConfig,
    /// The in-memory time-series store.
    pub store: scrape::StoreConfig,
    /// PromQL evaluation limits.
    pub query: query::QueryConfig,
    /// Rule files and their evaluation.
    pub rules: rules::RulesConfig,
    /// Routing, receivers and delivery of notifications.
    pub notify: notify::NotifyConfig,
    /// `POST /api/v1/events`: product events for KPI reports and digests.
    pub ingest: reports::IngestConfig,
    /// Pull sources of product events.
    pub events: reports::EventsConfig,
    /// Metric history kept in the database for reports.
    pub history: reports::HistoryConfig,
    /// Where reports are written.
    pub reports: reports::ReportsConfig,
    /// Cron schedules of the report jobs.
    pub jobs: reports::JobsConfig,
    /// KPI rollups: funnels, retention, KPI alerts.
    pub kpi: reports::KpiConfig,
    /// The weekly digest.
    pub digest: reports::DigestConfig,
    /// The recovery check.
    pub recovery: reports::RecoveryConfig,
    /// Services to scrape and probe. None: sidewatch scrapes and probes itself.
    pub targets: Vec<TargetConfig>,
}

/// `[server]`: the sidecar's own HTTP surface.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on, `host:port`. Port 0 picks a free port.
    pub listen: String,
    /// The URL users reach this sidecar at; base of alert `generatorURL`s and report links.
    /// Empty means `http://<listen>`.
    pub external_url: String,
    /// Request bodies larger than this are refused with 413 and a JSON error.
    pub max_body_bytes: ByteSize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take before the server stops anyway.
    pub shutdown_timeout: Duration,
    /// How often the pages of sidewatch's own code and read-only data that nothing ran lately
    /// are handed back to the kernel (`MADV_PAGEOUT`, Linux 5.4+): most of the code resident
    /// after start-up (configuration, migrations, TLS set-up) never runs again. The first time
    /// is a minute after start (or this, when shorter); "0s" turns it off.
    pub code_trim_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9465".into(),
            external_url: String::new(),
            max_body_bytes: ByteSize::mib(1),
            shutdown_timeout: Duration::from_secs(10),
            code_trim_interval: Duration::from_secs(600),
        }
    }
}

/// `[storage]`: the SQL database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` (embedded; a relative path is resolved against the config file's folder)
    /// or `postgres://user[:password]@host:port/db`. The password never appears in output.
    pub url: SecretUrl,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection (also the readiness probe's limit).
    pub connect_timeout: Duration,
    /// SQLite only: how long a writer waits for a lock before failing.
    pub busy_timeout: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: SecretUrl::new("sqlite://data/sidewatch.db"),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// `[log]`: log output on standard error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Minimum level (`error`, `warn`, `info`, `debug`, `trace`), or a filter such as
    /// `info,sqlx=warn`. `RUST_LOG`, when set, wins.
    pub level: String,
    /// `json` (one object per line) or `pretty` (for people at a terminal).
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Json }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured when on a terminal.
    Pretty,
}

impl Config {
    /// The external URL, or `http://<listen>` when none is set.
    pub fn external_url(&self) -> String {
        if self.server.external_url.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.server.external_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod docs_tests {
    use super::Config;
    use std::collections::BTreeMap;

    /// Every key of the settings tree as `section.key` → its default, in TOML syntax; keys
    /// inside lists of tables as `targets[].name` (no default).
    fn keys(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
        match v {
            // Free-form maps (label sets) are one key.
            toml::Value::Table(t) if prefix.ends_with("labels") || prefix.ends_with("headers") => {
                out.insert(prefix.to_string(), if t.is_empty() { "{}".into() } else { String::new() });
            }
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    keys(&p, v, out);
                }
            }
            toml::Value::Array(items) if items.first().is_some_and(toml::Value::is_table) => {
                out.insert(prefix.to_string(), String::new());
                for item in items {
                    keys(&format!("{prefix}[]"), item, out);
                }
            }
            other => {
                let in_list = prefix.contains("[]");
                out.insert(prefix.to_string(), if in_list { String::new() } else { other.to_string() });
            }
        }
    }

    /// A config with every optional part present, so every key shows up when serialized.
    fn full() -> Config {
        use super::*;
        let d = Duration::from_secs(1);
        Config {
            targets: vec![TargetConfig {
                name: "api".into(),
                metrics_url: Some("http://x/metrics".into()),
                interval: Some(d),
                timeout: Some(d),
                labels: [("a".to_string(), "b".to_string())].into(),
                body_size_limit: Some(ByteSize(1)),
                health: vec![HealthCheckConfig {
                    max_latency: Some(d),
                    body_contains: Some("ok".into()),
                    json_field: Some("f".into()),
                    json_equals: Some("v".into()),
                    ..Default::default()
                }],
                metric_relabel: vec![RelabelConfig::default()],
                ..Default::default()
            }],
            notify: full_notify(),
            history: super::reports::HistoryConfig {
                series: vec![super::reports::HistorySeries::default()],
                ..Default::default()
            },
            events: super::reports::EventsConfig { sources: vec![super::reports::EventSource::default()] },
            kpi: super::reports::KpiConfig {
                funnels: vec![super::reports::FunnelConfig::default()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn full_notify() -> super::notify::NotifyConfig {
        use super::notify::*;
        use super::{Duration, Secret};
        use crate::notify::{alertmanager, email, slack, telegram, webhook};
        let mut n = NotifyConfig::default();
        n.route.routes = vec![RouteConfig {
            group_by: Some(vec![]),
            group_wait: Some(Duration::from_secs(1)),
            group_interval: Some(Duration::from_secs(1)),
            repeat_interval: Some(Duration::from_secs(1)),
            ..Default::default()
        }];
        n.receivers = vec![ReceiverConfig {
            name: "r".into(),
            webhook: vec![webhook::WebhookConfig {
                headers: [("X".to_string(), Secret::new("v"))].into(),
                ..Default::default()
            }],
            slack: vec![slack::SlackConfig::default()],
            telegram: vec![telegram::TelegramConfig { message_thread_id: Some(1), ..Default::default() }],
            email: vec![email::EmailConfig::default()],
            alertmanager: vec![alertmanager::AlertmanagerConfig::default()],
        }];
        n.inhibit_rules = vec![InhibitRuleConfig::default()];
        n.mute_time_intervals =
            vec![TimeIntervalConfig { times: vec![TimeRangeConfig::default()], ..Default::default() }];
        n
    }

    /// docs/CONFIG.md documents exactly the keys the structs have, with the right defaults.
    #[test]
    fn config_md_matches_the_structs() {
        let mut code = BTreeMap::new();
        keys("", &toml::Value::try_from(full()).unwrap(), &mut code);
        let mut defaults = BTreeMap::new();
        keys("", &toml::Value::try_from(Config::default()).unwrap(), &mut defaults);
        let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md")).unwrap();
        let mut documented = BTreeMap::new();
        for line in md.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells[1].trim_matches('`').to_string();
            let default = cells[3].trim_matches('`').to_string();
            documented.insert(key, default);
        }
        let missing: Vec<_> = code.keys().filter(|k| !documented.contains_key(*k)).collect();
        let stale: Vec<_> = documented.keys().filter(|k| !code.contains_key(*k)).collect();
        assert!(missing.is_empty(), "keys missing from docs/CONFIG.md: {missing:?}");
        assert!(stale.is_empty(), "docs/CONFIG.md documents keys that do not exist: {stale:?}");
        for (k, v) in defaults.iter().filter(|(k, _)| *k != "targets") {
            assert_eq!(&documented[k], v, "default of {k} in docs/CONFIG.md");
        }
    }
}
