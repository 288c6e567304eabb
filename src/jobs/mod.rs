//! *Jobs*: the report jobs (baseline, KPI rollup, digest) on cron schedules (tokio-cron-scheduler;
//! six fields, seconds first, in `jobs.timezone`), and the metric history writer. Each
//! occurrence is claimed in `job_runs` by inserting `(job, scheduled_for)`, which is unique,
//! so of several sidecars sharing one database exactly one runs it; the run is recorded with
//! its status (`ok`, `held`, `failed`), outputs and error. At start, an occurrence missed while
//! sidewatch was down runs if it is at most `jobs.catch_up_grace` old. The CLI runs the same
//! code (`sidewatch report …`), recorded the same way.

pub(crate) mod config;
pub mod events_pull;
pub(crate) mod history;

use crate::reports::{Ctx, ReportError, digest};
use crate::settings::Config;
use crate::storage::{JobStatus, ReportRepo, Storage};
use chrono::TimeZone;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

crate::error::message_error! {
    /// A cron schedule or time zone that does not parse.
    pub(crate) ScheduleError
}

/// A scheduled report job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// `report baseline`.
    Baseline,
    /// `report kpi`.
    Kpi,
    /// `report digest`.
    Digest,
}

impl JobKind {
    /// Every job.
    pub(crate) const ALL: [JobKind; 3] = [JobKind::Baseline, JobKind::Kpi, JobKind::Digest];

    /// Its name in `job_runs`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JobKind::Baseline => "baseline",
            JobKind::Kpi => "kpi",
            JobKind::Digest => "digest",
        }
    }

    /// Its schedule.
    pub(crate) fn schedule(self, cfg: &Config) -> &str {
        match self {
            JobKind::Baseline => &cfg.jobs.baseline.schedule,
            JobKind::Kpi => &cfg.jobs.kpi.schedule,
            JobKind::Digest => &cfg.jobs.digest.schedule,
        }
    }
}

/// `jobs.timezone`: UTC, a fixed offset or an IANA name.
pub(crate) fn timezone(tz: &str) -> Result<crate::config::Zone, ScheduleError> {
    crate::config::Zone::parse(tz).map_err(|e| ScheduleError(e.to_string()))
}

/// Parses a six-field cron expression (seconds first).
pub(crate) fn cron(expr: &str) -> Result<croner::Cron, ScheduleError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr)
        .map_err(|e| ScheduleError(format!("{expr:?} is not a six-field cron schedule (seconds first): {e}")))
}

/// The latest occurrence at or before `now_ms`.
pub(crate) fn previous<Z: TimeZone>(c: &croner::Cron, tz: &Z, now_ms: i64) -> Option<i64> {
    // Cron times are whole seconds: search from the second `now_ms` falls in.
    let now = tz.timestamp_millis_opt(now_ms.div_euclid(1000) * 1000).single()?;
    c.find_previous_occurrence(&now, true).ok().map(|t| t.timestamp_millis().div_euclid(1000) * 1000)
}

/// How a job run ended: `ok`, `held` (gate or duplicate anchor) or `failed`; its answer.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// `ok`, `held`, `failed`.
    pub(crate) status: JobStatus,
    /// The answer (JSON) or the error.
    pub(crate) answer: Value,
    /// Paths written.
    pub(crate) paths: Vec<String>,
    /// The error, for failed runs.
    pub(crate) error: Option<String>,
}

/// The outcome of a run that failed with `e`.
pub(crate) fn failed(e: ReportError) -> Outcome {
    Outcome {
        status: JobStatus::Failed,
        answer: json!({"status": "failed", "error": e.to_string()}),
        paths: vec![],
        error: Some(e.to_string()),
    }
}

/// Runs the baseline (cron and CLI).
pub(crate) async fn run_baseline(ctx: &Ctx, windows: u32, window_minutes: u32) -> Outcome {
    match crate::reports::baseline::run(ctx, windows, window_minutes).await {
        Ok((_, paths)) => {
            Outcome { status: JobStatus::Ok, answer: json!({"status": "written", "paths": paths}), paths, error: None }
        }
        Err(e) => failed(e),
    }
}

