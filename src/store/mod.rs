//! The *store*: an in-memory, sliding-window time-series database. Series are keyed by label
//! set (interned strings, a stable 64-bit fingerprint) and hold samples (i64 milliseconds,
//! f64 values) in compressed [`chunk`]s; a postings [`index`] answers label matchers; old chunks
//! are dropped as time passes, per metric name, keeping what the loaded rules look back on
//! plus a margin; the whole store is checkpointed to disk so a restart keeps its windows.
//!
//! Written by hand (see docs/ARCHITECTURE.md): an embedded TSDB that keeps only the rule
//! windows, in a few bytes per sample, is what makes sidewatch lighter than Prometheus.

mod bits;
mod cardinality;
pub(crate) mod checkpoint;
pub(crate) mod chunk;
pub(crate) mod chunkfile;
pub(crate) mod config;
mod gc;
pub(crate) mod index;
pub(crate) mod labels;
pub(crate) mod maintenance;
mod sealed;
mod series;
mod table;
#[cfg(test)]
mod tests;
pub(crate) use config::SealedChunks;

pub use index::{MatchOp, Matcher};
pub(crate) use labels::Labels;

use labels::{Interner, LabelArena, NAME, Sym, fingerprint};
use series::{AppendError, MemSeries};
use std::collections::HashMap;
use table::SeriesTable;

/// The hasher of the store's and the scrape cache's maps (fast; keys are our own ids or
/// label text of the monitored service).
pub(crate) type FastHash = foldhash::fast::RandomState;
use std::sync::RwLock;

pub use chunk::{STALE_NAN_BITS, is_stale};

/// Why the store refused something.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Creating the series would pass `store.max_series`.
    #[error(
        "series limit reached: the store holds {limit} series (store.max_series); raise the limit or drop series with metric_relabel"
    )]
    SeriesLimit {
        /// The configured cap.
        limit: usize,
    },
    /// A label set names the same label twice.
    #[error("label {0:?} appears twice in one series")]
    DuplicateLabel(String),
    /// The series id is unknown (it was garbage-collected).
    #[error("unknown series")]
    UnknownSeries,
    /// A sample older than the series' newest one.
    #[error("out-of-order sample")]
    OutOfOrder,
    /// Same timestamp as the newest sample, different value.
    #[error("duplicate sample for timestamp")]
    Duplicate,
}

impl From<AppendError> for StoreError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::OutOfOrder => StoreError::OutOfOrder,
            AppendError::Duplicate => StoreError::Duplicate,
        }
    }
}

/// Sizes, for self metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Series held.
    pub series: usize,
    /// Samples held (staleness markers included).
    pub samples: usize,
    /// Bytes of compressed chunk data.
    pub chunk_bytes: usize,
    /// Estimated bytes of the index, interned strings and series headers.
    pub index_bytes: usize,
    /// Bytes of sealed chunks kept in chunk files (read through a memory map, not counted in
    /// `chunk_bytes`).
    pub file_bytes: usize,
    /// Chunk segment files on disk.
    pub file_segments: usize,
}

/// Counts from one batch append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppendStats {
    /// Samples stored.
    pub(crate) appended: usize,
    /// Samples refused as out of order or duplicate.
    pub(crate) rejected: usize,
    /// Ids no longer known (the caller should resolve them again).
    pub(crate) unknown: usize,
}

#[derive(Debug, Default)]
struct Inner {
    interner: Interner,
    /// Every series' label set.
    label_sets: LabelArena,
    series: SeriesTable,
    /// Series ids by fingerprint: a table of bare ids (5 bytes a slot, not 17 as a map from
    /// fingerprint to id), each hashed by its series' fingerprint; two series with the same
    /// fingerprint are two entries, told apart by their labels.
    by_fp: hashbrown::HashTable<u32>,
    postings: index::Postings,
    next_id: u32,
    /// Metric name → how far back rules look (ms), beyond the default.
    retention: HashMap<Sym, i64>,
    /// Series removed since the interner was last swept of unused strings.
    removed_since_sweep: usize,
    /// A collection removed series whose ids postings lists still hold (see `gc`).
    stale_postings: bool,
    /// Where sealed chunks go: segment files, or memory when there is no chunk directory.
    files: chunkfile::ChunkFiles,
}

