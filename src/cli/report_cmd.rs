//! `sidewatch report …`: the report jobs run by hand (the same code and the same `job_runs`
//! records as the cron runs inside `sidewatch run`), the incident note, the recovery check,
//! the event generator and the list of job runs. The answer is JSON on stdout.

use crate::jobs::{self, JobKind, Outcome};
use crate::reports::{Ctx, digest};
use crate::settings::LoadedConfig;
use crate::storage::{ReportRepo, Storage};
use clap::Subcommand;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

/// `sidewatch report …`
#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// Baseline snapshot: N windows of M minutes of every history series, thresholds, LLM counters.
    Baseline {
        /// Number of windows (default `jobs.baseline.windows`).
        #[arg(long)]
        windows: Option<u32>,
        /// Minutes per window (default `jobs.baseline.window_minutes`).
        #[arg(long)]
        window_minutes: Option<u32>,
    },
    /// Daily KPI rollup for a UTC date (default yesterday).
    Kpi {
        /// `YYYY-MM-DD`.
        #[arg(long)]
        date: Option<String>,
    },
    /// Weekly digest, written only when the evidence gate holds. Exit 0 written, 3 not enough
    /// evidence, 4 a draft for the anchor exists.
    Digest {
        /// Days covered, ending with the anchor date.
        #[arg(long)]
        lookback_days: Option<u32>,
        /// `YYYY-MM-DD` (default today, UTC).
        #[arg(long)]
        anchor_date: Option<String>,
        /// Also print the Markdown after the JSON answer.
        #[arg(long)]
        print_markdown: bool,
        /// Write even when a draft for the anchor date exists.
        #[arg(long)]
        allow_duplicate_anchor: bool,
    },
    /// Incident note for an alert (name or fingerprint).
    Incident {
        /// Alert name or fingerprint.
        #[arg(long)]
        alert: String,
    },
    /// Post-incident pack for an alert: a Markdown skeleton of the incident report with its
    /// incidents, timeline (alert history and deliveries), trend chart and the timeline as CSV.
    Postmortem {
        /// Alert name.
        #[arg(long)]
        alert: String,
        /// How far back to look for its incidents.
        #[arg(long, default_value = "7d")]
        since: String,
    },
    /// Recovery check (exit 0 recovered, 3 not yet).
    Recovery,
    /// Fill the events table with generated product events (for trying reports and benchmarks).
    Seed {
        /// About this many events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Distinct users.
        #[arg(long, default_value_t = 5_000)]
        users: u64,
        /// Days, ending with --end-date.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Last day (default today).
        #[arg(long)]
        end_date: Option<String>,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Recent job runs (cron and CLI).
    Runs {
        /// Only this job.
        #[arg(long, default_value = "")]
        job: String,
    },
}

fn print(v: &serde_json::Value) {
    println!("{}", serde_json::to_string(v).unwrap_or_default());
}