/// Runs the KPI rollup for `date` (default yesterday) (cron and CLI).
pub(crate) async fn run_kpi(ctx: &Ctx, date: Option<&str>) -> Outcome {
    match crate::reports::kpi::run(ctx, date).await {
        Ok((doc, paths)) => Outcome {
            status: JobStatus::Ok,
            answer: json!({"status": "written", "date": doc["date"],
                "alerts": {"warning": doc["alerts"]["warning"], "critical": doc["alerts"]["critical"]}, "paths": paths}),
            paths,
            error: None,
        },
        Err(e) => failed(e),
    }
}

/// Runs a job with the configured parameters (what cron runs).
pub(crate) async fn run_configured(ctx: &Ctx, kind: JobKind) -> Outcome {
    let j = &ctx.cfg.jobs;
    match kind {
        JobKind::Baseline => run_baseline(ctx, j.baseline.windows, j.baseline.window_minutes).await,
        JobKind::Kpi => run_kpi(ctx, None).await,
        JobKind::Digest => {
            let args = digest::DigestArgs {
                lookback_days: j.digest.lookback_days,
                anchor: None,
                allow_duplicate_anchor: false,
            };
            run_digest(ctx, &args).await.0
        }
    }
}

/// Runs the digest; the outcome and the Markdown (when written).
pub(crate) async fn run_digest(
    ctx: &Ctx,
    args: &digest::DigestArgs,
) -> (Outcome, Option<digest::Status>, Option<String>) {
    match digest::run(ctx, args).await {
        Ok((status, answer, md)) => {
            let paths: Vec<String> =
                answer["paths"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(String::from)).collect();
            let st = if status == digest::Status::Written { JobStatus::Ok } else { JobStatus::Held };
            let error = (status != digest::Status::Written).then(|| status.as_str().to_string());
            (Outcome { status: st, answer, paths, error }, Some(status), md)
        }
        Err(e) => (failed(e), None, None),
    }
}

/// Records a run of `job` for occurrence `scheduled_for` around `body`; `None` when another
/// runner already has that occurrence.
pub(crate) async fn recorded<F: std::future::Future<Output = Outcome>>(
    storage: &Storage,
    job: &str,
    scheduled_for: i64,
    runner: &str,
    body: F,
) -> Result<Option<Outcome>, crate::storage::StorageError> {
    let now = chrono::Utc::now().timestamp_millis();
    let Some(id) = storage.start_run(job, scheduled_for, runner, now).await? else { return Ok(None) };
    let out = body.await;
    let outputs = serde_json::to_string(&out.paths).unwrap_or_else(|_| "[]".into());
    storage.finish_run(id, out.status, &outputs, out.error.as_deref(), chrono::Utc::now().timestamp_millis()).await?;
    Ok(Some(out))
}

/// Starts the report pipeline: the metric history for reports, the event pulls, and the
/// scheduler of the report jobs (`runner` names this process in `job_runs`); they end with
/// `stop`.
pub(crate) fn start(
    engine: crate::promql::Engine,
    storage: &Storage,
    loaded: &crate::settings::LoadedConfig,
    runner: String,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let cfg = Arc::new(loaded.config.clone());
    let mut tasks = vec![tokio::spawn(history::run(engine, storage.clone(), cfg.clone(), stop.clone()))];
    for src in &cfg.events.sources {
        tasks.push(tokio::spawn(events_pull::run(storage.clone(), src.clone(), stop.clone())));
    }
    let scheduler = Scheduler { storage: storage.clone(), cfg, base_dir: loaded.base_dir.clone(), runner };
    tasks.push(tokio::spawn(scheduler.run(stop)));
    tasks
}

/// What the scheduler needs.
#[derive(Clone)]
pub struct Scheduler {
    /// Database.
    pub storage: Storage,
    /// Configuration.
    pub cfg: Arc<Config>,
    /// Configuration folder.
    pub base_dir: PathBuf,
    /// This runner's name in `job_runs`.
    pub runner: String,
}

