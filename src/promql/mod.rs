//! The *PromQL engine*: evaluates a PromQL expression over the [`Store`] at one instant or
//! over a range of steps, with Prometheus' semantics (lookback delta and staleness, range
//! selectors open on the left, `offset`, `@`, subqueries, vector matching, aggregations and the
//! float functions). Parsing is done by the `promql-parser` crate; evaluation is ours — see
//! `docs/ARCHITECTURE.md` for why. Range-vector functions read samples straight from the
//! compressed chunks through [`Store::visit`]; series are selected through the postings index.
//!
//! An *instant query* evaluates at one time; a *range query* evaluates at `start`,
//! `start+step`, … `end` and joins the steps into series.

mod aggregate;
mod binary;
#[cfg(test)]
mod cache_tests;
pub(crate) mod config;
mod eval;
mod functions;
mod histogram;
mod label_fns;
pub(crate) mod limits;
pub mod promqltest;
mod range_fns;
pub(crate) mod syntax;
mod value;

pub use value::{Sample, Series, Value};

use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Parses a duration as PromQL and the API write it (`1m`, `1h30m`, `500ms`, or seconds
/// such as `15` or `0.5`) into milliseconds; negative with a leading `-`.
pub(crate) fn parse_duration_ms(s: &str) -> Option<i64> {
    promqltest::parse_duration(s)
}

/// How far back (ms) each selector of `expr` reads, by metric name (`None`: no name): its
/// range plus offsets plus the ranges of enclosing subqueries.
pub(crate) fn lookback_by_metric(expr: &promql_parser::parser::Expr) -> Vec<(Option<String>, i64)> {
    eval::selector_spans(expr).into_iter().map(|(vs, span)| (vs.name.clone(), span.max(0))).collect()
}

/// Every vector selector of `expr` (those inside matrix selectors and subqueries too).
pub(crate) fn selectors(expr: &promql_parser::parser::Expr) -> Vec<&promql_parser::parser::VectorSelector> {
    eval::selector_spans(expr).into_iter().map(|(vs, _)| vs).collect()
}

/// Whether two sample values agree to a relative 1e-9 (NaN equals NaN), for test comparisons.
pub(crate) fn almost_equal(a: f64, b: f64) -> bool {
    histogram::almost_equal(a, b, 1e-9)
}

/// A sample value as Prometheus writes it in API responses (`1`, `0.5`, `NaN`, `+Inf`).
pub(crate) fn format_value(v: f64) -> String {
    value::format_float(v)
}

/// The kind of a query error, as Prometheus' API names it in `errorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The query does not parse or is invalid (`bad_data`, HTTP 400).
    BadData,
    /// Evaluation failed (`execution`, HTTP 422).
    Execution,
    /// The query ran past its timeout (`timeout`, HTTP 503).
    Timeout,
}

impl ErrorKind {
    /// The API's `errorType` string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
        }
    }
}

/// A query that could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct QueryError {
    /// What kind of failure.
    pub(crate) kind: ErrorKind,
    /// Prometheus-style message.
    pub(crate) msg: String,
}

impl QueryError {
    pub(crate) fn bad(msg: impl Into<String>) -> QueryError {
        QueryError { kind: ErrorKind::BadData, msg: msg.into() }
    }
    pub(crate) fn exec(msg: impl Into<String>) -> QueryError {
        QueryError { kind: ErrorKind::Execution, msg: msg.into() }
    }
}

/// Results shared by the queries of one rule-group evaluation: groups often repeat the same
/// subexpression (`sum by (route) (rate(http_requests_total[5m]))` in several rules), which
/// is then evaluated once. Keyed by the expression's text and the evaluation time; cleared
/// when a recording rule writes to the store.
///
/// Queries of one group may run at once on several threads: the first to need an expression
/// computes it while the others wait for its result instead of computing it again.
///
/// Below whole expressions, it keeps per series what `rate` and `increase` of a counter over
/// one window compute ([`CounterWindow`]): `rate(x{status=~"5.."}[1m])`, `rate(x[1m])` and
/// `increase(x[1m])` in one group then decode each series' window once.
#[derive(Default)]
pub struct EvalCache {
    map: std::sync::Mutex<std::collections::HashMap<CacheKey, Arc<std::sync::OnceLock<Option<Value>>>>>,
    windows: std::sync::Mutex<std::collections::HashMap<(i64, i64), Arc<CounterWindow>>>,
}

/// Per store series id, ascending, a counter window's [`range_fns::counter_parts`] (a NaN
/// factor: under two samples), for one window `(start, end]`. Filled by the queries that read
/// it; a selector visits its series in id order, so a query finds them walking forward.
pub(crate) type CounterWindow = std::sync::RwLock<Vec<(u32, f64, f64)>>;

/// An expression's text, its evaluation time and the query's range.
type CacheKey = (String, i64, i64, i64);

impl EvalCache {
    /// Largest vector kept (samples).
    const MAX_SAMPLES: usize = 10_000;

