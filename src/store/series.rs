//! A *memory series*: one label set's samples — sealed chunks plus the head chunk being
//! appended to — and the rules for appending (in order only, duplicates ignored).

use super::chunk::{Chunk, STALE_NAN_BITS, Sealed, chunk_samples};
use super::chunkfile::ChunkFiles;
use super::labels::{LabelRef, Sym};
use super::sealed::ListRef;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why an append was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendError {
    /// The timestamp is before the series' last sample.
    OutOfOrder,
    /// Same timestamp as the last sample, different value.
    Duplicate,
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    /// The label set, in the store's label arena.
    pub(crate) labels: LabelRef,
    pub(crate) name: Sym,
    /// The sealed chunks, oldest first, in the store's sealed lists (`files.lists`).
    pub(crate) sealed: ListRef,
    /// Never empty once the series has a sample: sealing starts a new head with the sample
    /// being appended, so the newest sample is always the head's last.
    pub(crate) head: Chunk,
    /// Set by a reader whose window starts inside the head chunk: the head then keeps seek
    /// points (from the next append on) so the next such read need not decode it from its start.
    want_seeks: AtomicBool,
    /// Samples a head chunk of this series holds before it is sealed ([`chunk_samples`] of its
    /// fingerprint, kept so the append path does no division).
    chunk_len: u8,
}

impl MemSeries {
    /// A new empty series; `fp` is its fingerprint (not kept: the store computes it from the
    /// labels when it needs it again, which saves 8 bytes a series).
    pub(crate) fn new(labels: LabelRef, name: Sym, fp: u64) -> Self {
        MemSeries {
            labels,
            name,
            sealed: ListRef::default(),
            head: Chunk::new(),
            want_seeks: AtomicBool::new(false),
            chunk_len: chunk_samples(fp),
        }
    }

    /// Time of the newest sample, or `i64::MIN` when empty.
    pub(crate) fn last_t(&self) -> i64 {
        self.head.last().map_or(i64::MIN, |l| l.0)
    }

    /// Appends `(t, v)`; a repeat of the last sample is accepted silently. A full head chunk is
    /// sealed into `files`.
    pub(crate) fn append(&mut self, t: i64, v: f64, files: &mut ChunkFiles) -> Result<(), AppendError> {
        if let Some((last_t, last_bits)) = self.head.last()
            && t <= last_t
        {
            if t == last_t {
                return if v.to_bits() == last_bits { Ok(()) } else { Err(AppendError::Duplicate) };
            }
            return Err(AppendError::OutOfOrder);
        }
        if self.head.is_full(u16::from(self.chunk_len), t) {
            // The next head starts at a quarter of this one's size and grows by half: sized
            // to the full chunk at once, every series' head would reserve 30 minutes of data
            // the moment they seal together (after a restart, or when they were created at once).
            let used = self.head.raw().0.len();
            let full = std::mem::replace(&mut self.head, Chunk::with_capacity(used / 4));
            self.seal(full, files);
        }
        if !self.head.tracks_seeks() && *self.want_seeks.get_mut() {
            self.head.track_seeks();
        }
        self.head.append(t, v);
        Ok(())
    }

    /// Appends a staleness marker at `t` unless the series is already stale or empty.
    /// Returns whether one was written.
    pub(crate) fn mark_stale(&mut self, t: i64, files: &mut ChunkFiles) -> bool {
        match self.head.last() {
            Some((last_t, bits)) if bits != STALE_NAN_BITS && t > last_t => {
                self.append(t, f64::from_bits(STALE_NAN_BITS), files).is_ok()
            }
            _ => false,
        }
    }

    /// Time of the oldest sample, or `i64::MAX` when empty; reads no chunk bytes.
    pub(crate) fn first_t(&self, files: &ChunkFiles) -> i64 {
        match files.lists.get(self.sealed).first() {
            Some(c) => c.min_t(),
            None if self.head.len() > 0 => self.head.view().min_t(),
            None => i64::MAX,
        }
    }

    /// The newest sample with `start <= t <= end` (staleness marker included); O(1) when the
    /// series' last sample is in range, as it is for evaluations at the current time.
    pub(crate) fn last_in(&self, start: i64, end: i64, files: &ChunkFiles) -> Option<(i64, f64)> {
        if let Some((t, bits)) = self.head.last()
            && t >= start
            && t <= end
        {
            return Some((t, f64::from_bits(bits)));
        }
        self.samples(start, end, files).last()
    }

