//! `[query]`: limits of the PromQL engine behind the query API (and, later, rule evaluation).

use crate::config::{Duration, Invalid};
use serde::{Deserialize, Serialize};

/// `[query]`: PromQL evaluation limits and defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueryConfig {
    /// Longest a query may run before it fails with `timeout` (a request's `timeout`
    /// parameter may only shorten it).
    pub(crate) timeout: Duration,
    /// Most samples one query may read before it fails with `execution`.
    pub(crate) max_samples: usize,
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub(crate) lookback_delta: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            lookback_delta: Duration::from_secs(300),
        }
    }
}

/// Checks `[query]`.
pub(crate) fn validate(q: &QueryConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if q.timeout.get().is_zero() {
        errors.push(invalid(&["query", "timeout"], "must be longer than 0s"));
    }
    if q.max_samples == 0 {
        errors.push(invalid(&["query", "max_samples"], "must be at least 1"));
    }
    if q.lookback_delta.get().is_zero() {
        errors.push(invalid(&["query", "lookback_delta"], "must be longer than 0s"));
    }
    errors
}
