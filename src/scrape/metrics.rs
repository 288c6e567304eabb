//! The scrape stage's *self metrics*: scrapes and failures per target, scrape duration, probe
//! outcomes, and the store's size (series, samples, chunk bytes, index bytes).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// Counters and gauges the scrape loops update.
#[derive(Clone, Debug)]
pub(crate) struct ScrapeMetrics {
    pub(crate) scrapes: IntCounterVec,
    pub(crate) failures: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) probes: IntCounterVec,
    pub(crate) probe_failures: IntCounterVec,
    pub(crate) store_series: IntGauge,
    pub(crate) store_samples: IntGauge,
    pub(crate) store_chunk_bytes: IntGauge,
    pub(crate) store_index_bytes: IntGauge,
    pub(crate) store_file_chunk_bytes: IntGauge,
    pub(crate) store_max_series: IntGauge,
}

impl ScrapeMetrics {
    /// Creates and registers the metrics in `registry`.
    pub(crate) fn register(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "sidewatch_scrape_duration_seconds",
                "Duration of scrapes (fetch, parse, append), by target.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["target"],
        )
        .expect("valid metric");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        ScrapeMetrics {
            scrapes: counter("sidewatch_scrapes_total", "Scrapes attempted, by target.", &["target"]),
            failures: counter("sidewatch_scrape_failures_total", "Scrapes that failed, by target.", &["target"]),
            duration,
            probes: counter("sidewatch_probes_total", "Health probes run, by target and check.", &["target", "check"]),
            probe_failures: counter(
                "sidewatch_probe_failures_total",
                "Health probes that failed, by target and check.",
                &["target", "check"],
            ),
            store_series: gauge("sidewatch_store_series", "Series held in the in-memory store."),
            store_samples: gauge("sidewatch_store_samples", "Samples held in the in-memory store."),
            store_chunk_bytes: gauge(
                "sidewatch_store_chunk_bytes",
                "Bytes of compressed sample chunks held in memory.",
            ),
            store_file_chunk_bytes: gauge(
                "sidewatch_store_file_chunk_bytes",
                "Bytes of sealed chunks kept in memory-mapped chunk files (store.sealed_chunks = \"files\").",
            ),
            store_index_bytes: gauge(
                "sidewatch_store_index_bytes",
                "Estimated bytes of the series index and label strings.",
            ),
            store_max_series: gauge("sidewatch_store_max_series", "The configured series cap (store.max_series)."),
        }
    }

    /// Refreshes the store gauges.
    pub(crate) fn observe_store(&self, store: &crate::store::Store) {
        let st = store.stats();
        self.store_series.set(st.series as i64);
        self.store_samples.set(st.samples as i64);
        self.store_chunk_bytes.set(st.chunk_bytes as i64);
        self.store_index_bytes.set(st.index_bytes as i64);
        self.store_file_chunk_bytes.set(st.file_bytes as i64);
        self.store_max_series.set(store.max_series() as i64);
    }
}
