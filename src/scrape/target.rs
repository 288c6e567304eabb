//! A *metrics scraper*: one target's `/metrics`, fetched, parsed and appended every interval.
//! Series are resolved once per raw series text (labels merged with the target's, relabeled,
//! interned) and cached, so a steady-state scrape does no per-sample allocation. Series that
//! vanish from a successful scrape, or every series of a failed one, get a staleness marker.
//! Each scrape also writes `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`.

use super::client::FetchError;
use super::metadata::MetaMap;
use super::parse::{Entry, Format, ParseError, StreamError, StreamParser};
use super::relabel::{self, Rule};
use crate::store::{Store, StoreError};

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

impl From<StreamError> for ScrapeError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Utf8(at) => ScrapeError::Utf8(at),
            StreamError::Parse(e) => ScrapeError::Parse(e),
        }
    }
}

/// Counts from one successful ingest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Samples in the body.
    pub scraped: usize,
    /// Samples kept after relabeling.
    pub(crate) post_relabel: usize,
    /// Series seen for the first time.
    pub(crate) added: usize,
    /// Series marked stale because they vanished.
    pub(crate) stale: usize,
    /// Samples the store refused (out of order, duplicate).
    pub(crate) rejected: usize,
}

/// Per-target scrape state.
pub struct MetricsScraper {
    /// `job`, `instance` and the target's extra labels.
    target_labels: Vec<(String, String)>,
    honor_labels: bool,
    sample_limit: usize,
    rules: Vec<Rule>,
    /// The last successful scrape's series in body order: a 96-bit hash of each raw series
    /// text and its store id, or [`DROPPED`] when relabeling dropped it. Expositions list their
    /// series in the same order every scrape, so each sample is looked for at a cursor into
    /// this list (then a few entries on, past series that vanished) — no hash map: a map of the
    /// same entries took ~2.7 MB more at 100k series, and kept every series ever seen. An entry
    /// takes 16 bytes. A text is compared with at most a few entries, or found by binary search
    /// among one target's; with 96 bits a false match is ~2^-79 per lookup among 100k series
    /// (~2^-40 over a year of 100k samples every 5 s).
    order: Vec<(SeriesKey, u32)>,
    cache_generation: u64,
    /// Ids written by the last successful scrape (sorted), for staleness.
    prev: Vec<u32>,
    current: Vec<u32>,
    /// The families' `# TYPE`/`# HELP`/`# UNIT` (see [`super::metadata`]).
    meta: MetaMap,
    /// `meta` changed since [`MetricsScraper::changed_metadata`] last took it.
    meta_changed: bool,
    /// The buffer of [`IngestState::meta_seen`], kept between scrapes.
    meta_seen: Vec<u64>,
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
            order: Vec::new(),
            cache_generation: 0,
            prev: Vec::new(),
            current: Vec::new(),
            meta: MetaMap::new(),
            meta_changed: false,
            meta_seen: Vec::new(),
        }
    }

    /// A copy of the metadata when it changed since the last call.
    pub(crate) fn changed_metadata(&mut self) -> Option<MetaMap> {
        std::mem::take(&mut self.meta_changed).then(|| self.meta.clone())
    }

    /// Builds the stored label set of a new series; `None` when relabeling drops it.
    fn resolve(
        &self,
        store: &Store,
        name: &str,
        scraped: super::parse::LabelIter<'_>,
    ) -> Result<Option<(u32, bool)>, ScrapeError> {
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
            .get_or_create_new(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(Some)
            .map_err(|error| ScrapeError::Series { series: format_series(&labels), error })
    }

    /// Parses `body` and appends its samples at `t` (ms) unless they carry their own
    /// timestamps. On error nothing of this scrape is appended.
    pub fn ingest(&mut self, store: &Store, body: &[u8], format: Format, t: i64) -> Result<IngestReport, ScrapeError> {
        let mut ingest = self.begin(store, format, t);
        if let Err(e) = self.feed(store, &mut ingest, body) {
            self.abort(store, ingest);
            return Err(e);
        }
        self.finish(store, ingest)
    }

    /// Starts a scrape whose body is then [fed](Self::feed) piece by piece as it arrives.
    pub(crate) fn begin(&mut self, store: &Store, format: Format, t: i64) -> Ingest {
        if store.generation() != self.cache_generation {
            // Series were garbage-collected: cached ids may be gone.
            self.order = Vec::new();
            self.cache_generation = store.generation();
        }
        let mut current = std::mem::take(&mut self.current);
        current.clear();
        Ingest {
            parser: StreamParser::new(format).trusting(true),
            st: IngestState {
                t,
                report: IngestReport::default(),
                values: Vec::with_capacity(self.order.len() + self.order.len() / 64),
                own_times: Vec::new(),
                kept: 0,
                lookup: Lookup::default(),
                order: Vec::with_capacity(self.order.len() + self.order.len() / 64),
                current,
                created: Vec::new(),
                meta_changes: Vec::new(),
                meta_seen: std::mem::take(&mut self.meta_seen),
            },
        }
    }

    /// Parses the complete lines of the next piece of the body.
    pub(crate) fn feed(&mut self, store: &Store, ingest: &mut Ingest, piece: &[u8]) -> Result<(), ScrapeError> {
        let Ingest { parser, st } = ingest;
        parser.feed(piece, &mut |e| self.sample(store, st, e))
    }

    /// Gives up a scrape that failed: the series it created go again (they hold no sample:
    /// nothing of a scrape is appended before it is complete and valid).
    pub(crate) fn abort(&mut self, store: &Store, ingest: Ingest) {
        store.remove_unused(&ingest.st.created);
    }

    /// Parses the body's end, then appends the scrape and marks the series it lacks stale.
    /// On error nothing is appended and the series the scrape created are removed.
    pub(crate) fn finish(&mut self, store: &Store, ingest: Ingest) -> Result<IngestReport, ScrapeError> {
        let Ingest { mut parser, mut st } = ingest;
        if let Err(e) = parser.finish(&mut |e| self.sample(store, &mut st, e)) {
            store.remove_unused(&st.created);
            return Err(e);
        }
        let IngestState {
            t,
            mut report,
            values,
            own_times,
            kept,
            order,
            mut current,
            created,
            meta_changes,
            mut meta_seen,
            ..
        } = st;
        if super::metadata::apply(&mut self.meta, meta_changes)
            | super::metadata::forget_unseen(&mut self.meta, &mut meta_seen)
        {
            self.meta_changed = true;
        }
        meta_seen.clear();
        self.meta_seen = meta_seen;
        report.post_relabel = kept;
        if self.sample_limit > 0 && kept > self.sample_limit {
            self.order = order;
            store.remove_unused(&created);
            return Err(ScrapeError::SampleLimit { got: kept, limit: self.sample_limit });
        }
        self.order = Vec::new(); // the last scrape's, no longer needed: freed before the append
        // The samples: the ids in this scrape's order, beside their values, at the scrape's
        // time unless they carry their own.
        let mut own = own_times.iter().peekable();
        let samples = order.iter().zip(&values).enumerate().filter(|(_, ((_, id), _))| *id != DROPPED).map(
            |(i, (&(_, id), &v))| match own.next_if(|(j, _)| *j as usize == i) {
                Some(&(_, own_t)) => (id, own_t, v),
                None => (id, t, v),
            },
        );
        report.rejected = store.append_all(samples).rejected;
        drop(values);
        self.order = order;
        current.sort_unstable();
        current.dedup();
        let vanished = difference(&self.prev, &current);
        report.stale = store.mark_stale(vanished, t);
        self.current = std::mem::replace(&mut self.prev, current);
        Ok(report)
    }

    /// One parsed entry of a scrape being fed. An unchecked sample whose series text is one
    /// the last scrape had (so it was checked when first seen, byte for byte) is taken as it
    /// is; any other is checked in full first.
    fn sample(&self, store: &Store, st: &mut IngestState, entry: Entry<'_>) -> Result<(), ScrapeError> {
        let (key, id, t, value) = match entry {
            Entry::Unchecked(u) => {
                let key = series_key(u.series);
                match st.lookup.peek(&self.order, key) {
                    Some(id) => (key, id, u.timestamp_ms, u.value),
                    None => match u.check()? {
                        Some(s) => {
                            let key = if s.series.len() == u.series.len() { key } else { series_key(s.series) };
                            let id = self.find_or_resolve(store, st, key, &s)?;
                            (key, id, s.timestamp_ms, s.value)
                        }
                        None => return Ok(()),
                    },
                }
            }
            Entry::Sample(s) => {
                let key = series_key(s.series);
                let id = self.find_or_resolve(store, st, key, &s)?;
                (key, id, s.timestamp_ms, s.value)
            }
            meta => {
                st.meta_changes.extend(super::metadata::change(&self.meta, &meta));
                st.meta_seen.extend(super::metadata::family_hash(&meta));
                return Ok(());
            }
        };
        st.report.scraped += 1;
        st.order.push((key, id));
        if id != DROPPED {
            st.kept += 1;
            match t {
                Some(t) => st.own_times.push((st.values.len() as u32, t)),
                // Series that carry their own timestamps get no staleness markers (as in Prometheus).
                None => st.current.push(id),
            }
        }
        st.values.push(value);
        Ok(())
    }

    /// The id of a checked sample's series: from the last scrape, or resolved through the store.
    fn find_or_resolve(
        &self,
        store: &Store,
        st: &mut IngestState,
        key: SeriesKey,
        s: &super::parse::Sample<'_>,
    ) -> Result<u32, ScrapeError> {
        if let Some(id) = st.lookup.find(&self.order, key) {
            return Ok(id);
        }
        Ok(match self.resolve(store, s.name, s.labels())? {
            Some((id, created)) => {
                st.report.added += usize::from(created);
                if created {
                    st.created.push(id);
                }
                id
            }
            None => DROPPED,
        })
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

/// One scrape being ingested: the body's parser and what the scrape has gathered so far.
pub(crate) struct Ingest {
    parser: StreamParser,
    st: IngestState,
}

struct IngestState {
    /// The scrape's timestamp (ms).
    t: i64,
    report: IngestReport,
    /// The value of each entry of `order` (dropped series' too, to stay beside it), appended
    /// when the body is complete and valid: 8 bytes a sample, where (id, time, value) took 24
    /// (2.4 MB of fresh pages at 100k samples, every scrape) — the ids are in `order` and
    /// nearly every time is the scrape's.
    values: Vec<f64>,
    /// (index into `order`, time) of the kept samples that carry their own timestamps.
    own_times: Vec<(u32, i64)>,
    /// Samples relabeling kept.
    kept: usize,
    lookup: Lookup,
    /// This scrape's [`MetricsScraper::order`].
    order: Vec<(SeriesKey, u32)>,
    /// Ids written at the scrape's time, for staleness.
    current: Vec<u32>,
    /// Series this scrape created: removed again if the scrape fails, so a failed scrape
    /// leaves no series behind (and takes no room under `store.max_series`).
    created: Vec<u32>,
    /// Metadata lines that differ from what is kept, applied if the scrape succeeds.
    meta_changes: Vec<super::metadata::Change>,
    /// A hash of each family name this scrape's metadata lines named: families a target no
    /// longer exposes are forgotten when the scrape succeeds.
    meta_seen: Vec<u64>,
}

/// The cached id of a series that relabeling dropped.
const DROPPED: u32 = u32::MAX;

/// Finds series of this scrape in the last one's [`MetricsScraper::order`]: at a cursor that
/// follows the body (a hit moves it past the entry found), then up to [`LOOKAHEAD`] entries
/// further (series that vanished since); after [`SORT_AFTER`] misses in one scrape (a target
/// that lists its series in a different order each time) through a sorted copy, built once.
/// A series found nowhere is resolved through the store (new, or absent last scrape).
#[derive(Default)]
struct Lookup {
    cursor: usize,
    misses: usize,
    sorted: Option<Vec<(SeriesKey, u32)>>,
}

/// Entries past the cursor tried before a sample counts as a miss.
const LOOKAHEAD: usize = 8;
/// Misses in one scrape before the sorted copy is built.
const SORT_AFTER: usize = 32;

impl Lookup {
    /// The id of `key` in `last` (the last scrape's order), if it is there.
    fn find(&mut self, last: &[(SeriesKey, u32)], key: SeriesKey) -> Option<u32> {
        if let Some(id) = self.peek(last, key) {
            return Some(id);
        }
        if last.is_empty() {
            return None;
        }
        self.misses += 1;
        if self.sorted.is_none() && self.misses > SORT_AFTER {
            let mut v = last.to_vec();
            v.sort_unstable_by_key(|(k, _)| k.0);
            self.sorted = Some(v);
            return self.peek(last, key);
        }
        None
    }

    /// [`Lookup::find`] without counting a miss (a key that may not be a series text at all).
    fn peek(&mut self, last: &[(SeriesKey, u32)], key: SeriesKey) -> Option<u32> {
        let ahead = last.get(self.cursor..).unwrap_or_default();
        if let Some(i) = ahead.iter().take(LOOKAHEAD).position(|(k, _)| *k == key) {
            self.cursor += i + 1;
            return Some(ahead[i].1);
        }
        let sorted = self.sorted.as_ref()?;
        sorted.binary_search_by_key(&key.0, |(k, _)| k.0).ok().map(|i| sorted[i].1)
    }
}

/// 96 bits of the 128-bit XXH3 hash of a series text, as three `u32`s (4-byte aligned). One
/// pass over the text: two 64-bit foldhash passes cost twice as much, ~5% of a scrape's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeriesKey([u32; 3]);

fn series_key(text: &str) -> SeriesKey {
    let h = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
    SeriesKey([h as u32, (h >> 32) as u32, (h >> 64) as u32])
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
#[path = "target_tests.rs"]
mod tests;
