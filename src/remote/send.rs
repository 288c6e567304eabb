//! A *sender* (one per remote: its HTTP client, headers, relabeling, retries) and its
//! *shards* (a bounded queue each, drained by one task into requests).

use super::RemoteMetrics;
use super::config::RemoteWriteConfig;
use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::scrape::relabel::{Rule, apply};
use crate::store::Store;
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What sends one remote's requests.
#[derive(Debug)]
pub(crate) struct Sender {
    name: String,
    url: String,
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    relabel: Vec<Rule>,
    external: Vec<(String, String)>,
    capacity: usize,
    per_send: usize,
    deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    metrics: RemoteMetrics,
}

impl Sender {
    /// A sender for `cfg` (checked when the configuration loaded).
    pub(super) fn build(
        cfg: &RemoteWriteConfig,
        external: &BTreeMap<String, String>,
        metrics: RemoteMetrics,
    ) -> Result<Sender, String> {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let url = cfg.url.expose().to_string();
        let name = if cfg.name.is_empty() {
            reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(String::from))
                .unwrap_or_else(|| "remote".into())
        } else {
            cfg.name.clone()
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let k = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("headers: {k:?}: {e}"))?;
            let mut v = HeaderValue::from_str(v.expose()).map_err(|_| format!("headers: {k}: not a header value"))?;
            v.set_sensitive(true);
            headers.insert(k, v);
        }
        let client = crate::scrape::auth::apply(
            reqwest::Client::builder().timeout(cfg.remote_timeout.get()),
            cfg.authorization.as_ref(),
            cfg.basic_auth.as_ref(),
            cfg.tls_config.as_ref(),
        )?;
        let relabel = cfg
            .write_relabel_configs
            .iter()
            .map(Rule::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let q = &cfg.queue_config;
        Ok(Sender {
            name,
            url,
            client: client.build().map_err(|e| format!("HTTP client: {e}"))?,
            headers,
            relabel,
            external: external.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            capacity: q.capacity.max(1),
            per_send: q.max_samples_per_send.max(1),
            deadline: q.batch_send_deadline.get(),
            min_backoff: q.min_backoff.get(),
            max_backoff: q.max_backoff.get(),
            metrics,
        })
    }

    fn count(&self, outcome: &str, n: usize) {
        self.metrics.samples.with_label_values(&[&self.name, outcome]).inc_by(n as u64);
    }

    /// Sends one encoded request until it is accepted, refused for good, or `stop`.
    pub(super) async fn send(&self, body: Vec<u8>, samples: usize, stop: &mut watch::Receiver<bool>) {
        let mut backoff = self.min_backoff;
        loop {
            let req = self
                .client
                .post(&self.url)
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                .header(reqwest::header::CONTENT_ENCODING, "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .header(reqwest::header::USER_AGENT, concat!("sidewatch/", env!("CARGO_PKG_VERSION")))
                .body(body.clone());
            let wait = match req.send().await {
                Ok(r) if r.status().is_success() => return self.count("sent", samples),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    tracing::debug!(remote = %self.name, status = r.status().as_u16(), "remote write: retrying");
                    after.unwrap_or(backoff)
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text: String = r.text().await.unwrap_or_default().chars().take(200).collect();
                    tracing::warn!(remote = %self.name, status, error = %text, samples, "remote write refused a batch; dropped");
                    return self.count("failed", samples);
                }
                Err(e) => {
                    tracing::debug!(remote = %self.name, error = %e.without_url(), "remote write: retrying");
                    backoff
                }
            };
            backoff = (backoff * 2).min(self.max_backoff);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// One bounded queue and the task that drains it.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(super) sender: Arc<Sender>,
    store: Arc<Store>,
    queue: Mutex<VecDeque<(u32, i64, f64)>>,
    ready: Notify,
    index: String,
}

impl Shard {
    pub(super) fn new(sender: Arc<Sender>, store: Arc<Store>, index: usize) -> Shard {
        Shard { sender, store, queue: Mutex::new(VecDeque::new()), ready: Notify::new(), index: index.to_string() }
    }

    fn gauge(&self, len: usize) {
        self.sender.metrics.queued.with_label_values(&[&self.sender.name, &self.index]).set(len as i64);
    }

    /// Queues samples, dropping the oldest past the capacity.
    pub(super) fn push(&self, samples: impl Iterator<Item = (u32, i64, f64)>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut dropped = 0;
        for s in samples {
            if q.len() >= self.sender.capacity {
                q.pop_front();
                dropped += 1;
            }
            q.push_back(s);
        }
        let (len, full) = (q.len(), q.len() >= self.sender.per_send);
        drop(q);
        self.gauge(len);
        if dropped > 0 {
            self.sender.count("dropped", dropped);
        }
        if full {
            self.ready.notify_one();
        }
    }

    pub(super) fn take(&self) -> Vec<(u32, i64, f64)> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(self.sender.per_send);
        q.drain(..n).collect()
    }

    fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The request for `batch`: its series' labels (external labels added where missing,
    /// relabeling applied), samples grouped per series in order. Returns it encoded and
    /// compressed, with the number of samples it holds.
    pub(crate) fn encode(&self, batch: &[(u32, i64, f64)]) -> (Vec<u8>, usize) {
        let mut series: BTreeMap<u32, Option<TimeSeries>> = BTreeMap::new();
        let mut count = 0;
        for &(id, t, v) in batch {
            let entry = series.entry(id).or_insert_with(|| {
                let labels = self.store.labels(id)?;
                let mut pairs: Vec<(String, String)> =
                    labels.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                for (k, v) in &self.sender.external {
                    if !pairs.iter().any(|(n, _)| n == k) {
                        pairs.push((k.clone(), v.clone()));
                    }
                }
                if !apply(&self.sender.relabel, &mut pairs) {
                    return None;
                }
                pairs.sort();
                Some(TimeSeries {
                    labels: pairs.into_iter().map(|(name, value)| Label { name, value }).collect(),
                    samples: Vec::new(),
                })
            });
            if let Some(ts) = entry {
                ts.samples.push(Sample { value: v, timestamp: t });
                count += 1;
            }
        }
        let req = WriteRequest { timeseries: series.into_values().flatten().collect() };
        let raw = req.encode_to_vec();
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
        (body, count)
    }

    /// Drains the queue into requests until `stop`: a request when `max_samples_per_send`
    /// are waiting, or every `batch_send_deadline` for what there is.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let s = &self.sender;
        loop {
            if self.len() < s.per_send {
                tokio::select! {
                    () = self.ready.notified() => {}
                    () = tokio::time::sleep(s.deadline) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
            }
            let batch = self.take();
            self.gauge(self.len());
            if batch.is_empty() {
                continue;
            }
            let newest = batch.iter().map(|b| b.1).max().unwrap_or_default();
            let (body, n) = self.encode(&batch);
            if batch.len() > n {
                s.count("dropped", batch.len() - n); // relabeled away (or series gone)
            }
            if n > 0 {
                s.send(body, n, &mut stop).await;
                s.metrics.lag_ms.with_label_values(&[&s.name]).set(chrono::Utc::now().timestamp_millis() - newest);
            }
        }
    }
}
