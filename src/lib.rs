//! sidewatch: an observability sidecar and scheduled report pipeline. It scrapes a service's
//! Prometheus metrics and health endpoints, evaluates Prometheus-compatible alert rules,
//! delivers alerts through a durable outbox, and writes baselines, KPI rollups and digests.
//! See `docs/` and DESIGN.md for the pipeline; each stage is one module.

pub(crate) mod alerts;
pub mod cli;
pub mod config;
mod error;
pub(crate) mod http;
pub mod jobs;
pub mod notify;
pub mod promql;
pub mod remote;
pub mod reports;
pub mod rules;
pub mod scrape;
pub mod settings;
pub(crate) mod shutdown;
pub mod startup;
pub mod storage;
pub mod store;
pub mod telemetry;
