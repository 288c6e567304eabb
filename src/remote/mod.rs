//! *Remote write*: every sample appended to the store (scraped, synthetic `up`/`probe_*`,
//! recording-rule outputs) goes to each `[[remote_write]]` receiver in Prometheus'
//! remote-write 1.0 protocol (protobuf, snappy block compression, `POST`). A *shard* is one
//! bounded queue and one sender; a series always goes through the same shard, so its samples
//! arrive in order. A full queue drops its oldest samples (counted), so memory stays bounded
//! while the receiver is down. 5xx, 429 and network errors are retried with backoff (a
//! `Retry-After` wins); other 4xx drop the batch (counted).

pub(crate) mod config;
mod proto;
mod send;

pub(crate) use send::Shard;

use crate::store::{Store, Tap};
use config::RemoteWriteConfig;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use std::sync::Arc;
use tokio::sync::watch;

/// Remote-write self metrics.
#[derive(Clone, Debug)]
pub(crate) struct RemoteMetrics {
    /// Samples by remote and outcome (`sent`, `failed`, `dropped`).
    pub(crate) samples: IntCounterVec,
    /// Samples waiting, by remote.
    pub(crate) queued: IntGaugeVec,
    /// Seconds between the newest sample sent and its send, by remote.
    pub(crate) lag_ms: IntGaugeVec,
}

impl RemoteMetrics {
    fn register(r: &Registry) -> RemoteMetrics {
        let samples = IntCounterVec::new(
            Opts::new(
                "sidewatch_remote_write_samples_total",
                "Samples for remote write, by remote and outcome (sent, failed, dropped).",
            ),
            &["remote", "outcome"],
        )
        .expect("metric");
        let queued = IntGaugeVec::new(
            Opts::new("sidewatch_remote_write_queue_samples", "Samples waiting to be sent, by remote and shard."),
            &["remote", "shard"],
        )
        .expect("metric");
        let lag_ms = IntGaugeVec::new(
            Opts::new(
                "sidewatch_remote_write_lag_milliseconds",
                "How old the newest sample was when it was sent, by remote.",
            ),
            &["remote"],
        )
        .expect("metric");
        for m in [
            Box::new(samples.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(queued.clone()),
            Box::new(lag_ms.clone()),
        ] {
            let _ = r.register(m);
        }
        RemoteMetrics { samples, queued, lag_ms }
    }
}

/// The shards of every remote, fed by the store's tap.
#[derive(Debug)]
pub(crate) struct Fanout {
    shards: Vec<Arc<Shard>>,
    per_remote: Vec<usize>,
}

impl Tap for Fanout {
    fn appended(&self, samples: &[(u32, i64, f64)]) {
        let mut first = 0;
        for &n in &self.per_remote {
            let shards = &self.shards[first..first + n];
            if n == 1 {
                shards[0].push(samples.iter().copied());
            } else {
                for (i, s) in shards.iter().enumerate() {
                    s.push(samples.iter().copied().filter(|(id, _, _)| *id as usize % n == i));
                }
            }
            first += n;
        }
    }
}

/// Sets up remote write for `remotes` on `store` (a tap feeding one queue per shard); returns
/// the shards, whose senders [`start`] runs. None when there are no remotes.
pub(crate) fn build(
    remotes: &[RemoteWriteConfig],
    external: &std::collections::BTreeMap<String, String>,
    store: &Arc<Store>,
    registry: &Registry,
) -> Result<Vec<Arc<Shard>>, String> {
    if remotes.is_empty() {
        return Ok(Vec::new());
    }
    let metrics = RemoteMetrics::register(registry);
    let mut shards = Vec::new();
    let mut per_remote = Vec::new();
    for (i, r) in remotes.iter().enumerate() {
        let n = r.queue_config.max_shards.max(1);
        let built = send::Sender::build(r, external, metrics.clone()).map_err(|e| format!("remote_write.{i}: {e}"))?;
        let sender = Arc::new(built);
        for k in 0..n {
            shards.push(Arc::new(Shard::new(sender.clone(), store.clone(), k)));
        }
        per_remote.push(n);
    }
    store.set_tap(Arc::new(Fanout { shards: shards.clone(), per_remote }));
    Ok(shards)
}

/// Runs every shard's sender until `stop`.
pub(crate) fn start(shards: &[Arc<Shard>], stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    shards.iter().map(|s| tokio::spawn(s.clone().run(stop.clone()))).collect()
}

/// For `benches/remote_write.rs`: encodes and sends `series` × `per_series` samples (one per
/// series per round, a round a second apart) from a filled queue to `url` with the default
/// queue settings, one shard; returns the samples sent and the seconds it took.
#[doc(hidden)]
pub async fn measure_send(url: &str, series: u32, per_series: u32) -> (u64, f64) {
    let cfg: RemoteWriteConfig = toml::from_str(&format!(
        "url = \"{url}\"\nqueue_config = {{ capacity = {}, max_shards = 1 }}\n",
        (series as usize * per_series as usize).max(2_000)
    ))
    .expect("bench config");
    let store = Arc::new(Store::new(series as usize + 10, 3_600_000));
    let registry = Registry::new();
    let sender =
        Arc::new(send::Sender::build(&cfg, &Default::default(), RemoteMetrics::register(&registry)).expect("sender"));
    let shard = Shard::new(sender, store.clone(), 0);
    let ids: Vec<u32> = (0..series)
        .map(|i| {
            let name = format!("bench_metric_{}", i % 100);
            let inst = format!("host-{i}");
            store
                .get_or_create([("__name__", name.as_str()), ("instance", inst.as_str()), ("job", "bench")])
                .expect("series")
        })
        .collect();
    let t0 = 1_700_000_000_000i64;
    for r in 0..per_series as i64 {
        shard.push(ids.iter().map(|id| (*id, t0 + r * 1000, r as f64)));
    }
    let (_tx, mut rx) = watch::channel(false);
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    loop {
        let batch = shard.take();
        if batch.is_empty() {
            break;
        }
        let (body, n) = shard.encode(&batch);
        shard.sender.send(body, n, &mut rx).await;
        sent += n as u64;
    }
    (sent, started.elapsed().as_secs_f64())
}
