//! *Garbage collection* of the store: chunks older than their metric's retention go, and so
//! do series with nothing left in their window — and series a failed scrape created and never
//! gave a sample. Removal is linear and never holds the write lock long: series leave the
//! table in batches of [`GC_BATCH`], the lock released between batches; then each postings
//! list loses all its removed ids in one rebuild (removing them one by one rebuilt a list of a
//! million ids a million times), a bounded number of ids per hold; the label strings no
//! series uses any more are freed in steps too. Until then a list may name
//! removed series; while one does, [`Inner::select`](super::Inner) skips ids the table no
//! longer has (ids are never reused).

use super::{Inner, Store};
use crate::store::labels::Sym;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Series visited (and removed) under one hold of the write lock.
pub(crate) const GC_BATCH: usize = 4_096;
/// Label strings looked at per hold of the write lock while unused ones are freed.
const SWEEP_STEP: usize = 65_536;
/// Postings work (ids rewritten, plus 64 a list) under one hold of the write lock.
const POSTINGS_PER_HOLD: usize = 1 << 18;

/// What a collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct GcReport {
    /// Series removed.
    pub(crate) series: usize,
    /// Samples removed.
    pub(crate) samples: usize,
    /// The longest the write lock was held at once, but for the sweep.
    pub(crate) longest_hold: Duration,
    /// The longest hold of the sweep of unused label strings (in steps of [`SWEEP_STEP`];
    /// zero when there was no sweep).
    pub(crate) sweep_hold: Duration,
}

impl Inner {
    /// Removes the series `ids` (those that exist) from the table, the fingerprints and the
    /// label arena; their postings entries are added to `by_label` for the caller to remove.
    pub(super) fn remove_batch(&mut self, ids: &[u32], by_label: &mut HashMap<(Sym, Sym), Vec<u32>>) {
        for &id in ids {
            let Some(mut s) = self.series.remove(id) else { continue };
            let fp = super::series_fp(&self.label_sets, &self.interner, &s);
            s.release(&mut self.files);
            for (k, v) in self.label_sets.get(s.labels) {
                by_label.entry((k, v)).or_default().push(id);
            }
            self.label_sets.free(s.labels);
            self.removed_since_sweep += 1;
            if let Ok(e) = self.by_fp.find_entry(super::fp_hash(fp), |&i| i == id) {
                e.remove();
            }
        }
        if self.label_sets.needs_compaction() {
            self.label_sets.compact(self.series.iter_mut().map(|(_, s)| &mut s.labels));
        }
    }

    /// Removes one series.
    #[cfg(test)]
    pub(super) fn remove(&mut self, id: u32) {
        let mut by_label = HashMap::new();
        self.remove_batch(&[id], &mut by_label);
        self.postings.remove_many(by_label);
    }
}

impl Store {
    /// Drops chunks older than each metric's retention at `now_ms`, and series with nothing
    /// left in their window, [`GC_BATCH`] series per hold of the write lock.
    pub(crate) fn gc(&self, now_ms: i64) -> GcReport {
        let ids: Vec<u32> = self.read().series.ids().collect();
        let mut report = GcReport::default();
        let mut by_label = HashMap::new();
        for batch in ids.chunks(GC_BATCH) {
            let started = Instant::now();
            let mut inner = self.write();
            let mut dead = Vec::new();
            let Inner { series, retention, files, .. } = &mut *inner;
            for &id in batch {
                let Some(s) = series.get_mut(id) else { continue };
                let keep = retention.get(&s.name).copied().unwrap_or(self.default_retention_ms);
                let cutoff = now_ms - keep;
                report.samples += s.truncate_before(cutoff, files);
                if s.last_t() < cutoff {
                    report.samples += s.sample_count(files);
                    dead.push(id);
                }
            }
            inner.stale_postings |= !dead.is_empty();
            inner.remove_batch(&dead, &mut by_label);
            report.series += dead.len();
            drop(inner);
            report.longest_hold = report.longest_hold.max(started.elapsed());
        }
        let hold = self.remove_postings(by_label);
        report.longest_hold = report.longest_hold.max(hold);
        report.sweep_hold = self.after_removal(report.series);
        report
    }

    /// Removes the postings entries `by_label` lists, holding the write lock for lists of
    /// about [`POSTINGS_PER_HOLD`] ids at a time; returns the longest hold.
    fn remove_postings(&self, by_label: HashMap<(Sym, Sym), Vec<u32>>) -> Duration {
        let mut longest = Duration::ZERO;
        let mut pending: Vec<((Sym, Sym), Vec<u32>)> = by_label.into_iter().collect();
        if pending.is_empty() {
            if self.read().stale_postings {
                self.write().stale_postings = false; // removed series had no labels
            }
            return longest;
        }
        loop {
            let started = Instant::now();
            let mut inner = self.write();
            let mut work = 0;
            let mut chunk = HashMap::new();
            while let Some((key, ids)) = pending.pop() {
                work += inner.postings.list_len(key) + 64;
                chunk.insert(key, ids);
                if work >= POSTINGS_PER_HOLD {
                    break;
                }
            }
            inner.postings.remove_many(chunk);
            inner.stale_postings = !pending.is_empty();
            drop(inner);
            longest = longest.max(started.elapsed());
            if pending.is_empty() {
                return longest;
            }
        }
    }

    /// Removes those of `ids` that hold no sample (series a failed scrape created); returns
    /// how many.
    pub(crate) fn remove_unused(&self, ids: &[u32]) -> usize {
        if ids.is_empty() {
            return 0;
        }
        let mut removed = 0;
        for batch in ids.chunks(GC_BATCH) {
            let mut inner = self.write();
            let Inner { series, files, .. } = &mut *inner;
            let unused: Vec<u32> = batch
                .iter()
                .copied()
                .filter(|&id| series.get(id).is_some_and(|s| s.sample_count(files) == 0))
                .collect();
            let mut by_label = HashMap::new();
            inner.remove_batch(&unused, &mut by_label);
            inner.postings.remove_many(by_label);
            removed += unused.len();
        }
        self.after_removal(removed);
        removed
    }

    /// After `removed` series went: sweeps the interner when a quarter of the series (at
    /// least 1024) went since the last sweep (label values of pods and alerts that came and
    /// went would otherwise stay interned for ever), and tells scrape caches ids may be gone.
    fn after_removal(&self, removed: usize) -> Duration {
        if removed == 0 {
            return Duration::ZERO;
        }
        let started = Instant::now();
        let mut inner = self.write();
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !(inner.removed_since_sweep >= 1024 && inner.removed_since_sweep * 4 >= inner.series.len()) {
            return Duration::ZERO;
        }
        inner.begin_sweep();
        let symbols = inner.interner.len();
        drop(inner);
        let mut longest = started.elapsed();
        for start in (0..symbols).step_by(SWEEP_STEP) {
            let started = Instant::now();
            self.write().interner.sweep_step(start..start + SWEEP_STEP);
            longest = longest.max(started.elapsed());
        }
        self.write().interner.end_sweep();
        longest
    }
}