/// One series during a visit: its id and labels, the labels read from the store's symbols
/// only when asked for.
pub(crate) struct SeriesView<'a> {
    inner: &'a Inner,
    id: u32,
    series: &'a MemSeries,
    /// The symbol of `__name__`.
    name: Option<Sym>,
}

impl SeriesView<'_> {
    /// The series id (unique in the store for the store's life).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The labels, without `__name__` when `without_name`.
    pub(crate) fn labels(&self, without_name: bool) -> Labels {
        self.inner.labels_except(self.series, if without_name { self.name } else { None })
    }

    /// The symbol pairs of the labels, sorted by name (symbols are unique per string, so
    /// equal symbols are equal strings).
    pub(crate) fn pairs(&self) -> labels::LabelPairs<'_> {
        self.inner.label_sets.get(self.series.labels)
    }

    /// The symbol of `s`, if any series uses that string.
    pub(crate) fn symbol(&self, s: &str) -> Option<Sym> {
        self.inner.interner.lookup(s)
    }

    /// The symbol of `__name__`.
    pub(crate) fn name_symbol(&self) -> Option<Sym> {
        self.name
    }

    /// How many strings have been interned: a symbol looked up as missing may exist once it
    /// changes.
    pub(crate) fn symbol_count(&self) -> usize {
        self.inner.interner.len()
    }
}

/// The store; share it behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
    generation: std::sync::atomic::AtomicU64,
    max_series: usize,
    default_retention_ms: i64,
    tap: std::sync::OnceLock<std::sync::Arc<dyn Tap>>,
}

/// A *tap* is told of every sample appended to the store (series id, time, value), in append
/// order, while the append holds the store's lock: remote write queues them.
pub(crate) trait Tap: Send + Sync + std::fmt::Debug {
    /// `samples` were just appended.
    fn appended(&self, samples: &[(u32, i64, f64)]);
}

impl Store {
    /// An empty store holding at most `max_series` series, keeping samples for
    /// `retention_ms` unless a metric needs longer ([`Store::set_retentions`]).
    pub fn new(max_series: usize, retention_ms: i64) -> Store {
        Store {
            inner: RwLock::default(),
            generation: Default::default(),
            max_series,
            default_retention_ms: retention_ms,
            tap: std::sync::OnceLock::new(),
        }
    }

    /// Tells `tap` of every sample appended from now on (one tap per store).
    pub(crate) fn set_tap(&self, tap: std::sync::Arc<dyn Tap>) {
        let _ = self.tap.set(tap);
    }

    /// Keeps sealed chunks in segment files in `dir` (emptied first), read through a memory
    /// map, instead of in memory. Call before the store holds data. Fails when the directory
    /// cannot be created or emptied; the store then keeps chunks in memory.
    pub fn use_chunk_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let mut inner = self.write();
        inner.files = chunkfile::ChunkFiles::open(dir, &mut inner.files)?;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the series with exactly these labels (`__name__` included), created if new.
    /// Pairs may come in any order. Fails on a repeated label name or at the series cap.
    pub fn get_or_create<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<u32, StoreError> {
        self.get_or_create_new(pairs).map(|(id, _)| id)
    }

