//! The *scrape manager*: one task per target's metrics endpoint and one per health check,
//! each on its own interval, started at an offset derived from the target name so targets
//! spread across the interval instead of firing together. A failing target keeps its loop.

use super::client::{ACCEPT, BodySink, Get, build_client, fetch_to};
use super::health::probe;
use super::metrics::ScrapeMetrics;
use super::parse::Format;
use super::relabel::Rule;
use super::state::{CheckStatus, Health, ScrapeStatus, TargetState, instance_of};
use super::target::{Ingest, IngestReport, MetricsScraper, ScrapeError};
use super::{HealthCheckConfig, ScrapeConfig, TargetConfig};
use crate::config::ByteSize;
use crate::store::Store;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Default `body_size_limit`.
const DEFAULT_BODY_LIMIT: ByteSize = ByteSize::mib(32);

/// The targets and their running loops.
pub(crate) struct ScrapeManager {
    configs: Vec<TargetConfig>,
    /// Live state of every target, for the API.
    pub(crate) targets: Arc<Vec<Arc<TargetState>>>,
}

/// A delay in `[0, interval)` fixed by the name, so restarts keep the same phase.
fn spread(name: &str, interval: Duration) -> Duration {
    let h = crate::store::labels::fingerprint(std::iter::once(("target", name)));
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h % ms)
}

impl ScrapeManager {
    /// Prepares state for `targets` (nothing runs until [`ScrapeManager::start`]).
    pub(crate) fn new(targets: &[TargetConfig], defaults: &ScrapeConfig) -> Self {
        let states = targets
            .iter()
            .map(|t| {
                let interval = t.interval.unwrap_or(defaults.interval).get();
                let timeout = t.timeout.unwrap_or(defaults.timeout).get().min(interval);
                Arc::new(TargetState {
                    name: t.name.clone(),
                    scrape_url: t.metrics_url.clone(),
                    labels: target_labels(t),
                    interval_s: interval.as_secs_f64(),
                    timeout_s: timeout.as_secs_f64(),
                    scrape: Default::default(),
                    metadata: Default::default(),
                    checks: t
                        .health
                        .iter()
                        .map(|h| {
                            std::sync::Mutex::new(CheckStatus {
                                name: h.name.clone(),
                                url: h.url.clone(),
                                ..Default::default()
                            })
                        })
                        .collect(),
                })
            })
            .collect();
        ScrapeManager { configs: targets.to_vec(), targets: Arc::new(states) }
    }

    /// Spawns every loop; they stop when `shutdown` turns true (or its sender goes away).
    pub(crate) fn start(
        &self,
        store: Arc<Store>,
        metrics: ScrapeMetrics,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let shared = build_client();
        let mut tasks = Vec::new();
        for (cfg, state) in self.configs.iter().zip(self.targets.iter()) {
            // A target with credentials or its own TLS gets a client of its own.
            let client = if cfg.authorization.is_some() || cfg.basic_auth.is_some() || cfg.tls_config.is_some() {
                match own_client(cfg.authorization.as_ref(), cfg.basic_auth.as_ref(), cfg.tls_config.as_ref()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(target = %cfg.name, error = %e, "cannot set up the target's credentials; it is not scraped");
                        continue;
                    }
                }
            } else {
                shared.clone()
            };
            let interval = Duration::from_secs_f64(state.interval_s);
            let timeout = Duration::from_secs_f64(state.timeout_s);
            if let Some(url) = cfg.metrics_url.clone() {
                let rules = cfg.metric_relabel.iter().filter_map(|r| Rule::compile(r).ok()).collect();
                let scraper = MetricsScraper::new(state.labels.clone(), cfg.honor_labels, cfg.sample_limit, rules);
                let job = MetricsJob {
                    state: state.clone(),
                    url,
                    limit: cfg.body_size_limit.unwrap_or(DEFAULT_BODY_LIMIT).bytes(),
                    timeout,
                    scraper,
                    interval_ms: interval.as_millis() as i64,
                    last_t_ms: None,
                };
                tasks.push(tokio::spawn(run_every(
                    spread(&cfg.name, interval),
                    interval,
                    shutdown.clone(),
                    job,
                    (client.clone(), store.clone(), metrics.clone()),
                )));
            }
            for (i, check) in cfg.health.iter().enumerate() {
                // A check with credentials of its own uses them instead of the target's.
                let client = if check.has_own_client() {
                    match own_client(check.authorization.as_ref(), check.basic_auth.as_ref(), check.tls_config.as_ref())
                    {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::error!(target = %cfg.name, check = %check.name, error = %e, "cannot set up the check's credentials; it is not probed");
                            continue;
                        }
                    }
                } else {
                    client.clone()
                };
                let job = ProbeJob {
                    state: state.clone(),
                    index: i,
                    labels: probe_labels(cfg, check),
                    check: check.clone(),
                    timeout,
                };
                let offset = spread(&format!("{}/{}", cfg.name, check.name), interval);
                tasks.push(tokio::spawn(run_every(
                    offset,
                    interval,
                    shutdown.clone(),
                    job,
                    (client.clone(), store.clone(), metrics.clone()),
                )));
            }
        }
        tasks
    }
}

