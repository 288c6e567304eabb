//! The *scrape settings*: `[scrape]` defaults and the `[[targets]]` list with their health
//! checks and metric relabel rules.

use crate::config::{ByteSize, Duration, Invalid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[scrape]`: defaults for every target.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ScrapeConfig {
    /// How often targets are scraped unless they set their own `interval`.
    pub(crate) interval: Duration,
    /// How long one scrape may take unless a target sets its own `timeout`; at most `interval`.
    pub(crate) timeout: Duration,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig { interval: Duration::from_secs(15), timeout: Duration::from_secs(10) }
    }
}

/// `[[targets]]`: one service endpoint to scrape and probe.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TargetConfig {
    /// Target name; becomes the `job` label of its series.
    pub(crate) name: String,
    /// URL of the Prometheus metrics endpoint (optional: a target may only have health checks).
    pub(crate) metrics_url: Option<String>,
    /// Scrape interval; default `scrape.interval`.
    pub(crate) interval: Option<Duration>,
    /// Scrape timeout; default `scrape.timeout` (capped at the interval).
    pub(crate) timeout: Option<Duration>,
    /// Extra labels put on every series of this target.
    pub(crate) labels: BTreeMap<String, String>,
    /// Keep scraped `job`/`instance`/extra labels when they collide with the target's own
    /// (default: the scraped ones are renamed `exported_<name>`, as Prometheus does).
    pub(crate) honor_labels: bool,
    /// Most samples one scrape may hold after relabeling; more fails the scrape. 0: no limit.
    pub(crate) sample_limit: usize,
    /// Largest (uncompressed) body accepted; a larger one fails the scrape.
    pub(crate) body_size_limit: Option<ByteSize>,
    /// Health checks of this target.
    pub(crate) health: Vec<HealthCheckConfig>,
    /// Rules applied to every scraped series before it is stored.
    pub(crate) metric_relabel: Vec<RelabelConfig>,
    /// `Authorization: <type> <credentials>` on the target's scrapes and health checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) authorization: Option<super::auth::Authorization>,
    /// HTTP basic authentication on the target's scrapes and health checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) basic_auth: Option<super::auth::BasicAuth>,
    /// TLS towards the target (CA, client certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_config: Option<super::auth::TlsConfig>,
}

/// `[[targets.health]]`: an HTTP health endpoint probed every target interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HealthCheckConfig {
    /// Check name; the `check` label of its `probe_*` series.
    pub(crate) name: String,
    /// URL to GET.
    pub(crate) url: String,
    /// Status codes that count as healthy; empty means any 2xx.
    pub(crate) expect_status: Vec<u16>,
    /// Slower answers count as failed.
    pub(crate) max_latency: Option<Duration>,
    /// The body must contain this text.
    pub(crate) body_contains: Option<String>,
    /// The body must be JSON whose field at this dotted path (`status`, `checks.db`) equals
    /// `json_equals`.
    pub(crate) json_field: Option<String>,
    /// The value `json_field` must have (compared as text; JSON strings without quotes).
    pub(crate) json_equals: Option<String>,
    /// `Authorization` for this check instead of the target's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) authorization: Option<super::auth::Authorization>,
    /// HTTP basic authentication for this check instead of the target's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) basic_auth: Option<super::auth::BasicAuth>,
    /// TLS for this check instead of the target's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_config: Option<super::auth::TlsConfig>,
}

impl HealthCheckConfig {
    /// Whether the check has credentials or TLS of its own (then the target's do not apply).
    pub(crate) fn has_own_client(&self) -> bool {
        self.authorization.is_some() || self.basic_auth.is_some() || self.tls_config.is_some()
    }
}

/// `[[targets.metric_relabel]]`: a Prometheus `metric_relabel_configs` rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RelabelConfig {
    /// `replace` (default), `keep`, `drop`, `labeldrop` or `labelkeep`.
    pub(crate) action: RelabelAction,
    /// Labels whose values, joined by `separator`, are matched (`__name__` is the metric name).
    pub(crate) source_labels: Vec<String>,
    /// Joins the source label values.
    pub(crate) separator: String,
    /// Regular expression, anchored at both ends. For `labeldrop`/`labelkeep` it matches label names.
    pub(crate) regex: String,
    /// `replace`: the label to write.
    pub(crate) target_label: String,
    /// `replace`: the value written, with `$1`-style references to regex groups. An empty
    /// result removes the label.
    pub(crate) replacement: String,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            action: RelabelAction::Replace,
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: "(.*)".into(),
            target_label: String::new(),
            replacement: "$1".into(),
        }
    }
}

/// What a relabel rule does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RelabelAction {
    /// Write `replacement` into `target_label` when `regex` matches.
    #[default]
    Replace,
    /// Keep only series whose source values match.
    Keep,
    /// Drop series whose source values match.
    Drop,
    /// Remove labels whose names match.
    Labeldrop,
    /// Keep only labels whose names match (and `__name__`).
    Labelkeep,
}

/// Checks `[scrape]` and `[[targets]]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(scrape: &ScrapeConfig, targets: &[TargetConfig], invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    let mut credentials = |path: &[&str], auth: bool, basic: bool, tls: Option<&super::auth::TlsConfig>| {
        if auth && basic {
            errors.push(invalid(&[path, &["basic_auth"]].concat(), "set authorization or basic_auth, not both"));
        }
        if let Some(tls) = tls
            && tls.cert_file.is_empty() != tls.key_file.is_empty()
        {
            errors.push(invalid(&[path, &["tls_config"]].concat(), "set cert_file and key_file together"));
        }
    };
    for (i, t) in targets.iter().enumerate() {
        let i = i.to_string();
        credentials(&["targets", &i], t.authorization.is_some(), t.basic_auth.is_some(), t.tls_config.as_ref());
        for (j, h) in t.health.iter().enumerate() {
            let j = j.to_string();
            credentials(
                &["targets", &i, "health", &j],
                h.authorization.is_some(),
                h.basic_auth.is_some(),
                h.tls_config.as_ref(),
            );
        }
    }
    if scrape.interval.get().is_zero() {
        errors.push(invalid(&["scrape", "interval"], "must be longer than 0s"));
    }
    if scrape.timeout > scrape.interval {
        errors.push(invalid(
            &["scrape", "timeout"],
            &format!("{} is longer than scrape.interval ({})", scrape.timeout, scrape.interval),
        ));
    }
    let mut names = std::collections::HashSet::new();
    let at = |path: &[String], msg: &str| {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        invalid(&refs, msg)
    };
    for (i, t) in targets.iter().enumerate() {
        let base = ["targets".to_string(), i.to_string()];
        let key = |k: &str| [&base[..], &[k.to_string()]].concat();
        if t.name.is_empty() {
            errors.push(at(&key("name"), "every target needs a name (it becomes the job label)"));
        } else if !names.insert(t.name.clone()) {
            errors.push(at(&key("name"), &format!("target name {:?} is used twice", t.name)));
        }
        match &t.metrics_url {
            Some(u) if !is_http_url(u) => {
                errors.push(at(&key("metrics_url"), &format!("{u:?} is not an http:// or https:// URL")));
            }
            None if t.health.is_empty() => errors
                .push(at(&key("metrics_url"), "a target needs a metrics_url, a [[targets.health]] check, or both")),
            _ => {}
        }
        let interval = t.interval.unwrap_or(scrape.interval);
        if interval.get().is_zero() {
            errors.push(at(&key("interval"), "must be longer than 0s"));
        }
        if let Some(timeout) = t.timeout.filter(|t| *t > interval) {
            errors.push(at(&key("timeout"), &format!("{timeout} is longer than the interval ({interval})")));
        }
        for k in t.labels.keys().filter(|k| !is_label_name(k)) {
            errors.push(at(&key("labels"), &format!("{k:?} is not a valid label name")));
        }
        for (j, h) in t.health.iter().enumerate() {
            let hkey = |k: &str| [&base[..], &["health".to_string(), j.to_string(), k.to_string()]].concat();
            if h.name.is_empty() {
                errors.push(at(&hkey("name"), "every health check needs a name (the check label)"));
            }
            if !is_http_url(&h.url) {
                errors.push(at(&hkey("url"), &format!("{:?} is not an http:// or https:// URL", h.url)));
            }
            if h.json_field.is_some() != h.json_equals.is_some() {
                errors.push(at(&hkey("json_field"), "json_field and json_equals go together"));
            }
            if let Some(s) = h.expect_status.iter().find(|s| !(100..=599).contains(*s)) {
                errors.push(at(&hkey("expect_status"), &format!("{s} is not an HTTP status")));
            }
        }
        for (j, r) in t.metric_relabel.iter().enumerate() {
            let rkey = |k: &str| [&base[..], &["metric_relabel".to_string(), j.to_string(), k.to_string()]].concat();
            if let Err(e) = regex::Regex::new(&format!("^(?:{})$", r.regex)) {
                errors.push(at(&rkey("regex"), &format!("does not compile: {e}")));
            }
            if r.action == RelabelAction::Replace && !is_label_name(&r.target_label) {
                errors.push(at(&rkey("target_label"), "replace needs a target_label that is a valid label name"));
            }
        }
    }
    errors
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && reqwest::Url::parse(u).is_ok()
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}
