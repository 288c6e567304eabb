//! The *remote-write settings*: `[[remote_write]]`, one entry per receiving TSDB (Prometheus'
//! names: `url`, `headers`, `authorization`, `basic_auth`, `tls_config`,
//! `write_relabel_configs`, `queue_config`, `remote_timeout`).

use crate::config::{Duration, Invalid, Secret, SecretUrl};
pub(crate) use crate::scrape::auth::{Authorization, BasicAuth, TlsConfig};
use crate::scrape::config::RelabelConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[[remote_write]]`: one receiver of every appended sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteWriteConfig {
    /// A name for logs and metrics (label `remote`); default: the URL's host.
    #[serde(default)]
    pub(crate) name: String,
    /// The receiver's remote-write endpoint, e.g. `https://mimir.example/api/v1/push`.
    pub(crate) url: SecretUrl,
    /// Extra HTTP headers (values are secrets), e.g. `X-Scope-OrgID`.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, Secret>,
    /// `Authorization: <type> <credentials>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization: Option<Authorization>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) basic_auth: Option<BasicAuth>,
    /// TLS towards the receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tls_config: Option<TlsConfig>,
    /// One send may take this long.
    #[serde(default = "default_timeout")]
    pub(crate) remote_timeout: Duration,
    /// Relabeling applied to each series before it is sent (`keep`, `drop`, `replace`, …; as
    /// `metric_relabel` on targets).
    #[serde(default)]
    pub(crate) write_relabel_configs: Vec<RelabelConfig>,
    /// The queue between the store and the receiver.
    #[serde(default)]
    pub(crate) queue_config: QueueConfig,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `queue_config`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueueConfig {
    /// Samples held per shard while the receiver is slow or down; past it the oldest are
    /// dropped (and counted), so memory stays bounded.
    pub(crate) capacity: usize,
    /// Samples per request.
    pub(crate) max_samples_per_send: usize,
    /// Parallel senders; each series always goes through the same one, in order.
    pub(crate) max_shards: usize,
    /// A request goes out at least this often when samples are waiting.
    pub(crate) batch_send_deadline: Duration,
    /// First retry delay after a 5xx, a 429 or a network error (doubling up to `max_backoff`;
    /// a `Retry-After` from the receiver wins).
    pub(crate) min_backoff: Duration,
    /// Longest retry delay.
    pub(crate) max_backoff: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 100_000,
            max_samples_per_send: 2_000,
            max_shards: 2,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration(std::time::Duration::from_millis(30)),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Checks every `[[remote_write]]` entry.
pub(crate) fn validate(list: &[RemoteWriteConfig], invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let at = i.to_string();
        let err = |k: &str, m: &str| invalid(&["remote_write", &at, k], m);
        let url = r.url.expose();
        if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
            errors.push(err("url", "expected an http:// or https:// URL"));
        }
        if r.authorization.is_some() && r.basic_auth.is_some() {
            errors.push(err("basic_auth", "set authorization or basic_auth, not both"));
        }
        for (j, rl) in r.write_relabel_configs.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&rl.regex) {
                errors.push(invalid(
                    &["remote_write", &at, "write_relabel_configs", &j.to_string(), "regex"],
                    &e.to_string(),
                ));
            }
        }
        let q = &r.queue_config;
        if q.max_samples_per_send == 0 || q.max_shards == 0 || q.capacity < q.max_samples_per_send {
            errors.push(err(
                "queue_config",
                "max_samples_per_send and max_shards must be at least 1, capacity at least max_samples_per_send",
            ));
        }
        if let Some(t) = &r.tls_config
            && t.cert_file.is_empty() != t.key_file.is_empty()
        {
            errors.push(err("tls_config", "set cert_file and key_file together"));
        }
    }
    errors
}