/// A client with `authorization` or `basic_auth` and `tls_config`.
fn own_client(
    authorization: Option<&crate::scrape::auth::Authorization>,
    basic_auth: Option<&crate::scrape::auth::BasicAuth>,
    tls: Option<&crate::scrape::auth::TlsConfig>,
) -> Result<reqwest::Client, String> {
    crate::scrape::auth::apply(super::client::client_builder(), authorization, basic_auth, tls)
        .and_then(|b| b.build().map_err(|e| e.to_string()))
}

/// `job`, `instance` (host:port of the metrics URL, or of the first health check) and extras.
fn target_labels(t: &TargetConfig) -> Vec<(String, String)> {
    let url = t.metrics_url.as_deref().or(t.health.first().map(|h| h.url.as_str())).unwrap_or_default();
    let mut labels = vec![("job".to_string(), t.name.clone()), ("instance".to_string(), instance_of(url))];
    for (k, v) in &t.labels {
        labels.retain(|(n, _)| n != k);
        labels.push((k.clone(), v.clone()));
    }
    labels.sort();
    labels
}

/// Labels of a check's `probe_*` series: `job`, `instance` (of the check URL), `target`,
/// `check`, then the target's extra labels (which win on a clash).
fn probe_labels(t: &TargetConfig, check: &HealthCheckConfig) -> Vec<(String, String)> {
    let mut labels = vec![
        ("job".to_string(), t.name.clone()),
        ("instance".to_string(), instance_of(&check.url)),
        ("target".to_string(), t.name.clone()),
        ("check".to_string(), check.name.clone()),
    ];
    for (k, v) in &t.labels {
        labels.retain(|(n, _)| n != k);
        labels.push((k.clone(), v.clone()));
    }
    labels
}

type Ctx = (reqwest::Client, Arc<Store>, ScrapeMetrics);

trait Job: Send + 'static {
    fn run(&mut self, ctx: &Ctx) -> impl std::future::Future<Output = ()> + Send;
}

async fn run_every(
    offset: Duration,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut job: impl Job,
    ctx: Ctx,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = crate::shutdown::stopped(&mut shutdown) => break,
        }
        tokio::select! {
            () = job.run(&ctx) => {}
            () = crate::shutdown::stopped(&mut shutdown) => break,
        }
    }
}

struct MetricsJob {
    state: Arc<TargetState>,
    url: String,
    limit: u64,
    timeout: Duration,
    scraper: MetricsScraper,
    interval_ms: i64,
    /// Timestamp given to the previous scrape's samples.
    last_t_ms: Option<i64>,
}

/// How far a scrape may start from exactly one interval after the previous one and still get
/// that exact timestamp (as Prometheus' `--scrape.timestamp-tolerance`, there 2 ms).
const TIMESTAMP_TOLERANCE_MS: i64 = 25;

/// The timestamp for a scrape starting at `now`: the previous one plus the interval when `now`
/// is within [`TIMESTAMP_TOLERANCE_MS`] of it, else `now`. Regular timestamps have a zero
/// delta-of-delta, which the chunks store in one bit instead of 16 or more.
fn aligned(prev: Option<i64>, now: i64, interval_ms: i64) -> i64 {
    match prev {
        Some(p) if (now - (p + interval_ms)).abs() <= TIMESTAMP_TOLERANCE_MS => p + interval_ms,
        _ => now,
    }
}

/// Parses a scrape's body while it arrives (the format from its `Content-Type`).
struct ScrapeSink<'a> {
    scraper: &'a mut MetricsScraper,
    store: &'a Store,
    t_ms: i64,
    ingest: Option<Ingest>,
}

impl BodySink for ScrapeSink<'_> {
    type Error = ScrapeError;

    fn start(&mut self, content_type: Option<&str>) {
        self.ingest = Some(self.scraper.begin(self.store, Format::from_content_type(content_type), self.t_ms));
    }

    fn piece(&mut self, bytes: &[u8]) -> Result<(), ScrapeError> {
        let ingest = self.ingest.get_or_insert_with(|| self.scraper.begin(self.store, Format::Text, self.t_ms));
        self.scraper.feed(self.store, ingest, bytes)
    }
}