    /// Samples with `start <= t <= end`, oldest first; staleness markers included (the
    /// evaluator needs them), decoded only from chunks that overlap the range, and in the head
    /// chunk from its nearest seek point before `start`.
    /// Sealed chunks outside the range are skipped by their in-memory bounds (their bytes,
    /// perhaps in a chunk file, are not touched).
    pub(crate) fn samples<'a>(
        &'a self,
        start: i64,
        end: i64,
        files: &'a ChunkFiles,
    ) -> impl Iterator<Item = (i64, f64)> + 'a {
        if !self.head.tracks_seeks() && self.head.len() > 0 && start > self.head.view().min_t() {
            self.want_seeks.store(true, Ordering::Relaxed);
        }
        let sealed = files
            .lists
            .get(self.sealed)
            .iter()
            .filter(move |c| c.max_t() >= start && c.min_t() <= end)
            .map(move |c| c.view(files));
        let head =
            std::iter::once(self.head.view()).filter(move |c| c.len() > 0 && c.max_t() >= start && c.min_t() <= end);
        sealed
            .chain(head)
            .flat_map(move |c| c.iter_from(start))
            .skip_while(move |(t, _)| *t < start)
            .take_while(move |(t, _)| *t <= end)
    }

    fn seal(&mut self, full: Chunk, files: &mut ChunkFiles) {
        let sealed = full.into_sealed(files);
        files.lists.push(&mut self.sealed, sealed);
    }

    /// Drops sealed chunks that end before `cutoff` (releasing their place in `files`); returns
    /// how many samples went.
    pub(crate) fn truncate_before(&mut self, cutoff: i64, files: &mut ChunkFiles) -> usize {
        let list = files.lists.get(self.sealed);
        let keep_from = list.iter().position(|c| c.max_t() >= cutoff).unwrap_or(list.len());
        if keep_from == 0 {
            return 0;
        }
        let mut locs = Vec::with_capacity(keep_from);
        let mut dropped = 0;
        files.lists.drop_front(&mut self.sealed, keep_from, |c| {
            locs.push(c.loc);
            dropped += c.len();
        });
        locs.into_iter().for_each(|loc| files.release(loc));
        dropped
    }

    /// Releases every sealed chunk's place in `files` (the series is being removed).
    pub(crate) fn release(&mut self, files: &mut ChunkFiles) {
        self.truncate_before(i64::MAX, files);
    }

    /// Number of samples held.
    pub(crate) fn sample_count(&self, files: &ChunkFiles) -> usize {
        files.lists.get(self.sealed).iter().map(Sealed::len).sum::<usize>() + self.head.len()
    }

    /// Bytes of chunk data: (in memory, head included; in chunk files).
    pub(crate) fn chunk_bytes(&self, files: &ChunkFiles) -> (usize, usize) {
        files
            .lists
            .get(self.sealed)
            .iter()
            .map(Sealed::bytes)
            .fold((self.head.byte_len(), 0), |(m, f), (cm, cf)| (m + cm, f + cf))
    }

    /// Calls `f` with each chunk's compressed bytes and sample count, oldest first; sealed chunks
    /// in a chunk file are read from the file (not through its map, so a bulk reader such as
    /// the checkpoint does not make them resident). Fails when a chunk file cannot be read.
    pub(crate) fn each_raw(&self, files: &ChunkFiles, mut f: impl FnMut(&[u8], u16)) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for c in files.lists.get(self.sealed) {
            f(files.read(c.loc, &mut buf)?, c.len() as u16);
        }
        if self.head.len() > 0 {
            let (bytes, count) = self.head.raw();
            f(bytes, count);
        }
        Ok(())
    }

    /// Restores a chunk from a checkpoint (appended after the existing ones).
    pub(crate) fn push_restored(&mut self, chunk: Chunk, files: &mut ChunkFiles) {
        if chunk.len() > 0 {
            if self.head.len() > 0 {
                let h = std::mem::replace(&mut self.head, Chunk::new());
                self.seal(h, files);
            }
            self.head = chunk;
        }
    }
}
