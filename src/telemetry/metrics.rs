//! *Self metrics*: the Prometheus series sidewatch exposes about itself on `/metrics` (names
//! prefixed `sidewatch_`, plus the standard `process_*`). One registry per application
//! instance, so tests can run several side by side.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The registry and the metrics every stage updates.
#[derive(Clone)]
pub(crate) struct SelfMetrics {
    registry: Registry,
    started: Instant,
    uptime: Gauge,
    resident: Gauge,
    cpu: prometheus::Counter,
    fds: Gauge,
    /// HTTP requests served, by `route` (the matched path pattern), `method` and `status`.
    pub(crate) http_requests: IntCounterVec,
    /// HTTP request duration in seconds, by `route`.
    pub(crate) http_duration: HistogramVec,
    /// Failed storage operations, by `op`.
    pub(crate) storage_errors: IntCounterVec,
    hooks: Arc<Mutex<Vec<Hook>>>,
}

type Hook = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for SelfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfMetrics")
    }
}

impl SelfMetrics {
    /// Creates and registers every self metric. `backend` labels the build info.
    pub(crate) fn new(backend: &str) -> Self {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| registry.register(c).expect("self metric names are unique");
        let build = IntGaugeVec::new(
            Opts::new("sidewatch_build_info", "Always 1; labels carry the version and storage backend."),
            &["version", "storage"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), backend]).set(1);
        reg(Box::new(build));
        let start =
            Gauge::new("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.")
                .expect("valid metric");
        start.set(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default());
        reg(Box::new(start));
        let uptime =
            Gauge::new("sidewatch_uptime_seconds", "Seconds since this process started.").expect("valid metric");
        reg(Box::new(uptime.clone()));
        let resident =
            Gauge::new("process_resident_memory_bytes", "Resident memory size in bytes.").expect("valid metric");
        reg(Box::new(resident.clone()));
        // A counter, as Prometheus' process collector types it (Grafana and rate() go by the type).
        let cpu =
            prometheus::Counter::new("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
                .expect("valid metric");
        reg(Box::new(cpu.clone()));
        let fds = Gauge::new("process_open_fds", "Number of open file descriptors.").expect("valid metric");
        reg(Box::new(fds.clone()));
        let http_requests = IntCounterVec::new(
            Opts::new("sidewatch_http_requests_total", "HTTP requests served, by route, method and status."),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        reg(Box::new(http_requests.clone()));
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "sidewatch_http_request_duration_seconds",
                "HTTP request duration in seconds, by route.",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["route"],
        )
        .expect("valid metric");
        reg(Box::new(http_duration.clone()));
        let storage_errors = IntCounterVec::new(
            Opts::new("sidewatch_storage_errors_total", "Failed storage operations, by operation."),
            &["op"],
        )
        .expect("valid metric");
        reg(Box::new(storage_errors.clone()));
        SelfMetrics {
            registry,
            started: Instant::now(),
            uptime,
            resident,
            cpu,
            fds,
            http_requests,
            http_duration,
            storage_errors,
            hooks: Arc::default(),
        }
    }

    /// The registry, for stages that add their own metrics.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `hook` before every render, to refresh gauges that are read rather than counted.
    pub(crate) fn on_render(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(hook));
    }

    /// Every metric in the Prometheus text format 0.0.4, with point-in-time values refreshed.
    pub(crate) fn render(&self) -> String {
        for hook in self.hooks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            hook();
        }
        self.uptime.set(self.started.elapsed().as_secs_f64());
        if let Some(v) = super::process::resident_bytes() {
            self.resident.set(v);
        }
        if let Some(v) = super::process::cpu_seconds() {
            let delta = v - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
        }
        if let Some(v) = super::process::open_fds() {
            self.fds.set(v);
        }
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
