//! *Sealed lists*: each series' sealed chunks — their [`Sealed`] entries, oldest first — kept
//! for every series of a store in a few slabs instead of one heap block per series. A list of
//! `n` entries lives in the slab of its *capacity class* (exactly `n` up to 16, then four sizes
//! per power of two), in a slot of that many entries; a series names its list with a [`ListRef`] of
//! 8 bytes (slot and length), where a boxed slice took 16 bytes in the header plus a heap
//! block with the allocator's 8-byte header and rounding (~20 bytes more a series). A list that
//! outgrows its slot moves to the next class; freed slots are reused. Slots left free in a
//! class that lists no longer pass through (every series of a target sealing its first chunks
//! together leaves the one-entry class empty behind it) are given back by rebuilding the slabs
//! ([`SealedLists::needs_compaction`], [`SealedLists::compact`]).

use super::chunk::Sealed;

/// Lengths up to this have a class of their own (exact-size slots).
const EXACT: usize = 16;

/// A series' sealed list: its slot in the slab of its length's class, and its length (0: empty,
/// no slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListRef {
    slot: u32,
    len: u16,
}

impl ListRef {
    /// Number of sealed chunks.
    pub(crate) fn len(self) -> usize {
        usize::from(self.len)
    }
}

/// The class and slot size (entries) of lists of `len` entries (`len >= 1`): exact up to
/// [`EXACT`], then rounded up to a multiple of an eighth of the power of two above (four
/// sizes per power of two), so a slot's unused room is under a quarter of the list.
fn class_of(len: usize) -> (usize, usize) {
    if len <= EXACT {
        return (len - 1, len);
    }
    let bits = usize::BITS - (len - 1).leading_zeros(); // 2^(bits-1) < len <= 2^bits
    let step = 1usize << (bits - 3);
    let cap = len.div_ceil(step) * step; // 5..=8 steps
    (EXACT + (bits as usize - 5) * 4 + (cap / step - 5), cap)
}

/// The slot size (entries) of a class.
fn slot_len(class: usize) -> usize {
    if class < EXACT {
        return class + 1;
    }
    let (bits, k) = ((class - EXACT) / 4 + 5, (class - EXACT) % 4 + 5);
    k << (bits - 3)
}

#[derive(Debug, Default)]
struct Slab {
    entries: Vec<Sealed>,
    free: Vec<u32>,
}

/// Every series' sealed list of one store; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SealedLists {
    /// By class ([`class_of`]).
    slabs: Vec<Slab>,
}

impl SealedLists {
    /// The entries of `r`, oldest first.
    pub(crate) fn get(&self, r: ListRef) -> &[Sealed] {
        if r.len == 0 {
            return &[];
        }
        let (class, cap) = class_of(r.len());
        let from = r.slot as usize * cap;
        self.slabs.get(class).and_then(|s| s.entries.get(from..from + r.len())).unwrap_or(&[])
    }

    /// A free slot of `class` (slots of `cap` entries), its entries set to `fill`.
    fn take_slot(&mut self, class: usize, cap: usize, fill: Sealed) -> u32 {
        if self.slabs.len() <= class {
            self.slabs.resize_with(class + 1, Slab::default);
        }
        let slab = &mut self.slabs[class];
        if let Some(slot) = slab.free.pop() {
            return slot;
        }
        let slot = (slab.entries.len() / cap) as u32;
        slab.entries.resize(slab.entries.len() + cap, fill);
        slot
    }

    fn free_slot(&mut self, r: ListRef) {
        if r.len > 0 {
            let (class, _) = class_of(r.len());
            self.slabs[class].free.push(r.slot);
        }
    }

    /// A list holding `items`, in a free slot of its class.
    fn place(&mut self, items: &[Sealed]) -> ListRef {
        let Some(&first) = items.first() else { return ListRef::default() };
        let (class, cap) = class_of(items.len());
        let slot = self.take_slot(class, cap, first);
        let to = slot as usize * cap;
        self.slabs[class].entries[to..to + items.len()].copy_from_slice(items);
        ListRef { slot, len: u16::try_from(items.len()).expect("a series holds under 65536 sealed chunks") }
    }

    /// Appends `s` to the list `r`: in its slot when there is room (lists longer than 16), else
    /// moved to a slot of the next class.
    pub(crate) fn push(&mut self, r: &mut ListRef, s: Sealed) {
        let len = r.len();
        let (class, cap) = class_of(len + 1);
        if len > 0 && class_of(len).0 == class {
            self.slabs[class].entries[r.slot as usize * cap + len] = s;
            r.len = u16::try_from(len + 1).expect("a series holds under 65536 sealed chunks");
            return;
        }
        let mut items = self.get(*r).to_vec();
        items.push(s);
        self.free_slot(*r);
        *r = self.place(&items);
    }

    /// Removes the first `n` entries of `r` (at most its length), calling `f` with each.
    pub(crate) fn drop_front(&mut self, r: &mut ListRef, n: usize, f: impl FnMut(&Sealed)) {
        let n = n.min(r.len());
        if n == 0 {
            return;
        }
        self.get(*r)[..n].iter().for_each(f);
        let rest = self.get(*r)[n..].to_vec();
        self.free_slot(*r);
        *r = self.place(&rest);
    }