    /// The cell of `key`, created empty if new.
    fn cell(&self, key: CacheKey) -> Arc<std::sync::OnceLock<Option<Value>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone()
    }

    /// Whether a result is kept for `key` (not merely being computed, nor too large to keep).
    fn contains(&self, key: &CacheKey) -> bool {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).is_some_and(|c| matches!(c.get(), Some(Some(_))))
    }

    /// The per-series results of counter windows `(start, end]`, created empty if new.
    pub(crate) fn counter_window(&self, start: i64, end: i64) -> Arc<CounterWindow> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).entry((start, end)).or_default().clone()
    }

    /// Forgets everything (the store changed).
    pub(crate) fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Engine limits and defaults.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_ms: i64,
    /// The most samples one query may read before it fails.
    pub max_samples: usize,
    /// The longest one query may run.
    pub timeout: Duration,
    /// Step of a subquery written without one (Prometheus: the global evaluation interval).
    pub default_subquery_step_ms: i64,
    /// Most points a range query's result may hold (`query.max_points`).
    pub max_points: usize,
    /// Longest query text, in bytes (`query.max_length`).
    pub max_length: usize,
    /// Deepest query accepted (`query.max_depth`, see [`limits`]).
    pub max_depth: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_ms: 5 * 60_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
            max_points: 1_000_000,
            max_length: limits::DEFAULT_MAX_LENGTH,
            max_depth: limits::DEFAULT_MAX_DEPTH,
        }
    }
}

/// What a query returned, with what it cost.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    /// The result: for a range query always a matrix (or a string/scalar is refused).
    pub value: Value,
    /// Samples read from the store.
    pub samples: usize,
    /// Warnings and infos Prometheus would attach (`PromQL warning: …`, `PromQL info: …`).
    pub(crate) annotations: Vec<String>,
}

impl QueryOutput {
    /// The warnings and infos of the evaluation (`PromQL warning: …`, `PromQL info: …`).
    pub fn annotations(&self) -> &[String] {
        &self.annotations
    }
}

/// Evaluates PromQL over a store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<Store>,
    opts: EngineOptions,
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Arc<Store>, opts: EngineOptions) -> Engine {
        Engine { store, opts }
    }

    /// The longest one query may run.
    pub(crate) fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// The store queried.
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Parses `query`, with Prometheus' `bad_data` error when it does not.
    /// The parser crate panics on some numeric durations (`foo[1e400]`, `x offset 1e30`: its
    /// `Duration::from_secs_f64` overflows); that is caught and reported as bad input.
    pub fn parse(query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
        Self::parse_limited(query, limits::DEFAULT_MAX_LENGTH, limits::DEFAULT_MAX_DEPTH)
    }

    /// [`Engine::parse`] with the size and depth limits given (see [`limits`]): a query past
    /// them is refused before the parser sees it.
    pub(crate) fn parse_limited(
        query: &str,
        max_length: usize,
        max_depth: usize,
    ) -> Result<promql_parser::parser::Expr, QueryError> {
        Self::parse_located(query, max_length, max_depth).map_err(|(e, _)| e)
    }

    /// [`Engine::parse_limited`], a syntax error with its `(line, column)` inside `query`
    /// (rule files map it to their own lines).
    pub(crate) fn parse_located(
        query: &str,
        max_length: usize,
        max_depth: usize,
    ) -> Result<promql_parser::parser::Expr, (QueryError, Option<(usize, usize)>)> {
        limits::check(query, max_length, max_depth).map_err(|e| (e, None))?;
        let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(query)).map_err(|_| {
            (QueryError::bad("invalid parameter \"query\": a duration or number is out of range"), None)
        })?;
        parsed.map_err(|e| match syntax::locate(query, &e) {
            Some(s) => {
                (QueryError::bad(format!("invalid parameter \"query\": {}", s.render(query))), Some(s.line_col(query)))
            }
            None => (QueryError::bad(format!("invalid parameter \"query\": parse error: {e}")), None),
        })
    }

    /// Evaluates `query` at `t` (ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<QueryOutput, QueryError> {
        let expr = Self::parse_limited(query, self.opts.max_length, self.opts.max_depth)?;
        self.instant_expr(&expr, t)
    }

    /// Evaluates a parsed expression at `t` (ms).
    pub(crate) fn instant_expr(&self, expr: &promql_parser::parser::Expr, t: i64) -> Result<QueryOutput, QueryError> {
        self.instant_cached(expr, t, None)
    }

    /// [`Engine::instant_expr`] sharing results through `cache` with other queries at `t`.
    pub fn instant_cached(
        &self,
        expr: &promql_parser::parser::Expr,
        t: i64,
        cache: Option<&EvalCache>,
    ) -> Result<QueryOutput, QueryError> {
        let warning = eval::retention_warning(&self.store, expr);
        let mut ctx = eval::Ctx::new(&self.store, &self.opts, t, t, 0);
        ctx.cache = cache;
        let value = ctx.eval(expr, t)?;
        let value = match value {
            Value::Vector(v) => Value::Vector(eval::check_unique(v)?),
            other => other,
        };
        let mut out = ctx.finish(value);
        out.annotations.extend(warning);
        Ok(out)
    }

    /// Evaluates `query` at every step from `start` to `end` (ms) and joins the results.
    pub fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<QueryOutput, QueryError> {
        let expr = Self::parse_limited(query, self.opts.max_length, self.opts.max_depth)?;
        self.range_expr(&expr, start, end, step)
    }

    /// Range evaluation of a parsed expression.
    pub(crate) fn range_expr(
        &self,
        expr: &promql_parser::parser::Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        if step <= 0 {
            return Err(QueryError::bad(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end < start {
            return Err(QueryError::bad("invalid parameter \"end\": end timestamp must not be before start time"));
        }
        let warning = eval::retention_warning(&self.store, expr);
        let ctx = eval::Ctx::new(&self.store, &self.opts, start, end, step);
        let value = ctx.eval_range(expr, start, end, step)?;
        let mut out = ctx.finish(value);
        out.annotations.extend(warning);
        Ok(out)
    }
}