/// Runs a report command.
pub(super) fn report(l: &LoadedConfig, cmd: &ReportCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let c = &l.config.storage;
        let st = Storage::connect(c, &l.base_dir).await.map_err(|e| anyhow::anyhow!("cannot open storage {}: {e}", c.url))?;
        let ctx = Ctx::new(st.clone(), Arc::new(l.config.clone()), &l.base_dir);
        let runner = format!("cli-{}", std::process::id());
        let record = |job: &'static str, o: Outcome| {
            let st = st.clone();
            let runner = runner.clone();
            async move { jobs::recorded(&st, job, ctx_now(), &runner, async { o }).await.ok().flatten() }
        };
        let j = &l.config.jobs;
        let code = match cmd {
            ReportCommand::Baseline { windows, window_minutes } => {
                let out = jobs::run_baseline(
                    &ctx,
                    windows.unwrap_or(j.baseline.windows),
                    window_minutes.unwrap_or(j.baseline.window_minutes),
                )
                .await;
                finish(record(JobKind::Baseline.name(), out).await)
            }
            ReportCommand::Kpi { date } => {
                let out = jobs::run_kpi(&ctx, date.as_deref()).await;
                finish(record(JobKind::Kpi.name(), out).await)
            }
            ReportCommand::Digest { lookback_days, anchor_date, print_markdown, allow_duplicate_anchor } => {
                let args = digest::DigestArgs {
                    lookback_days: lookback_days.unwrap_or(j.digest.lookback_days),
                    anchor: anchor_date.clone(),
                    allow_duplicate_anchor: *allow_duplicate_anchor,
                };
                let (out, status, md) = jobs::run_digest(&ctx, &args).await;
                let code = match status {
                    Some(s) => ExitCode::from(s.exit_code()),
                    None => ExitCode::from(1),
                };
                let answer = out.answer.clone();
                record(JobKind::Digest.name(), out).await;
                print(&answer);
                if *print_markdown && let Some(md) = md {
                    println!("\n{md}");
                }
                code
            }
            ReportCommand::Incident { alert } => finish(Some(match crate::reports::incident::incident(&ctx, alert).await {
                Ok((doc, paths)) => Outcome { status: crate::storage::JobStatus::Ok, answer: serde_json::json!({"status": "written", "incident": doc, "paths": paths}), paths, error: None },
                Err(e) => jobs::failed(e),
            })),
            ReportCommand::Postmortem { alert, since } => {
                let d = crate::config::Duration::parse(since).map_err(|e| anyhow::anyhow!("--since {since:?}: {e}"))?;
                finish(Some(match crate::reports::postmortem::write(&ctx, alert, d.get().as_millis() as i64).await {
                    Ok((doc, paths)) => Outcome { status: crate::storage::JobStatus::Ok, answer: serde_json::json!({"status": "written", "postmortem": doc, "paths": paths}), paths, error: None },
                    Err(e) => jobs::failed(e),
                }))
            }
            ReportCommand::Recovery => match crate::reports::incident::recovery(&ctx).await {
                Ok((recovered, doc, paths)) => {
                    print(&serde_json::json!({"status": "written", "recovered": recovered, "checks": doc["checks"], "paths": paths}));
                    ExitCode::from(if recovered { 0 } else { 3 })
                }
                Err(e) => finish(Some(jobs::failed(e))),
            },
            ReportCommand::Seed { events, users, days, end_date, seed } => {
                let end_day = match end_date {
                    Some(d) => crate::reports::parse_date(d).map_err(|e| anyhow::anyhow!("{e}"))?,
                    None => crate::reports::day_of(ctx.now),
                };
                let spec = crate::reports::seed::SeedSpec { events: *events, users: *users, days: *days, end_day, seed: *seed };
                let bar = std::io::stderr().is_terminal().then(|| indicatif::ProgressBar::new(*events));
                let n = crate::reports::seed::seed(&st, &spec, |done| {
                    if let Some(b) = &bar {
                        b.set_position(done)
                    }
                })
                .await?;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                print(&serde_json::json!({"status": "seeded", "events": n, "users": users, "days": days, "end_date": crate::reports::date_of(end_day)}));
                ExitCode::SUCCESS
            }
            ReportCommand::Runs { job } => {
                for r in st.list_runs(job, 50).await? {
                    println!(
                        "{:<8}  {:<24}  {:<8}  {:<16}  {}  {}",
                        r.job,
                        crate::notify::model::rfc3339(r.scheduled_for),
                        r.status,
                        r.runner,
                        r.outputs,
                        r.error.unwrap_or_default()
                    );
                }
                ExitCode::SUCCESS
            }
        };
        Ok(code)
    })
}

fn ctx_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn finish(o: Option<Outcome>) -> ExitCode {
    let Some(o) = o else { return ExitCode::from(1) };
    print(&o.answer);
    if o.status == crate::storage::JobStatus::Failed {
        eprintln!("error: {}", o.error.unwrap_or_default());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
