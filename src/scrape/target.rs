//! A *metrics scraper*: one target's `/metrics`, fetched, parsed and appended every interval.
//! Series are resolved once per raw series text (labels merged with the target's, relabeled,
//! interned) and cached, so a steady-state scrape does no per-sample allocation. Series that
//! vanish from a successful scrape, or every series of a failed one, get a staleness marker.
//! Each scrape also writes `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`.

use super::client::FetchError;
use super::parse::{Entry, Format, ParseError, Parser};
use super::relabel::{self, Rule};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Why one scrape failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("invalid exposition: {0}")]
    Parse(#[from] ParseError),
    #[error("the body is not valid UTF-8 (byte {0})")]
    Utf8(usize),
    #[error("sample_limit exceeded: {got} samples after relabeling, the limit is {limit}")]
    SampleLimit { got: usize, limit: usize },
    #[error("{series}: {error}")]
    Series { series: String, error: StoreError },
    #[error("label name {0:?} is not unique in one series")]
    DuplicateLabel(String),
}

/// Counts from one successful ingest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Samples in the body.
    pub scraped: usize,
    /// Samples kept after relabeling.
    pub post_relabel: usize,
    /// Series seen for the first time.
    pub added: usize,
    /// Series marked stale because they vanished.
    pub stale: usize,
    /// Samples the store refused (out of order, duplicate).
    pub rejected: usize,
}

/// Per-target scrape state.
pub struct MetricsScraper {
    /// `job`, `instance` and the target's extra labels.
    target_labels: Vec<(String, String)>,
    honor_labels: bool,
    sample_limit: usize,
    rules: Vec<Rule>,
    /// 128-bit hash of the raw series text → store id, or [`DROPPED`] when relabeling dropped
    /// it. Keeping the hash instead of the text saves ~80 bytes and a pointer chase per series;
    /// two independent 64-bit hashes make a collision (2^-128 per pair) a non-event. Keys are
    /// four `u32`s and ids plain `u32`s, so an entry takes 20 bytes (a `u128` key, aligned to
    /// 16, and an `Option<u32>` took 32).
    cache: HashMap<SeriesKey, u32, BuildHasherDefault<KeyIsHash>>,
    cache_generation: u64,
    /// (key, id) of each sample of the last scrape, in body order.
    order: Vec<(SeriesKey, u32)>,
    /// Ids written by the last successful scrape (sorted), for staleness.
    prev: Vec<u32>,
    /// Samples in the last scrape: the next scrape's batch is allocated at this size (and
    /// dropped after its append: 2.4 MB at 100k samples, not kept resident between scrapes).
    batch_hint: usize,
    current: Vec<u32>,
}

impl MetricsScraper {
    pub fn new(
        target_labels: Vec<(String, String)>,
        honor_labels: bool,
        sample_limit: usize,
        rules: Vec<Rule>,
    ) -> Self {
        MetricsScraper {
            target_labels,
            honor_labels,
            sample_limit,
            rules,
            cache: HashMap::default(),
            cache_generation: 0,
            order: Vec::new(),
            prev: Vec::new(),
            batch_hint: 0,
            current: Vec::new(),
        }
    }

