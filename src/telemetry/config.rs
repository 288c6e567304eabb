//! The *log settings*: `[log]`, the level filter and line format of sidewatch's own logs.

use crate::config::Invalid;
use crate::config::ValueError;
use serde::{Deserialize, Serialize};

/// `[log]`: log output on standard error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// Minimum level (`error`, `warn`, `info`, `debug`, `trace`), or a filter such as
    /// `info,sqlx=warn`. `RUST_LOG`, when set, wins.
    pub(crate) level: String,
    /// `json` (one object per line) or `pretty` (for people at a terminal).
    pub(crate) format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Json }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured when on a terminal.
    Pretty,
}

/// Checks `[log]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(config: &LogConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(e) = check_log_filter(&config.level) {
        errors.push(invalid(
            &["log", "level"],
            &format!("{e}; expected error, warn, info, debug, trace or a filter like \"info,sqlx=warn\""),
        ));
    }
    errors
}

/// A log filter: comma-separated directives, each a level or `target=level`. (tracing's own
/// parser takes a bare word as a target name, which hides typos like `level = "infoo"`.)
fn check_log_filter(filter: &str) -> Result<(), ValueError> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(ValueError::from(format!("{level:?} is not a log level")));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map(|_| ()).map_err(|e| ValueError(e.to_string()))
}