impl Scheduler {
    /// Claims and runs occurrence `at` of `kind` (if no one else has).
    pub(crate) async fn occurrence(&self, kind: JobKind, at: i64) {
        let ctx = Ctx::new(self.storage.clone(), self.cfg.clone(), &self.base_dir);
        match recorded(&self.storage, kind.name(), at, &self.runner, run_configured(&ctx, kind)).await {
            Ok(Some(o)) => tracing::info!(
                job = kind.name(),
                status = o.status.as_str(),
                error = o.error.as_deref().unwrap_or(""),
                "report job ran"
            ),
            Ok(None) => tracing::debug!(job = kind.name(), "occurrence already taken by another runner"),
            Err(e) => tracing::warn!(job = kind.name(), error = %e, "report job: cannot record the run"),
        }
    }

    /// Runs missed occurrences within the grace period, then the cron schedules until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let zone = match timezone(&self.cfg.jobs.timezone) {
            Ok(t) => t,
            Err(e) => return tracing::error!(error = %e, "jobs.timezone: report jobs not scheduled"),
        };
        let sched = match tokio_cron_scheduler::JobScheduler::new().await {
            Ok(s) => s,
            Err(e) => return tracing::error!(error = %e, "cannot start the job scheduler"),
        };
        match zone {
            crate::config::Zone::Fixed(tz) => self.schedule(&sched, tz).await,
            crate::config::Zone::Named(tz) => self.schedule(&sched, tz).await,
        }
        if let Err(e) = sched.start().await {
            return tracing::error!(error = %e, "cannot start the job scheduler");
        }
        let _ = stop.wait_for(|s| *s).await;
        let mut sched = sched;
        let _ = sched.shutdown().await;
    }

    /// Catches up missed occurrences and adds each job's cron schedule in `tz`.
    async fn schedule<Z>(&self, sched: &tokio_cron_scheduler::JobScheduler, tz: Z)
    where
        Z: TimeZone + Clone + Send + Sync + 'static,
        Z::Offset: Send + Sync,
    {
        let grace = self.cfg.jobs.catch_up_grace.get().as_millis() as i64;
        for kind in JobKind::ALL {
            let schedule = kind.schedule(&self.cfg).to_string();
            if schedule.is_empty() {
                continue;
            }
            let Ok(c) = cron(&schedule) else { continue };
            let now = chrono::Utc::now().timestamp_millis();
            if let Some(prev) = previous(&c, &tz, now).filter(|p| now - p <= grace) {
                // `recorded` skips it when the occurrence already ran.
                self.occurrence(kind, prev).await;
            }
            let me = self.clone();
            let zone = tz.clone();
            let job = tokio_cron_scheduler::Job::new_async_tz(schedule.as_str(), tz.clone(), move |_, _| {
                let (me, c, zone) = (me.clone(), c.clone(), zone.clone());
                Box::pin(async move {
                    let at = previous(&c, &zone, chrono::Utc::now().timestamp_millis() + 500).unwrap_or_default();
                    me.occurrence(kind, at).await;
                })
            });
            match job {
                Ok(j) => {
                    if let Err(e) = sched.add(j).await {
                        tracing::error!(job = kind.name(), error = %e, "cannot schedule report job");
                    }
                }
                Err(e) => tracing::error!(job = kind.name(), error = %e, "cannot schedule report job"),
            }
        }
    }
}

#[cfg(test)]
mod zone_tests {
    #[test]
    fn a_cron_in_a_named_zone_follows_its_daylight_saving() {
        let c = super::cron("0 15 0 * * *").unwrap();
        let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let crate::config::Zone::Named(berlin) = super::timezone("Europe/Berlin").unwrap() else { panic!("named") };
        // 00:15 in Berlin is 22:15 UTC in summer (CEST) and 23:15 UTC in winter (CET).
        assert_eq!(super::previous(&c, &berlin, ms("2026-07-15T12:00:00Z")), Some(ms("2026-07-14T22:15:00Z")));
        assert_eq!(super::previous(&c, &berlin, ms("2026-01-15T12:00:00Z")), Some(ms("2026-01-14T23:15:00Z")));
        assert!(super::timezone("Nowhere/Land").is_err());
    }
}
