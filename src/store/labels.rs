//! *Label sets* and their *fingerprint*. A series is identified by its label set: the metric
//! name as `__name__` plus every label, sorted by name. Strings are interned once per store
//! ([`Interner`]), so a label set is a short slice of symbol pairs. The fingerprint is a 64-bit
//! FNV-1a hash over the sorted names and values (separated by 0xff, as in Prometheus), stable
//! across restarts and versions.

use std::collections::HashMap;
use std::sync::Arc;

/// An interned string.
pub(crate) type Sym = u32;

/// The metric name label.
pub(crate) const NAME: &str = "__name__";

/// Interns label names and values.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, Sym, super::FastHash>,
    strs: Vec<Arc<str>>,
    /// While a sweep runs in steps: which symbols are in use. A string interned again in
    /// the meantime is marked here, so a later step does not free it.
    sweeping: Option<Vec<bool>>,
}

impl Interner {
    /// The symbol for `s`, creating it if new.
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            if let Some(used) = self.sweeping.as_mut().and_then(|u| u.get_mut(id as usize)) {
                *used = true;
            }
            return id;
        }
        let id = self.strs.len() as Sym;
        let a: Arc<str> = Arc::from(s);
        self.strs.push(a.clone());
        self.ids.insert(a, id);
        id
    }

    /// The symbol for `s` if it was ever interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }

    /// The string of a symbol.
    pub(crate) fn get(&self, id: Sym) -> &Arc<str> {
        &self.strs[id as usize]
    }

    /// Frees the strings of the symbols `used` does not mark (by symbol). A freed symbol is
    /// retired, never handed out again (the same string interned later gets a new one), so a
    /// stale symbol can only ever read as "".
    /// Starts a sweep in steps: `used` marks the symbols in use now (by symbol); those
    /// interned again before a step frees them are kept.
    pub(crate) fn begin_sweep(&mut self, used: Vec<bool>) {
        self.sweeping = Some(used);
    }

    /// Frees the unused strings among the symbols `range` (see [`Interner::begin_sweep`]).
    pub(crate) fn sweep_step(&mut self, range: std::ops::Range<usize>) {
        let Some(used) = &self.sweeping else { return };
        let empty: Arc<str> = Arc::from("");
        let end = range.end.min(self.strs.len()).min(used.len());
        let start = range.start.min(end);
        for (s, &u) in self.strs[start..end].iter_mut().zip(&used[start..end]) {
            if !u && !s.is_empty() {
                self.ids.remove(&**s);
                *s = empty.clone();
            }
        }
    }

    /// Ends a sweep.
    pub(crate) fn end_sweep(&mut self) {
        self.sweeping = None;
    }

    /// Symbols handed out (live or retired).
    pub(crate) fn len(&self) -> usize {
        self.strs.len()
    }

    /// Bytes held by the interned strings and the table (an estimate).
    pub(crate) fn bytes(&self) -> usize {
        self.strs.iter().map(|s| s.len() + 16).sum::<usize>() + self.ids.capacity() * 24 + self.strs.capacity() * 16
    }
}

/// Where a series' label set is in the [`LabelArena`] (8 bytes, where a boxed slice of symbol
/// pairs took 16 and a heap block of 64 for six labels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelRef {
    off: u32,
    len: u32,
}

/// The *label arena*: the label sets of a store's series, one after another in one byte
/// vector, each as its sorted symbol pairs in LEB128. Label names are few and interned first, so
/// most take one byte; a six-label set takes ~15 bytes instead of 48. Sets are written once (a
/// series' labels never change); a removed series' bytes become garbage, compacted away when
/// they are half of the arena.
#[derive(Debug, Default)]
pub(crate) struct LabelArena {
    bytes: Vec<u8>,
    garbage: usize,
}

impl LabelArena {
    /// Stores a label set. The arena is bounded by `store.max_series` label sets, far below
    /// the 4 GiB a `u32` offset reaches.
    pub(crate) fn push(&mut self, pairs: &[(Sym, Sym)]) -> LabelRef {
        let off = self.bytes.len();
        for &(k, v) in pairs {
            put_leb(&mut self.bytes, k);
            put_leb(&mut self.bytes, v);
        }
        LabelRef { off: off as u32, len: (self.bytes.len() - off) as u32 }
    }

