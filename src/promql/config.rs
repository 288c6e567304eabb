//! `[query]`: limits of the PromQL engine behind the query API and rule evaluation.

use crate::config::{ByteSize, Duration, Invalid};
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
    /// Most points a range query's result may hold (16 bytes each) before it fails with
    /// `execution` (HTTP 422).
    pub(crate) max_points: usize,
    /// Largest query API response body, in bytes; a larger answer fails with `execution`
    /// (HTTP 422) instead of being built.
    pub(crate) max_response_bytes: ByteSize,
    /// Longest query text accepted, in bytes (HTTP 400 `bad_data` above it; also for rule
    /// files).
    pub(crate) max_length: ByteSize,
    /// Deepest query accepted: the deepest nesting of parentheses plus the number of binary
    /// operators. Deeper queries are refused with HTTP 400 `bad_data` before parsing.
    pub(crate) max_depth: usize,
    /// Queries of the query API evaluated at once; more wait (up to their timeout) in a queue,
    /// like Prometheus' `--query.max-concurrency`.
    pub(crate) max_concurrency: usize,
}

impl QueryConfig {
    /// The engine options these settings give; `subquery_step_ms` is the step of subqueries
    /// written without one (the rules' evaluation interval).
    pub(crate) fn engine_options(&self, subquery_step_ms: i64) -> crate::promql::EngineOptions {
        crate::promql::EngineOptions {
            lookback_ms: self.lookback_delta.get().as_millis() as i64,
            max_samples: self.max_samples,
            timeout: self.timeout.get(),
            default_subquery_step_ms: subquery_step_ms,
            max_points: self.max_points,
            max_length: self.max_length.bytes() as usize,
            max_depth: self.max_depth,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            lookback_delta: Duration::from_secs(300),
            max_points: 1_000_000,
            max_response_bytes: ByteSize::mib(32),
            max_length: ByteSize::kib(64),
            max_depth: crate::promql::limits::DEFAULT_MAX_DEPTH,
            max_concurrency: 4,
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
    for (key, v) in [
        ("max_points", q.max_points),
        ("max_response_bytes", q.max_response_bytes.bytes() as usize),
        ("max_length", q.max_length.bytes() as usize),
        ("max_depth", q.max_depth),
        ("max_concurrency", q.max_concurrency),
    ] {
        if v == 0 {
            errors.push(invalid(&["query", key], "must be at least 1"));
        }
    }
    if q.lookback_delta.get().is_zero() {
        errors.push(invalid(&["query", "lookback_delta"], "must be longer than 0s"));
    }
    errors
}
