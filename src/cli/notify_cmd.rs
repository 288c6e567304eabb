//! `sidewatch silence …`, `sidewatch alerts …` and `sidewatch notify …`: silences, delivery
//! history, retries, exports, test notifications and template previews. They work on the
//! database named in the configuration, so they see (and change) what a running sidecar does.

use crate::config::Duration as CfgDuration;
use crate::notify::model::{AlertData, AlertExtra, AlertStatus, Map, Notification, ZERO_TIME, fingerprint, rfc3339};
use crate::notify::{Plan, channel::Redactor, template};
use crate::settings::LoadedConfig;
use crate::storage::{AlertRepo, OutboxFilter, OutboxRepo, OutboxStatus, Storage, StoredSilence};
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// `sidewatch silence …`
#[derive(Debug, Subcommand)]
pub(crate) enum SilenceCommand {
    /// Create a silence; prints its id.
    Add {
        /// Matchers, e.g. `alertname="HighLatency"` `instance=~"web-.*"`.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// Why (required: the next person on call reads it).
        #[arg(long)]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// How long from the start.
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Start (RFC 3339; default now).
        #[arg(long)]
        start: Option<String>,
    },
    /// List silences in force or to come (with --all, also expired ones of the last week).
    List {
        /// Include expired silences.
        #[arg(long)]
        all: bool,
    },
    /// End a silence now.
    Expire {
        /// The silence id.
        id: String,
    },
}

/// `sidewatch alerts …`
#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Delivery history: one row per notification per channel.
    History {
        /// Only this status: pending, sending, sent, failed, suppressed.
        #[arg(long)]
        status: Option<OutboxStatus>,
        /// Only rows queued within this long (e.g. 1h, 7d).
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only this channel kind (webhook, slack, telegram, email, alertmanager).
        #[arg(long)]
        channel: Option<String>,
        /// Only this receiver.
        #[arg(long)]
        receiver: Option<String>,
        /// At most this many rows (newest first): the page size.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Skip this many rows first (newest first).
        #[arg(long, default_value_t = 0, conflicts_with = "page")]
        offset: i64,
        /// Show this page (1-based) of `--limit` rows.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        page: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Queue failed notifications again (a running sidecar delivers them).
    Retry {
        /// Which rows: failed (default) or pending (to send waiting ones now).
        #[arg(long, default_value = "failed")]
        status: OutboxStatus,
        /// Only rows queued within this long.
        #[arg(long, default_value = "1h")]
        since: String,
        /// Only this channel kind.
        #[arg(long)]
        channel: Option<String>,
        /// Only this receiver.
        #[arg(long)]
        receiver: Option<String>,
    },
    /// Export alert state changes (time, alert, labels, from, to, value).
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Changes within this long.
        #[arg(long, default_value = "7d")]
        since: String,
    },
}

/// `sidewatch notify …`
#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Send a sample alert through every channel of a receiver, and report each outcome.
    Test {
        /// Receiver name.
        #[arg(long)]
        receiver: String,
        /// Send it as resolved.
        #[arg(long)]
        resolved: bool,
    },
    /// Render every channel's message for the alerts in FILE; sends nothing.
    Preview {
        /// JSON or YAML: one alert or a list (`labels`, `annotations`, `status`, `value`).
        #[arg(long)]
        alert: PathBuf,
    },
}

