//! `[rules]`: where rule files are and how they are evaluated.

use crate::config::{Duration, Invalid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[rules]`: Prometheus-format rule files and their evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Glob patterns of rule files, relative to the configuration file's directory.
    pub files: Vec<String>,
    /// Evaluation interval of groups that set no `interval`.
    pub(crate) evaluation_interval: Duration,
    /// Labels added to every alert (not to recording-rule output), as Prometheus'
    /// `global.external_labels`; templates read them as `$externalLabels`.
    pub(crate) external_labels: BTreeMap<String, String>,
    /// A `for` clock survives a restart when sidewatch was down less than this (Prometheus'
    /// `--rules.alert.for-outage-tolerance`); after a longer outage pending alerts start over.
    pub(crate) for_outage_tolerance: Duration,
    /// How often rule files are checked for changes on disk (0s: only on SIGHUP or
    /// `POST /-/reload`).
    pub(crate) watch_interval: Duration,
    /// How many of a group's rule queries run at once when no rule of the group reads what
    /// another writes (recorded names, `ALERTS`): 0 (default) is one per CPU core, at most
    /// 4; 1 evaluates rule by rule, as Prometheus does without `concurrent-rule-eval`.
    pub(crate) concurrency: usize,
}

impl RulesConfig {
    /// The effective [`RulesConfig::concurrency`].
    pub(crate) fn threads(&self) -> usize {
        match self.concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(4),
            n => n,
        }
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            files: vec!["rules/*.yml".into()],
            evaluation_interval: Duration::from_secs(15),
            external_labels: BTreeMap::new(),
            for_outage_tolerance: Duration::from_secs(3600),
            watch_interval: Duration::from_secs(10),
            concurrency: 0,
        }
    }
}

/// Checks `[rules]`.
pub(crate) fn validate(r: &RulesConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if r.evaluation_interval.get().is_zero() {
        errors.push(invalid(&["rules", "evaluation_interval"], "must be longer than 0s"));
    }
    for f in &r.files {
        if let Err(e) = glob::Pattern::new(f) {
            errors.push(invalid(&["rules", "files"], &format!("{f:?} is not a valid glob: {e}")));
        }
    }
    for k in r.external_labels.keys() {
        if k.is_empty() || k.starts_with("__") {
            errors.push(invalid(&["rules", "external_labels"], &format!("{k:?} is not a usable label name")));
        }
    }
    errors
}
