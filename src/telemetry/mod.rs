//! *Telemetry*: how sidewatch reports on itself — log lines through `tracing` (JSON or pretty,
//! key-value fields, the error under the field `error`) and its own Prometheus metrics
//! ([`SelfMetrics`]), served on `/metrics` and scraped by sidewatch itself when no target is set.

pub(crate) mod config;
mod metrics;
mod process;
pub(crate) use config::{LogConfig, LogFormat};

pub use process::{release_free_memory, trim_code_pages, trim_code_task, tune_allocator};

pub(crate) use metrics::SelfMetrics;

use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. `RUST_LOG`, when set, overrides `cfg.level`. Calling it
/// twice is harmless (the second call does nothing), which lets tests start several apps.
pub(crate) fn init_logging(cfg: &LogConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