/// Table or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns.
    Text,
    /// JSON lines.
    Json,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// Comma-separated, RFC 4180 quoting.
    Csv,
    /// JSON lines.
    Json,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn since_ms(text: &str) -> anyhow::Result<i64> {
    let d = CfgDuration::parse(text).map_err(|e| anyhow::anyhow!("--since {text:?}: {e}"))?;
    Ok(now_ms() - d.get().as_millis() as i64)
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

pub(super) async fn storage(l: &LoadedConfig) -> anyhow::Result<Storage> {
    let c = &l.config.storage;
    Storage::connect(c, &l.base_dir).await.map_err(|e| anyhow::anyhow!("cannot open storage {}: {e}", c.url))
}

/// Every secret in `[notify]`, for redacting output.
fn secrets(l: &LoadedConfig) -> Vec<String> {
    crate::notify::registry::secrets(&l.config.notify.receivers)
}

fn csv(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

/// `sidewatch silence …`
pub(super) fn silence(l: &LoadedConfig, cmd: &SilenceCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let st = storage(l).await?;
        let now = now_ms();
        match cmd {
            SilenceCommand::Add { matchers, comment, author, duration, start } => {
                crate::notify::matcher::parse_all(matchers).map_err(|e| anyhow::anyhow!(e))?;
                if comment.trim().is_empty() {
                    anyhow::bail!("--comment must say why");
                }
                let starts_at = match start {
                    Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                        .map_err(|e| anyhow::anyhow!("--start {s:?}: {e}"))?
                        .timestamp_millis(),
                    None => now,
                };
                let d = CfgDuration::parse(duration).map_err(|e| anyhow::anyhow!("--duration {duration:?}: {e}"))?;
                let s = StoredSilence {
                    id: uuid::Uuid::new_v4().to_string(),
                    matchers: serde_json::to_string(matchers)?,
                    starts_at,
                    ends_at: starts_at + d.get().as_millis() as i64,
                    created_by: author
                        .clone()
                        .or_else(|| std::env::var("USER").ok())
                        .unwrap_or_else(|| "unknown".into()),
                    comment: comment.clone(),
                    created_at: now,
                    updated_at: now,
                };
                st.save_silence(&s).await?;
                println!("{}", s.id);
            }
            SilenceCommand::List { all } => {
                let after = if *all { now - 7 * 86_400_000 } else { now };
                let rows = st.list_silences(after).await?;
                println!(
                    "{:<36}  {:<8}  {:<20}  {:<20}  {:<10}  matchers / comment",
                    "id", "state", "starts", "ends", "author"
                );
                for s in rows {
                    let state = s.state(now);
                    let m: Vec<String> = serde_json::from_str(&s.matchers).unwrap_or_default();
                    println!(
                        "{:<36}  {:<8}  {:<20}  {:<20}  {:<10}  {} — {}",
                        s.id,
                        state,
                        rfc3339(s.starts_at),
                        rfc3339(s.ends_at),
                        s.created_by,
                        m.join(" "),
                        s.comment
                    );
                }
            }
            SilenceCommand::Expire { id } => {
                let rows = st.list_silences(now - 365 * 86_400_000).await?;
                let Some(mut s) = rows.into_iter().find(|s| &s.id == id) else {
                    eprintln!("error: no silence {id}");
                    return Ok(ExitCode::from(1));
                };
                s.ends_at = s.ends_at.min(now);
                s.updated_at = now;
                st.save_silence(&s).await?;
                println!("expired {id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `sidewatch alerts …`
pub(super) fn alerts(l: &LoadedConfig, cmd: &AlertsCommand) -> anyhow::Result<ExitCode> {
    let secrets = secrets(l);
    let redactor = Redactor::new(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
    runtime()?.block_on(async {
        let st = storage(l).await?;
        match cmd {
            AlertsCommand::History { status, since, channel, receiver, limit, offset, page, format } => {
                let offset = page.map_or(*offset, |p| (p - 1) * (*limit).max(1));
                let f = OutboxFilter {
                    status: *status,
                    since: Some(since_ms(since)?),
                    channel: channel.clone(),
                    receiver: receiver.clone(),
                    limit: *limit,
                    alertname: None,
                };
                let rows = st.list_outbox_from(&f, offset).await?;
                if *format == Format::Text {
                    println!(
                        "{:<6}  {:<24}  {:<28}  {:<12}  {:<12}  {:<10}  {:>8}  last error",
                        "id", "time", "alerts", "receiver", "channel", "status", "attempts"
                    );
                }
                for r in rows {
                    let err = redactor.apply(r.error_text.as_deref().unwrap_or(""));
                    let time = rfc3339(r.sent_at.unwrap_or(r.created_at));
                    match format {
                        Format::Text => println!(
                            "{:<6}  {:<24}  {:<28}  {:<12}  {:<12}  {:<10}  {:>8}  {}",
                            r.id,
                            time,
                            format!("{} ({})", r.alert_names, r.kind),
                            r.receiver,
                            r.channel,
                            r.status,
                            r.attempts,
                            err
                        ),
                        Format::Json => println!(
                            "{}",
                            serde_json::json!({
                                "id": r.id, "createdAt": rfc3339(r.created_at), "sentAt": r.sent_at.map(rfc3339),
                                "alerts": r.alert_names, "kind": r.kind, "receiver": r.receiver, "channel": r.channel,
                                "target": r.target, "groupKey": r.group_key, "status": r.status, "attempts": r.attempts,
                                "lastHttpStatus": r.last_http_status, "errorText": err,
                            })
                        ),
                    }
                }
            }
            AlertsCommand::Retry { status, since, channel, receiver } => {
                let f = OutboxFilter {
                    status: Some(*status),
                    since: Some(since_ms(since)?),
                    channel: channel.clone(),
                    receiver: receiver.clone(),
                    limit: 0,
                    alertname: None,
                };
                let now = now_ms();
                let n = st.requeue(&f, now, now + l.config.notify.max_delivery_age.get().as_millis() as i64).await?;
                println!("queued {n} notification(s) again; a running sidewatch delivers them");
            }
            AlertsCommand::Export { format, since } => {
                let rows = st.list_history(since_ms(since)?, 1_000_000).await?;
                if *format == ExportFormat::Csv {
                    println!("time,alertname,labels,from,to,value,fingerprint");
                }
                for c in rows {
                    let labels: Map = serde_json::from_str(&c.labels).unwrap_or_default();
                    let name = labels.get("alertname").cloned().unwrap_or_else(|| c.rule.clone());
                    let value = crate::promql::format_value(c.value);
                    match format {
                        ExportFormat::Csv => println!(
                            "{}",
                            csv(&[
                                rfc3339(c.at),
                                name,
                                c.labels.clone(),
                                c.from.clone(),
                                c.to.clone(),
                                value,
                                c.fingerprint.clone()
                            ])
                        ),
                        ExportFormat::Json => println!(
                            "{}",
                            serde_json::json!({"time": rfc3339(c.at), "alertname": name, "labels": labels,
                                "from": c.from, "to": c.to, "value": value, "fingerprint": c.fingerprint})
                        ),
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFile {
    labels: Map,
    #[serde(default)]
    annotations: Map,
    #[serde(default = "firing")]
    status: String,
    #[serde(default)]
    value: f64,
}

fn firing() -> String {
    "firing".into()
}

fn read_alerts(path: &PathBuf) -> anyhow::Result<Vec<AlertFile>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let one: Result<AlertFile, _> = yaml_serde::from_str(&text);
    match one {
        Ok(a) => Ok(vec![a]),
        Err(_) => yaml_serde::from_str::<Vec<AlertFile>>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// `sidewatch notify …`
pub(super) fn notify(l: &LoadedConfig, cmd: &NotifyCommand) -> anyhow::Result<ExitCode> {
    let cfg = &l.config;
    let plan =
        Plan::build(&cfg.notify, &l.base_dir, &cfg.external_url()).map_err(|e| anyhow::anyhow!("[notify]: {e}"))?;
    match cmd {
        NotifyCommand::Preview { alert } => {
            let now = now_ms();
            let alerts: Vec<AlertData> = read_alerts(alert)?
                .into_iter()
                .map(|a| {
                    let resolved = a.status == "resolved";
                    let raw_url = a.annotations.get("runbook_url").cloned().unwrap_or_default();
                    let runbook_url = crate::notify::template::runbook_link(&raw_url, &plan.rules.runbook_base);
                    let name = a.labels.get("alertname").cloned().unwrap_or_default();
                    AlertData {
                        status: if resolved { AlertStatus::Resolved } else { AlertStatus::Firing },
                        fingerprint: format!("{:016x}", fingerprint(&a.labels)),
                        starts_at: rfc3339(now - 300_000),
                        ends_at: if resolved { rfc3339(now) } else { ZERO_TIME.into() },
                        generator_url: format!("{}/graph", cfg.external_url()),
                        sidewatch: Some(AlertExtra {
                            value: crate::promql::format_value(a.value),
                            flaps: 0,
                            runbook_steps: plan.runbooks.steps(&name, &raw_url, &a.labels),
                            runbook_url,
                        }),
                        labels: a.labels,
                        annotations: a.annotations,
                    }
                })
                .collect();
            let group: Map = alerts
                .first()
                .and_then(|a| a.labels.get("alertname"))
                .map(|n| [("alertname".to_string(), n.clone())].into())
                .unwrap_or_default();
            let n = Notification::build(
                "preview",
                "{}:preview",
                &group,
                &cfg.external_url(),
                alerts,
                cfg.notify.max_alerts,
            );
            for kind in crate::notify::registry::KINDS {
                for (title, text) in (kind.preview)(&n, &plan.templates).map_err(anyhow::Error::msg)? {
                    println!("=== {title} ===\n{}\n", text.trim_end());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Test { receiver, resolved } => runtime()?.block_on(async {
            let targets: Vec<_> = plan.targets_of(receiver).cloned().collect();
            if targets.is_empty() {
                let names: Vec<&str> = cfg.notify.receivers.iter().map(|r| r.name.as_str()).collect();
                eprintln!("error: no receiver {receiver:?} with channels (receivers: {})", names.join(", "));
                return Ok(ExitCode::from(1));
            }
            let st = storage(l).await?;
            let mut n = template::sample(if *resolved { "resolved" } else { "firing" });
            n.receiver = receiver.clone();
            // The links and the instance are this sidewatch's (server.external_url / listen).
            let base = cfg.external_url();
            n.external_url = base.clone();
            for a in &mut n.alerts {
                a.generator_url = format!("{base}/graph?g0.expr=vector%281%29");
                a.labels.insert("instance".into(), cfg.server.listen.clone());
                a.fingerprint = format!("{:016x}", fingerprint(&a.labels));
            }
            let mut failed = 0;
            for t in targets {
                let row = crate::notify::test_row(&t, &n);
                let ids = st.enqueue(&[row]).await?;
                let started = std::time::Instant::now();
                let res = tokio::time::timeout(t.channel.timeout(), t.channel.send(&n, &plan.templates)).await;
                let res = res.unwrap_or_else(|_| Err(crate::notify::channel::SendError::transient("timed out")));
                let now = now_ms();
                let a = match &res {
                    Ok(d) => crate::storage::Attempt::Sent { http_status: d.status, at: now },
                    Err(e) => crate::storage::Attempt::Failed { http_status: e.status, error: e.message.clone() },
                };
                st.finish(ids[0], &a).await?;
                match res {
                    Ok(d) => println!("{}: sent ({:?}, {} ms)", t.id, d.status, started.elapsed().as_millis()),
                    Err(e) => {
                        failed += 1;
                        println!("{}: FAILED: {}", t.id, e.message)
                    }
                }
            }
            Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }),
    }
}
