//! *Scraping*: fetching each target's `/metrics` and health endpoints on an interval and
//! turning what comes back into samples in the store — with Prometheus' synthetic series
//! (`up`, `scrape_*`, `probe_*`), label handling (`job`, `instance`, `exported_*`), metric
//! relabeling, limits, and staleness markers.

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod health;
mod manager;
pub(crate) mod metadata;
mod metrics;
pub mod parse;
pub(crate) mod relabel;
mod state;
pub mod target;
pub(crate) use config::{HealthCheckConfig, RelabelAction, RelabelConfig, ScrapeConfig, TargetConfig};

pub(crate) use manager::ScrapeManager;
pub(crate) use metrics::ScrapeMetrics;
pub(crate) use state::{TargetState, instance_of};