impl ScrapeSink<'_> {
    /// Gives up a scrape whose body failed: the series it created go again.
    fn abort(self) {
        if let Some(ingest) = self.ingest {
            self.scraper.abort(self.store, ingest);
        }
    }

    /// Appends the scrape once its whole body was read (an empty one if no body came).
    fn finish(self) -> Result<IngestReport, ScrapeError> {
        let ScrapeSink { scraper, store, t_ms, ingest } = self;
        let ingest = ingest.unwrap_or_else(|| scraper.begin(store, Format::Text, t_ms));
        scraper.finish(store, ingest)
    }
}

impl Job for MetricsJob {
    async fn run(&mut self, (client, store, m): &Ctx) {
        let started = Instant::now();
        let t = Utc::now();
        let t_ms = aligned(self.last_t_ms, t.timestamp_millis(), self.interval_ms);
        self.last_t_ms = Some(t_ms);
        let mut sink = ScrapeSink { scraper: &mut self.scraper, store, t_ms, ingest: None };
        let get = Get { url: &self.url, accept: ACCEPT, timeout: self.timeout, limit: self.limit };
        let result = match fetch_to(client, get, |s| s == 200, &mut sink).await {
            Ok(_) => sink.finish(),
            Err(e) => {
                sink.abort();
                Err(e)
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let name = self.state.name.as_str();
        m.scrapes.with_label_values(&[name]).inc();
        m.duration.with_label_values(&[name]).observe(duration);
        let (report, status) = match result {
            Ok(r) => (r, ScrapeStatus { health: Health::Up, last_samples: r.post_relabel, ..Default::default() }),
            Err(e) => {
                m.failures.with_label_values(&[name]).inc();
                self.scraper.fail(store, t_ms);
                tracing::warn!(target_name = name, url = %self.url, error = %e, "scrape failed");
                (
                    IngestReport::default(),
                    ScrapeStatus { health: Health::Down, last_error: e.to_string(), ..Default::default() },
                )
            }
        };
        self.scraper.report(store, t_ms, status.health == Health::Up, duration, &report);
        if let Some(meta) = self.scraper.changed_metadata() {
            *self.state.metadata.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(meta);
        }
        let mut s = self.state.scrape.lock().unwrap_or_else(|e| e.into_inner());
        *s = ScrapeStatus { last_scrape: Some(t), last_scrape_duration: duration, ..status };
    }
}

struct ProbeJob {
    state: Arc<TargetState>,
    index: usize,
    check: HealthCheckConfig,
    timeout: Duration,
    /// See [`probe_labels`].
    labels: Vec<(String, String)>,
}

impl Job for ProbeJob {
    async fn run(&mut self, (client, store, m): &Ctx) {
        let t = Utc::now();
        let out = probe(client, &self.check, self.timeout).await;
        let (target, check) = (self.state.name.as_str(), self.check.name.as_str());
        m.probes.with_label_values(&[target, check]).inc();
        if !out.success {
            m.probe_failures.with_label_values(&[target, check]).inc();
            tracing::warn!(target_name = target, check, error = %out.error, "health check failed");
        }
        let labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let values = [
            ("probe_success", if out.success { 1.0 } else { 0.0 }),
            ("probe_http_status_code", f64::from(out.status.unwrap_or(0))),
            ("probe_duration_seconds", out.duration),
        ];
        store.append_named(&labels, t.timestamp_millis(), &values);
        let mut s = self.state.checks[self.index].lock().unwrap_or_else(|e| e.into_inner());
        s.health = if out.success { Health::Up } else { Health::Down };
        s.last_status = out.status;
        s.last_error = out.error;
        s.last_probe = Some(t);
        s.last_probe_duration = out.duration;
    }
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn scrape_timestamps_snap_to_the_interval_within_the_tolerance() {
        assert_eq!(aligned(None, 1_000_007, 15_000), 1_000_007, "the first scrape keeps its time");
        assert_eq!(aligned(Some(1_000_000), 1_015_009, 15_000), 1_015_000);
        assert_eq!(aligned(Some(1_000_000), 1_014_980, 15_000), 1_015_000, "early within the tolerance");
        assert_eq!(aligned(Some(1_000_000), 1_015_026, 15_000), 1_015_026, "late beyond it");
        assert_eq!(aligned(Some(1_000_000), 1_030_000, 15_000), 1_030_000, "a skipped tick");
    }
}
