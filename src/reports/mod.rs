//! *Reports*: what the report jobs write under `reports.dir` — the *baseline* (rolling windows
//! of the history series, alert thresholds, LLM counters), the daily *KPI rollup* (funnels,
//! D1/D7 retention, KPI alerts), the evidence-gated weekly *digest*, *incident notes* and the
//! *recovery check*. Every report reads storage only (events, metric history, alert and
//! delivery history), never the server's memory, so a run from the CLI and a run from cron
//! give the same answer. Each writes JSON (versioned schema, docs/REPORTS.md) and Markdown,
//! through a temporary file renamed into place, so a failed run leaves nothing half-written.

pub(crate) mod baseline;
pub(crate) mod charts;
pub(crate) mod config;
pub mod digest;
pub(crate) mod format;
pub(crate) mod frame;
pub(crate) mod html;
pub(crate) mod incident;
pub(crate) mod incidents;
pub mod kpi;
pub(crate) mod postmortem;
pub mod seed;
pub(crate) mod send;
pub use config::{
    DigestConfig, EventSource, EventsConfig, EvidenceConfig, FunnelConfig, HistoryConfig, HistorySeries, IngestConfig,
    KpiConfig, RecoveryConfig, ReportsConfig, Sections,
};

use crate::settings::Config;
use crate::storage::{Storage, StorageError};
use handlebars::Handlebars;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request itself is wrong (future anchor date, lookback 0, unknown funnel event…).
    #[error("{0}")]
    Input(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing an output failed.
    #[error("writing {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: String,
    },
    /// Computing or rendering failed.
    #[error("{0}")]
    Compute(String),
}

impl From<polars::error::PolarsError> for ReportError {
    fn from(e: polars::error::PolarsError) -> Self {
        ReportError::Compute(format!("computation: {e}"))
    }
}

/// What every report needs.
#[derive(Clone)]
pub struct Ctx {
    /// The database.
    pub(crate) storage: Storage,
    /// The configuration.
    pub(crate) cfg: Arc<Config>,
    /// Where the configuration file is (relative paths).
    pub(crate) base_dir: PathBuf,
    /// `reports.dir`, resolved.
    pub(crate) dir: PathBuf,
    /// Now (ms); fixed per run.
    pub(crate) now: i64,
}

impl Ctx {
    /// A context at the current time.
    pub fn new(storage: Storage, cfg: Arc<Config>, base_dir: &Path) -> Ctx {
        let dir = crate::config::resolve_path(base_dir, &cfg.reports.dir);
        // Report queries may scan millions of events: allow them minutes, not the interactive limit.
        let storage = storage.with_timeout(std::time::Duration::from_secs(600));
        Ctx { storage, cfg, base_dir: base_dir.to_path_buf(), dir, now: chrono::Utc::now().timestamp_millis() }
    }

    /// A path under the reports folder, as written in outputs (relative to the folder's parent).
    pub(crate) fn out(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

/// The mean, or `None` for no values.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (s, n) = values.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |e: std::io::Error| ReportError::Io { path: path.display().to_string(), error: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Writes pretty JSON.
pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| ReportError::Compute(e.to_string()))? + "\n";
    write_atomic(path, text.as_bytes())
}

/// The report templates (`templates/reports/`), strict, no HTML escaping (Markdown).
pub(crate) fn templates() -> Result<Handlebars<'static>, ReportError> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.register_escape_fn(handlebars::no_escape);
    for (name, src) in [
        ("digest", include_str!("../../templates/reports/digest.md.hbs")),
        ("kpi", include_str!("../../templates/reports/kpi.md.hbs")),
        ("baseline", include_str!("../../templates/reports/baseline.md.hbs")),
        ("incident", include_str!("../../templates/reports/incident.md.hbs")),
        ("recovery", include_str!("../../templates/reports/recovery.md.hbs")),
    ] {
        h.register_template_string(name, src).map_err(|e| ReportError::Compute(format!("template {name}: {e}")))?;
    }
    Ok(h)
}

/// Renders `name` with `ctx`.
pub(crate) fn render(name: &str, ctx: &serde_json::Value) -> Result<String, ReportError> {
    templates()?.render(name, ctx).map_err(|e| ReportError::Compute(format!("template {name}: {e}")))
}

/// UTC day number of `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// `YYYY-MM-DD` of a UTC day number.
pub fn date_of(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// Day number of `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Result<i64, ReportError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp().div_euclid(86_400))
        .map_err(|_| ReportError::Input(format!("date {s:?} is not YYYY-MM-DD")))
}

/// A number for reports: `n/a` for none, else rounded to 4 significant decimals.
pub(crate) fn num(v: Option<f64>) -> serde_json::Value {
    match v {
        Some(x) if x.is_finite() => serde_json::json!((x * 10_000.0).round() / 10_000.0),
        _ => serde_json::json!("n/a"),
    }
}

/// The query-API link of an expression over a window (evidence links).
pub(crate) fn query_link(cfg: &Config, expr: &str, start_ms: i64, end_ms: i64) -> String {
    format!(
        "{}/api/v1/query_range?query={}&start={}&end={}&step=300",
        cfg.external_url(),
        form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>(),
        start_ms / 1000,
        end_ms / 1000
    )
}