    /// The symbol pairs of a set, sorted by name.
    pub(crate) fn get(&self, r: LabelRef) -> LabelPairs<'_> {
        let (from, to) = (r.off as usize, r.off as usize + r.len as usize);
        LabelPairs { bytes: self.bytes.get(from..to).unwrap_or(&[]) }
    }

    /// Forgets a set (its bytes are garbage until [`LabelArena::compact`]).
    pub(crate) fn free(&mut self, r: LabelRef) {
        self.garbage += r.len as usize;
    }

    /// True when garbage is half of the arena (and worth a pass).
    pub(crate) fn needs_compaction(&self) -> bool {
        self.garbage >= 4096 && self.garbage * 2 >= self.bytes.len()
    }

    /// Rewrites the arena with only the sets `live` points at, updating each in place.
    pub(crate) fn compact<'a>(&mut self, live: impl Iterator<Item = &'a mut LabelRef>) {
        let mut out = Vec::with_capacity(self.bytes.len() - self.garbage.min(self.bytes.len()));
        for r in live {
            let (from, to) = (r.off as usize, r.off as usize + r.len as usize);
            let off = out.len() as u32;
            out.extend_from_slice(&self.bytes[from..to]);
            r.off = off;
        }
        self.bytes = out;
        self.garbage = 0;
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

fn put_leb(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The symbol pairs of one label set, decoded from the arena.
#[derive(Clone)]
pub(crate) struct LabelPairs<'a> {
    bytes: &'a [u8],
}

impl LabelPairs<'_> {
    fn leb(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            v |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

impl Iterator for LabelPairs<'_> {
    type Item = (Sym, Sym);

    fn next(&mut self) -> Option<(Sym, Sym)> {
        Some((self.leb()?, self.leb()?))
    }
}

/// A label set as owned strings, sorted by name; what queries return.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(pub Vec<(Arc<str>, Arc<str>)>);

impl Labels {
    /// Builds a sorted label set from pairs (later duplicates replace earlier ones).
    pub(crate) fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels {
        let mut v: Vec<(Arc<str>, Arc<str>)> =
            pairs.into_iter().map(|(k, v)| (Arc::from(k.as_ref()), Arc::from(v.as_ref()))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1.clone();
                true
            } else {
                false
            }
        });
        Labels(v)
    }

    /// The value of label `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// The metric name (`__name__`), or "".
    pub(crate) fn metric_name(&self) -> &str {
        self.get(NAME).unwrap_or("")
    }

    /// The stable 64-bit fingerprint.
    pub(crate) fn fingerprint(&self) -> u64 {
        fingerprint(self.0.iter().map(|(k, v)| (&**k, &**v)))
    }
}

impl std::fmt::Display for Labels {
    /// `name{a="x", b="y"}` in PromQL notation.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.metric_name())?;
        let rest: Vec<_> = self.0.iter().filter(|(k, _)| &**k != NAME).collect();
        if rest.is_empty() && !self.metric_name().is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// FNV-1a over `name 0xff value 0xff …` of pairs sorted by name.
pub(crate) fn fingerprint<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in pairs {
        eat(k.as_bytes());
        eat(&[0xff]);
        eat(v.as_bytes());
        eat(&[0xff]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_dedupe_and_fingerprint_stably() {
        let a = Labels::from_pairs([("b", "2"), ("__name__", "m"), ("a", "1")]);
        let b = Labels::from_pairs([("a", "1"), ("b", "2"), ("__name__", "m")]);
        assert_eq!(a, b);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), Labels::from_pairs([("__name__", "m"), ("a", "1b"), ("b", "2")]).fingerprint());
        assert_eq!(a.to_string(), "m{a=\"1\", b=\"2\"}");
        let d = Labels::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(d.get("a"), Some("2"));
    }
}