    /// [`Store::get_or_create`], also telling whether the series was created by this call.
    pub(crate) fn get_or_create_new<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(u32, bool), StoreError> {
        let mut sorted: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(StoreError::DuplicateLabel(w[0].0.to_string()));
        }
        let fp = fingerprint(sorted.iter().copied());
        if let Some(id) = self.read().find(fp, &sorted) {
            return Ok((id, false));
        }
        let mut inner = self.write();
        if let Some(id) = inner.find(fp, &sorted) {
            return Ok((id, false));
        }
        if inner.series.len() >= self.max_series {
            return Err(StoreError::SeriesLimit { limit: self.max_series });
        }
        Ok((inner.create(fp, &sorted), true))
    }

    /// Appends one sample to series `id`.
    pub fn append(&self, id: u32, t: i64, v: f64) -> Result<(), StoreError> {
        let mut inner = self.write();
        let Inner { series, files, .. } = &mut *inner;
        let s = series.get_mut(id).ok_or(StoreError::UnknownSeries)?;
        Ok(s.append(t, v, files)?)
    }

    /// Appends `(id, value)` pairs, each at its own timestamp, under one lock.
    pub(crate) fn append_batch(&self, samples: &[(u32, i64, f64)]) -> AppendStats {
        self.append_all(samples.iter().copied())
    }

    /// [`Store::append_batch`] from an iterator (under one write lock).
    pub(crate) fn append_all(&self, samples: impl IntoIterator<Item = (u32, i64, f64)>) -> AppendStats {
        let mut stats = AppendStats::default();
        let tap = self.tap.get();
        let mut tapped = Vec::new();
        let mut inner = self.write();
        let Inner { series, files, .. } = &mut *inner;
        for (id, t, v) in samples {
            match series.get_mut(id) {
                None => stats.unknown += 1,
                Some(s) => match s.append(t, v, files) {
                    Ok(()) => {
                        stats.appended += 1;
                        if tap.is_some() {
                            tapped.push((id, t, v));
                        }
                    }
                    Err(_) => stats.rejected += 1,
                },
            }
        }
        if let Some(tap) = tap
            && !tapped.is_empty()
        {
            tap.appended(&tapped);
        }
        stats
    }

    /// Appends one sample at `t` to each series `name{labels}` named in `values`, creating the
    /// series as needed (synthetic series such as `up` or `probe_success`).
    pub(crate) fn append_named(&self, labels: &[(&str, &str)], t: i64, values: &[(&str, f64)]) -> AppendStats {
        let batch: Vec<(u32, i64, f64)> = values
            .iter()
            .filter_map(|&(name, v)| {
                let all = std::iter::once((labels::NAME, name)).chain(labels.iter().copied());
                self.get_or_create(all).ok().map(|id| (id, t, v))
            })
            .collect();
        self.append_batch(&batch)
    }

    /// Writes a staleness marker at `t` into each series of `ids` that is not already stale.
    /// Returns how many were marked.
    pub(crate) fn mark_stale(&self, ids: impl IntoIterator<Item = u32>, t: i64) -> usize {
        let mut inner = self.write();
        let Inner { series, files, .. } = &mut *inner;
        ids.into_iter().filter(|id| series.get_mut(*id).is_some_and(|s| s.mark_stale(t, files))).count()
    }

    /// Ids of the series matching every matcher, ascending.
    #[cfg(test)]
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        self.read().select(matchers)
    }

    /// The labels of series `id`.
    pub(crate) fn labels(&self, id: u32) -> Option<Labels> {
        let inner = self.read();
        inner.series.get(id).map(|s| inner.labels_of(s))
    }

    /// Calls `f` with the labels and the samples in `[start, end]` of every matching series,
    /// streaming from the chunks (nothing is copied). Series with no sample in range are skipped.
    pub(crate) fn visit(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        mut f: impl FnMut(&Labels, &mut dyn Iterator<Item = (i64, f64)>),
    ) {
        self.visit_series(matchers, start, end, |v, it| f(&v.labels(false), it))
    }

    /// [`Store::visit`], handing out each series as a [`SeriesView`]: its labels are read
    /// from the store only if the caller asks (an aggregation groups by symbols instead).
    pub(crate) fn visit_series(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        mut f: impl FnMut(&SeriesView<'_>, &mut dyn Iterator<Item = (i64, f64)>),
    ) {
        let inner = self.read();
        let name = inner.interner.lookup(NAME);
        for id in inner.select(matchers) {
            let s = &inner.series[&id];
            if s.last_t() < start || s.first_t(&inner.files) > end {
                continue;
            }
            let view = SeriesView { inner: &inner, id, series: s, name };
            f(&view, &mut s.samples(start, end, &inner.files));
        }
    }

    /// Calls `f` with the labels and the newest sample in `[start, end]` (staleness markers
    /// included) of every matching series that has one — what an instant selector reads.
    pub(crate) fn visit_last(&self, matchers: &[Matcher], start: i64, end: i64, mut f: impl FnMut(&Labels, i64, f64)) {
        let inner = self.read();
        for id in inner.select(matchers) {
            let s = &inner.series[&id];
            if s.last_t() < start {
                continue;
            }
            if let Some((t, v)) = s.last_in(start, end, &inner.files) {
                f(&inner.labels_of(s), t, v);
            }
        }
    }

    /// The matching series with their samples in `[start, end]` (copied; prefer [`Store::visit`]).
    pub fn query(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let mut out = Vec::new();
        self.visit(matchers, start, end, |l, it| out.push((l.clone(), it.collect())));
        out
    }

    /// Every label name, sorted.
    pub(crate) fn label_names(&self) -> Vec<String> {
        let inner = self.read();
        let mut v: Vec<String> = inner.postings.names().map(|s| inner.interner.get(s).to_string()).collect();
        v.sort();
        v
    }

    /// Every value of label `name`, sorted.
    pub(crate) fn label_values(&self, name: &str) -> Vec<String> {
        let inner = self.read();
        let Some(sym) = inner.interner.lookup(name) else { return Vec::new() };
        let mut v: Vec<String> = inner.postings.values(sym).map(|s| inner.interner.get(s).to_string()).collect();
        v.sort();
        v
    }

    /// Sets how far back each metric must be kept (from the loaded rules' ranges and offsets);
    /// metrics not named keep the default retention. Replaces earlier settings.
    pub(crate) fn set_retentions(&self, per_metric_ms: &HashMap<String, i64>) {
        let mut inner = self.write();
        let map = per_metric_ms
            .iter()
            .filter(|(_, ms)| **ms > self.default_retention_ms)
            .map(|(name, ms)| (inner.interner.intern(name), *ms))
            .collect();
        inner.retention = map;
    }

    /// How long samples of `metric` are kept (ms); with no metric name, the longest of all.
    pub fn retention_of(&self, metric: Option<&str>) -> i64 {
        let inner = self.read();
        match metric {
            Some(name) => inner
                .interner
                .lookup(name)
                .and_then(|sym| inner.retention.get(&sym).copied())
                .unwrap_or(self.default_retention_ms),
            None => inner.retention.values().copied().fold(self.default_retention_ms, i64::max),
        }
    }

    /// Takes the pages of sealed chunks in chunk files out of the process' resident memory (see
    /// `ChunkFiles::unmap_pages`); the store's maintenance does this every few seconds, so only
    /// the pages that recent queries read are resident.
    pub fn unmap_chunk_pages(&self) {
        if self.read().files.segment_count() == 0 {
            return; // no write lock (which would hold up appends) for nothing
        }
        self.write().files.unmap_pages();
    }

    /// Gives back the postings lists' growth room once series stopped being added (see
    /// [`index::Postings::shrink`]); takes the write lock only when lists grew.
    pub(crate) fn shrink_index(&self) {
        if self.read().postings.grown() {
            self.write().postings.shrink();
        }
    }

    /// Rebuilds the sealed-list slabs when free slots hold most of them (see
    /// `sealed::SealedLists::needs_compaction`); takes the write lock only then.
    pub fn shrink_sealed_lists(&self) {
        if self.read().files.lists.needs_compaction() {
            let mut inner = self.write();
            let Inner { series, files, .. } = &mut *inner;
            if files.lists.needs_compaction() {
                files.lists.compact(series.iter_mut().map(|(_, s)| &mut s.sealed));
            }
        }
    }

    /// Current sizes.
    pub fn stats(&self) -> StoreStats {
        let inner = self.read();
        let mut st = StoreStats { series: inner.series.len(), ..Default::default() };
        for s in inner.series.values() {
            st.samples += s.sample_count(&inner.files);
            let (mem, file) = s.chunk_bytes(&inner.files);
            st.chunk_bytes += mem;
            st.file_bytes += file;
            st.index_bytes += std::mem::size_of::<MemSeries>();
        }
        st.index_bytes += inner.label_sets.bytes()
            + inner.postings.bytes()
            + inner.interner.bytes()
            + inner.by_fp.capacity() * 5
            + inner.files.slot_bytes()
            + inner.files.lists.bytes();
        st.file_segments = inner.files.segment_count();
        st
    }

    /// Changes whenever series are removed, so callers caching series ids know to resolve again.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configured series cap.
    pub(crate) fn max_series(&self) -> usize {
        self.max_series
    }
}