    /// Builds the stored label set of a new series; `None` when relabeling drops it.
    fn resolve(
        &self,
        store: &Store,
        name: &str,
        scraped: super::parse::LabelIter<'_>,
    ) -> Result<Option<u32>, ScrapeError> {
        let mut labels: Vec<(String, String)> = Vec::with_capacity(8);
        labels.push(("__name__".into(), name.into()));
        for (k, v) in scraped {
            if labels.iter().any(|(n, _)| n == k) {
                return Err(ScrapeError::DuplicateLabel(k.to_string()));
            }
            labels.push((k.to_string(), v.into_owned()));
        }
        for (k, v) in &self.target_labels {
            match labels.iter().position(|(n, _)| n == k) {
                Some(_) if self.honor_labels => {}
                Some(i) => {
                    // Rename the scraped label to exported_<name> (again, while taken).
                    let mut new = format!("exported_{k}");
                    while labels.iter().any(|(n, _)| *n == new) {
                        new = format!("exported_{new}");
                    }
                    labels[i].0 = new;
                    labels.push((k.clone(), v.clone()));
                }
                None => labels.push((k.clone(), v.clone())),
            }
        }
        if !relabel::apply(&self.rules, &mut labels) {
            return Ok(None);
        }
        store
            .get_or_create(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(Some)
            .map_err(|error| ScrapeError::Series { series: format_series(&labels), error })
    }

    /// Parses `body` and appends its samples at `t` (ms) unless they carry their own
    /// timestamps. On error nothing of this scrape is appended.
    pub fn ingest(&mut self, store: &Store, body: &[u8], format: Format, t: i64) -> Result<IngestReport, ScrapeError> {
        let text = std::str::from_utf8(body).map_err(|e| ScrapeError::Utf8(e.valid_up_to()))?;
        if store.generation() != self.cache_generation {
            // Series were garbage-collected: cached ids may be gone.
            self.cache.clear();
            self.order.clear();
            self.cache_generation = store.generation();
        }
        let mut report = IngestReport::default();
        let mut batch = Vec::with_capacity(self.batch_hint);
        // Series that carry their own timestamps get no staleness markers (as in Prometheus).
        self.current.clear();
        for entry in Parser::new(text, format) {
            let Entry::Sample(s) = entry? else { continue };
            report.scraped += 1;
            let key = series_key(s.series);
            // Expositions list series in the same order every scrape: try the entry at the
            // same position last time before probing the map (sequential, cache-friendly).
            let pos = report.scraped - 1;
            let predicted = self.order.get(pos).filter(|(k, _)| *k == key).map(|(_, id)| *id);
            let id = match predicted.or_else(|| self.cache.get(&key).copied()) {
                Some(id) => id,
                None => {
                    let id = self.resolve(store, s.name, s.labels())?;
                    report.added += usize::from(id.is_some());
                    let id = id.unwrap_or(DROPPED);
                    self.cache.insert(key, id);
                    id
                }
            };
            if pos < self.order.len() {
                self.order[pos] = (key, id);
            } else {
                self.order.push((key, id));
            }
            if id != DROPPED {
                batch.push((id, s.timestamp_ms.unwrap_or(t), s.value));
                if s.timestamp_ms.is_none() {
                    self.current.push(id);
                }
            }
        }
        self.order.truncate(report.scraped);
        report.post_relabel = batch.len();
        if self.sample_limit > 0 && batch.len() > self.sample_limit {
            return Err(ScrapeError::SampleLimit { got: batch.len(), limit: self.sample_limit });
        }
        report.rejected = store.append_batch(&batch).rejected;
        self.batch_hint = batch.len();
        self.current.sort_unstable();
        self.current.dedup();
        let vanished = difference(&self.prev, &self.current);
        report.stale = store.mark_stale(vanished, t);
        std::mem::swap(&mut self.prev, &mut self.current);
        Ok(report)
    }

    /// After a failed scrape: every series of the last good scrape goes stale at `t`.
    pub(crate) fn fail(&mut self, store: &Store, t: i64) -> usize {
        let n = store.mark_stale(self.prev.iter().copied(), t);
        self.prev.clear();
        n
    }

    /// Writes the synthetic series of one scrape.
    pub(crate) fn report(&self, store: &Store, t: i64, up: bool, duration_s: f64, r: &IngestReport) {
        let values = [
            ("up", if up { 1.0 } else { 0.0 }),
            ("scrape_duration_seconds", duration_s),
            ("scrape_samples_scraped", r.scraped as f64),
            ("scrape_samples_post_metric_relabeling", r.post_relabel as f64),
            ("scrape_series_added", r.added as f64),
        ];
        let labels: Vec<(&str, &str)> = self.target_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        store.append_named(&labels, t, &values);
    }
}

/// The cached id of a series that relabeling dropped.
const DROPPED: u32 = u32::MAX;

/// Two fixed-seed 64-bit hashes of a series text, as four `u32`s (4-byte aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeriesKey([u32; 4]);

impl std::hash::Hash for SeriesKey {
    /// The key already is a hash: its low 64 bits are handed on as they are.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

fn series_key(text: &str) -> SeriesKey {
    use std::hash::BuildHasher;
    static A: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x5157_4154_4348_0001);
    static B: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);
    let (a, b) = (A.hash_one(text), B.hash_one(text));
    SeriesKey([b as u32, (b >> 32) as u32, a as u32, (a >> 32) as u32])
}

/// A hasher for keys that already are good hashes: it passes a `u64` through.
#[derive(Default)]
pub(crate) struct KeyIsHash(u64);

impl std::hash::Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    /// Only [`SeriesKey`]s are hashed here; other input is folded in byte by byte.
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |h, b| h.rotate_left(8) ^ u64::from(*b));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Elements of sorted `a` not in sorted `b`.
fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

