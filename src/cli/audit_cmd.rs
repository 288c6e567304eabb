//! `sidewatch audit [--since 24h]`: the audit log — start-up and shutdown, and every admin
//! write and refused admin request with its actor, token name, source and outcome — newest
//! first, as a table or JSON lines.

use super::notify_cmd::{runtime, since_ms, storage};
use crate::settings::LoadedConfig;
use crate::storage::{AuditQuery, AuditRepo};
use std::process::ExitCode;

/// Prints the audit rows of the last `since`.
pub(super) fn audit(l: &LoadedConfig, since: &str, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let st = storage(l).await?;
        let q = AuditQuery {
            since: chrono::DateTime::from_timestamp_millis(since_ms(since)?),
            limit: limit.max(1),
            ..Default::default()
        };
        let rows = st.list_audit(&q).await?;
        if !json {
            println!(
                "{:<24}  {:<16}  {:<10}  {:<15}  {:<8}  {:<6}  {:<28}  target",
                "time", "actor", "token", "source", "outcome", "status", "action"
            );
        }
        for e in rows {
            let time = e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"time": time, "actor": e.actor, "tokenName": e.token_name, "source": e.source,
                        "requestId": e.request_id, "method": e.method, "route": e.route, "action": e.action,
                        "target": e.target, "outcome": e.outcome, "status": e.status, "detail": e.detail})
                );
            } else {
                println!(
                    "{:<24}  {:<16}  {:<10}  {:<15}  {:<8}  {:<6}  {:<28}  {}",
                    time, e.actor, e.token_name, e.source, e.outcome, e.status, e.action, e.target
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
