//! sidewatch's integration tests: one binary, one module per concern. Every test starts what
//! it needs (the application on port 0, a temporary SQLite file, a PostgreSQL database of its
//! own, fake servers) on 127.0.0.1 and stops it again.

mod admin_amtool;
mod admin_api;
mod admin_secrets;
mod alerting;
mod api_schema;
mod cli;
mod common;
mod crash_storm;
mod deploy;
mod digest;
mod federate;
mod fleet_storm;
mod fuzz_inputs;
mod health;
mod notify_channels;
mod notify_delivery;
mod notify_e2e;
mod ops_console;
mod pg_outage;
mod prom_shapes;
mod promql_conformance;
mod promql_fuzz;
mod query_api;
mod remote_write;
mod replicas;
mod reports;
mod rules_cli;
mod scrape;
mod scrape_faults;
mod scrape_tls;
mod storage_suite;