fn format_series(labels: &[(String, String)]) -> String {
    crate::store::Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Matcher, is_stale};

    fn scraper() -> MetricsScraper {
        MetricsScraper::new(
            vec![("job".into(), "api".into()), ("instance".into(), "h:1".into()), ("env".into(), "prod".into())],
            false,
            0,
            vec![],
        )
    }

    fn series(store: &Store, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
        let mut v: Vec<_> = store
            .query(&[Matcher::eq("__name__", name)], 0, i64::MAX)
            .into_iter()
            .map(|(l, s)| (l.to_string(), s))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn labels_are_merged_with_exported_prefix_and_cached() {
        let store = Store::new(100, 3_600_000);
        let mut s = scraper();
        let body = b"m{job=\"inner\",code=\"200\"} 1\nm{code=\"500\"} 2\n";
        let r = s.ingest(&store, body, Format::Text, 1000).unwrap();
        assert_eq!((r.scraped, r.added, r.post_relabel), (2, 2, 2));
        let got = series(&store, "m");
        assert_eq!(got[0].0, "m{code=\"200\", env=\"prod\", exported_job=\"inner\", instance=\"h:1\", job=\"api\"}");
        let r = s.ingest(&store, body, Format::Text, 2000).unwrap();
        assert_eq!(r.added, 0, "second scrape hits the cache");
        let mut honor = MetricsScraper::new(vec![("job".into(), "api".into())], true, 0, vec![]);
        honor.ingest(&store, b"n{job=\"inner\"} 1\n", Format::Text, 1000).unwrap();
        assert_eq!(series(&store, "n")[0].0, "n{job=\"inner\"}");
    }

    #[test]
    fn series_with_their_own_timestamps_are_not_marked_stale() {
        let store = Store::new(100, 3_600_000);
        let mut s = scraper();
        s.ingest(&store, b"a 1\nt 5 900\n", Format::Text, 1000).unwrap();
        let r = s.ingest(&store, b"a 2\n", Format::Text, 2000).unwrap();
        assert_eq!(r.stale, 0);
        assert_eq!(series(&store, "t")[0].1, vec![(900, 5.0)]);
    }

    #[test]
    fn a_reordered_body_still_finds_each_series() {
        let store = Store::new(100, 3_600_000);
        let mut s = scraper();
        s.ingest(&store, b"a 1\nb 2\n", Format::Text, 1000).unwrap();
        let r = s.ingest(&store, b"b 20\nc 30\na 10\n", Format::Text, 2000).unwrap();
        assert_eq!((r.added, r.stale), (1, 0));
        assert_eq!(series(&store, "a")[0].1, vec![(1000, 1.0), (2000, 10.0)]);
        assert_eq!(series(&store, "b")[0].1, vec![(1000, 2.0), (2000, 20.0)]);
        assert_eq!(series(&store, "c")[0].1, vec![(2000, 30.0)]);
    }

    #[test]
    fn vanished_series_and_failed_scrapes_go_stale() {
        let store = Store::new(100, 3_600_000);
        let mut s = scraper();
        s.ingest(&store, b"a 1\nb 1\n", Format::Text, 1000).unwrap();
        let r = s.ingest(&store, b"a 2\n", Format::Text, 2000).unwrap();
        assert_eq!(r.stale, 1);
        assert!(is_stale(series(&store, "b")[0].1[1].1));
        assert_eq!(s.fail(&store, 3000), 1);
        assert!(is_stale(series(&store, "a")[0].1[2].1));
        // A bad body fails as a whole and appends nothing.
        let err = s.ingest(&store, b"a 5\nbroken{ 1\n", Format::Text, 4000).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_eq!(series(&store, "a")[0].1.len(), 3);
    }

    #[test]
    fn limits_and_relabeling() {
        let store = Store::new(3, 3_600_000);
        let mut s = MetricsScraper::new(vec![], false, 2, vec![]);
        let err = s.ingest(&store, b"a 1\nb 1\nc 1\n", Format::Text, 1).unwrap_err();
        assert_eq!(err, ScrapeError::SampleLimit { got: 3, limit: 2 });
        let mut s = MetricsScraper::new(vec![], false, 0, vec![]);
        let err = s.ingest(&store, b"x 1\ny 1\nz 1\nw 1\n", Format::Text, 1).unwrap_err();
        assert!(err.to_string().contains("series limit reached"), "{err}");
        let keep = Rule::compile(&crate::config::RelabelConfig {
            action: crate::config::RelabelAction::Drop,
            source_labels: vec!["__name__".into()],
            regex: "go_.*".into(),
            ..Default::default()
        })
        .unwrap();
        let store = Store::new(100, 3_600_000);
        let mut s = MetricsScraper::new(vec![], false, 0, vec![keep]);
        let r = s.ingest(&store, b"go_x 1\nhttp 2\n", Format::Text, 1).unwrap();
        assert_eq!((r.scraped, r.post_relabel), (2, 1));
        let err =
            MetricsScraper::new(vec![], false, 0, vec![]).ingest(&store, b"d{a=\"1\",a=\"2\"} 1\n", Format::Text, 1);
        assert_eq!(err.unwrap_err(), ScrapeError::DuplicateLabel("a".into()));
        assert!(matches!(s.ingest(&store, &[0xff, 0xfe], Format::Text, 2), Err(ScrapeError::Utf8(0))));
    }
}