    /// True when free slots hold at least as many entries as lists do and more than 1 MiB:
    /// worth rebuilding the slabs.
    pub(crate) fn needs_compaction(&self) -> bool {
        let (mut free, mut held) = (0, 0);
        for (class, slab) in self.slabs.iter().enumerate() {
            free += slab.free.len() * slot_len(class);
            held += slab.entries.len();
        }
        free * size_of::<Sealed>() > 1 << 20 && free * 2 >= held
    }

    /// Rebuilds the slabs with only the lists `live` names, updating each in place; the old
    /// slabs are freed.
    pub(crate) fn compact<'a>(&mut self, live: impl Iterator<Item = &'a mut ListRef>) {
        let old = std::mem::take(self);
        for r in live {
            *r = self.place(old.get(*r));
        }
    }

    /// Bytes of the slabs and their free lists.
    pub(crate) fn bytes(&self) -> usize {
        self.slabs.iter().map(|s| s.entries.capacity() * size_of::<Sealed>() + s.free.capacity() * 4).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_length_with_room_under_a_quarter() {
        let mut last = class_of(1);
        assert_eq!(last, (0, 1));
        for len in 2..=u16::MAX as usize {
            let (class, cap) = class_of(len);
            assert!(cap >= len && (cap - len) * 4 < len, "len {len}: cap {cap}");
            assert!(class == last.0 || class == last.0 + 1, "len {len}: class {class} after {last:?}");
            if class == last.0 {
                assert_eq!(cap, last.1, "one slot size per class");
            }
            assert_eq!(slot_len(class), cap, "len {len}");
            last = (class, cap);
        }
        assert!(last.0 < 64);
    }

    fn entry(k: u32) -> Sealed {
        let mut files = super::super::chunkfile::ChunkFiles::default();
        let mut c = super::super::chunk::Chunk::new();
        c.append(i64::from(k) * 1000, f64::from(k));
        c.into_sealed(&mut files)
    }

    /// Lists of many series, grown and cut from the front in an interleaved order (as sealing
    /// and retention do), always read back as a plain `Vec` of the same operations would, and
    /// slots freed are reused instead of growing the slabs.
    #[test]
    fn lists_match_vectors_through_pushes_and_front_drops() {
        let mut lists = SealedLists::default();
        let mut refs = vec![ListRef::default(); 50];
        let mut model: Vec<Vec<i64>> = vec![Vec::new(); 50];
        let mut next = 0u32;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for round in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = (rng % 50) as usize;
            if rng.is_multiple_of(7) || (round > 15_000 && rng.is_multiple_of(3)) {
                let n = (rng >> 8) as usize % (model[i].len() + 2);
                let mut seen = Vec::new();
                lists.drop_front(&mut refs[i], n, |c| seen.push(c.min_t()));
                let n = n.min(model[i].len());
                assert_eq!(seen, model[i].drain(..n).collect::<Vec<_>>());
            } else {
                lists.push(&mut refs[i], entry(next));
                model[i].push(i64::from(next) * 1000);
                next += 1;
            }
            let got: Vec<i64> = lists.get(refs[i]).iter().map(|c| c.min_t()).collect();
            assert_eq!(got, model[i], "series {i} after round {round}");
        }
        for (r, m) in refs.iter().zip(&model) {
            assert_eq!(lists.get(*r).iter().map(|c| c.min_t()).collect::<Vec<_>>(), *m);
        }
        // The slabs hold the live entries and the free slots lists left behind in the classes
        // they passed through (reused by the next list of that length), not an entry for every
        // push.
        let live: usize = model.iter().map(Vec::len).sum();
        let held: usize = lists.slabs.iter().map(|s| s.entries.len()).sum();
        assert!(held * 4 < next as usize, "{held} entries held for {live} live, {next} pushed");
    }

    /// Many lists moving up together leave the lower classes' slots free; compacting rebuilds
    /// the slabs with the live lists only, and every list reads back the same.
    #[test]
    fn compaction_gives_back_slots_lists_left_behind() {
        let mut lists = SealedLists::default();
        let mut refs = vec![ListRef::default(); 20_000];
        for k in 0..3 {
            for r in refs.iter_mut() {
                lists.push(r, entry(k));
            }
        }
        assert!(lists.needs_compaction(), "classes 1 and 2 are all free slots");
        let before: Vec<Vec<i64>> = refs.iter().map(|r| lists.get(*r).iter().map(|c| c.min_t()).collect()).collect();
        lists.compact(refs.iter_mut());
        assert!(!lists.needs_compaction());
        let held: usize = lists.slabs.iter().map(|s| s.entries.len()).sum();
        assert_eq!(held, 60_000);
        for (r, b) in refs.iter().zip(&before) {
            assert_eq!(lists.get(*r).iter().map(|c| c.min_t()).collect::<Vec<_>>(), *b);
        }
    }
}