/// The table hash of a fingerprint (FNV-1a's low bits, which pick the slot, are mixed in from
/// the high ones).
fn fp_hash(fp: u64) -> u64 {
    (fp ^ (fp >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// A series' fingerprint, from its labels (the header does not keep it; only rehashing
/// [`Inner::by_fp`] and removing a series need it).
fn series_fp(sets: &LabelArena, strs: &Interner, s: &MemSeries) -> u64 {
    fingerprint(sets.get(s.labels).map(|(k, v)| (&**strs.get(k), &**strs.get(v))))
}

impl Inner {
    fn find(&self, fp: u64, sorted: &[(&str, &str)]) -> Option<u32> {
        let same = |id: &u32| {
            let s = &self.series[id];
            let mut pairs = self.label_sets.get(s.labels);
            sorted.iter().all(|&(ks, vs)| {
                pairs.next().is_some_and(|(k, v)| &**self.interner.get(k) == ks && &**self.interner.get(v) == vs)
            }) && pairs.next().is_none()
        };
        self.by_fp.find(fp_hash(fp), same).copied()
    }

    fn create(&mut self, fp: u64, sorted: &[(&str, &str)]) -> u32 {
        let labels: Vec<(Sym, Sym)> =
            sorted.iter().map(|(k, v)| (self.interner.intern(k), self.interner.intern(v))).collect();
        let name_sym = self.interner.intern(NAME);
        let name = labels.iter().find(|(k, _)| *k == name_sym).map_or(self.interner.intern(""), |(_, v)| *v);
        let id = self.next_id;
        self.next_id += 1;
        self.postings.add(id, labels.iter().copied());
        let (series, sets, strs) = (&self.series, &self.label_sets, &self.interner);
        self.by_fp.insert_unique(fp_hash(fp), id, |i| fp_hash(series_fp(sets, strs, &series[i])));
        let labels = self.label_sets.push(&labels);
        self.series.insert(id, MemSeries::new(labels, name, fp));
        id
    }

    /// Frees the interned strings no live series, retention entry or the metric-name label
    /// uses.
    /// Marks the symbols in use and starts a sweep of the others (run in steps by the GC).
    fn begin_sweep(&mut self) {
        let mut used = vec![false; self.interner.len()];
        let mut mark = |sym: Sym| {
            if let Some(u) = used.get_mut(sym as usize) {
                *u = true;
            }
        };
        for s in self.series.values() {
            for (k, v) in self.label_sets.get(s.labels) {
                mark(k);
                mark(v);
            }
        }
        self.retention.keys().copied().for_each(&mut mark);
        if let Some(n) = self.interner.lookup(NAME) {
            mark(n);
        }
        self.removed_since_sweep = 0;
        self.interner.begin_sweep(used);
    }

    fn labels_of(&self, s: &MemSeries) -> Labels {
        self.labels_except(s, None)
    }

    fn labels_except(&self, s: &MemSeries, except: Option<Sym>) -> Labels {
        Labels(
            self.label_sets
                .get(s.labels)
                .filter(|(k, _)| Some(*k) != except)
                .map(|(k, v)| (self.interner.get(k).clone(), self.interner.get(v).clone()))
                .collect(),
        )
    }

    fn value_of(&self, s: &MemSeries, name: &str) -> &str {
        let Some(sym) = self.interner.lookup(name) else { return "" };
        self.label_sets.get(s.labels).find(|(k, _)| *k == sym).map_or("", |(_, v)| &**self.interner.get(v))
    }

    fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let candidates = match self.postings.candidates(&self.interner, matchers) {
            // A collection may not have taken removed series out of every list yet.
            Some(mut c) if self.stale_postings => {
                c.retain(|&id| self.series.get(id).is_some());
                c
            }
            Some(c) => c,
            None => self.series.ids().collect(),
        };
        let filters: Vec<&Matcher> = matchers.iter().filter(|m| m.matches("")).collect();
        if filters.is_empty() {
            return candidates;
        }
        candidates
            .into_iter()
            .filter(|id| {
                let s = &self.series[id];
                filters.iter().all(|m| m.matches(self.value_of(s, &m.name)))
            })
            .collect()
    }
}
