//! A *memory series*: one label set's samples — sealed chunks plus the head chunk being
//! appended to — and the rules for appending (in order only, duplicates ignored).

use super::chunk::{Chunk, ChunkView, STALE_NAN_BITS, Sealed};
use super::labels::Sym;

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
    pub(crate) labels: Box<[(Sym, Sym)]>,
    pub(crate) name: Sym,
    pub(crate) fp: u64,
    /// Exact-size (a `Vec` would allocate room for four on its first push).
    pub(crate) sealed: Box<[Sealed]>,
    /// Never empty once the series has a sample: sealing starts a new head with the sample
    /// being appended, so the newest sample is always the head's last.
    pub(crate) head: Chunk,
}

impl MemSeries {
    pub(crate) fn new(labels: Box<[(Sym, Sym)]>, name: Sym, fp: u64) -> Self {
        MemSeries { labels, name, fp, sealed: Box::new([]), head: Chunk::new() }
    }

    /// Time of the newest sample, or `i64::MIN` when empty.
    pub(crate) fn last_t(&self) -> i64 {
        self.head.last().map_or(i64::MIN, |l| l.0)
    }

    /// Appends `(t, v)`; a repeat of the last sample is accepted silently.
    pub(crate) fn append(&mut self, t: i64, v: f64) -> Result<(), AppendError> {
        if let Some((last_t, last_bits)) = self.head.last()
            && t <= last_t
        {
            if t == last_t {
                return if v.to_bits() == last_bits { Ok(()) } else { Err(AppendError::Duplicate) };
            }
            return Err(AppendError::OutOfOrder);
        }
        if self.head.is_full() {
            let used = self.head.raw().0.len();
            let full = std::mem::replace(&mut self.head, Chunk::with_capacity(used + used / 8));
            self.seal(full);
        }
        self.head.append(t, v);
        Ok(())
    }

    /// Appends a staleness marker at `t` unless the series is already stale or empty.
    /// Returns whether one was written.
    pub(crate) fn mark_stale(&mut self, t: i64) -> bool {
        match self.head.last() {
            Some((last_t, bits)) if bits != STALE_NAN_BITS && t > last_t => {
                self.append(t, f64::from_bits(STALE_NAN_BITS)).is_ok()
            }
            _ => false,
        }
    }

    /// Every chunk, oldest first.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = ChunkView<'_>> {
        self.sealed.iter().map(Sealed::view).chain(std::iter::once(self.head.view())).filter(|c| c.len() > 0)
    }

    /// The newest sample with `start <= t <= end` (staleness marker included); O(1) when the
    /// series' last sample is in range, as it is for evaluations at the current time.
    pub(crate) fn last_in(&self, start: i64, end: i64) -> Option<(i64, f64)> {
        if let Some((t, bits)) = self.head.last()
            && t >= start
            && t <= end
        {
            return Some((t, f64::from_bits(bits)));
        }
        self.samples(start, end).last()
    }

    /// Samples with `start <= t <= end`, oldest first; staleness markers included (the
    /// evaluator needs them), decoded only from chunks that overlap the range, and in the head
    /// chunk from its nearest seek point before `start`.
    pub(crate) fn samples(&self, start: i64, end: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.chunks()
            .filter(move |c| c.max_t() >= start && c.min_t() <= end)
            .flat_map(move |c| c.iter_from(start))
            .skip_while(move |(t, _)| *t < start)
            .take_while(move |(t, _)| *t <= end)
    }

    fn seal(&mut self, full: Chunk) {
        let mut v = std::mem::take(&mut self.sealed).into_vec();
        v.reserve_exact(1);
        v.push(full.into_sealed());
        self.sealed = v.into_boxed_slice();
    }

    /// Drops sealed chunks that end before `cutoff`; returns how many samples went.
    pub(crate) fn truncate_before(&mut self, cutoff: i64) -> usize {
        let keep_from = self.sealed.iter().position(|c| c.view().max_t() >= cutoff).unwrap_or(self.sealed.len());
        let dropped = self.sealed[..keep_from].iter().map(|c| c.view().len()).sum();
        if keep_from > 0 {
            let mut v = std::mem::take(&mut self.sealed).into_vec();
            v.drain(..keep_from);
            self.sealed = v.into_boxed_slice();
        }
        dropped
    }

    /// Number of samples held.
    pub(crate) fn sample_count(&self) -> usize {
        self.chunks().map(ChunkView::len).sum()
    }

    /// Bytes held by chunk data.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.chunks().map(ChunkView::byte_len).sum()
    }

    /// Restores a chunk from a checkpoint (appended after the existing ones).
    pub(crate) fn push_restored(&mut self, chunk: Chunk) {
        if chunk.len() > 0 {
            if self.head.len() > 0 {
                let h = std::mem::replace(&mut self.head, Chunk::new());
                self.seal(h);
            }
            self.head = chunk;
        }
    }
}

/// Series by id: ids are dense (handed out in order), so a vector indexed by id beats a hash
/// map on the append path; removed series leave an empty slot.
#[derive(Debug, Default)]
pub(crate) struct SeriesTable {
    slots: Vec<Option<MemSeries>>,
    live: usize,
}

impl SeriesTable {
    pub(crate) fn get(&self, id: u32) -> Option<&MemSeries> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub(crate) fn insert(&mut self, id: u32, s: MemSeries) {
        let i = id as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        if self.slots[i].replace(s).is_none() {
            self.live += 1;
        }
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<MemSeries> {
        let s = self.slots.get_mut(id as usize)?.take();
        if s.is_some() {
            self.live -= 1;
        }
        s
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &MemSeries> {
        self.slots.iter().flatten()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut MemSeries)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| s.as_mut().map(|s| (i as u32, s)))
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as u32)
    }
}

impl std::ops::Index<&u32> for SeriesTable {
    type Output = MemSeries;
    fn index(&self, id: &u32) -> &MemSeries {
        self.get(*id).expect("series id from the index is live")
    }
}
