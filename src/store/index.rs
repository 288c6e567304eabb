//! The *postings index* and *label matchers*. For every label name and value, the sorted list
//! of series ids carrying it; a selector is answered by intersecting the lists of the matchers
//! that need the label present, then filtering by the others — never by scanning every series
//! (unless every matcher also matches an absent label, which PromQL itself rejects).

use super::FastHash;
use super::labels::{Interner, Sym};
use regex::Regex;
use std::collections::HashMap;

/// How a matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// A label matcher: `name op "value"`. An absent label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name (`__name__` for the metric name).
    pub(crate) name: String,
    /// Comparison.
    pub(crate) op: MatchOp,
    /// The value or the regular expression.
    pub(crate) value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher; fails when a regex does not compile. Regexes are anchored at both ends.
    pub(crate) fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher, regex::Error> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, re })
    }

    /// `name = value`.
    pub fn eq(name: &str, value: &str) -> Matcher {
        Matcher { name: name.into(), op: MatchOp::Equal, value: value.into(), re: None }
    }

    /// Whether a label value (or "" for absent) satisfies the matcher.
    pub(crate) fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// A *postings list*: the sorted ids of the series carrying one label value, stored as the
/// LEB128 gaps between them. Ids are handed out in increasing order and the series of a label
/// value are seldom far apart, so most gaps take one byte instead of a `u32`'s four.
#[derive(Debug, Default)]
struct List {
    gaps: Vec<u8>,
    last: u32,
    len: u32,
}

impl List {
    fn from_sorted(ids: impl IntoIterator<Item = u32>) -> List {
        let mut l = List::default();
        for id in ids {
            l.push(id);
        }
        l.gaps.shrink_to_fit();
        l
    }

    /// Appends `id`, which must be greater than every id in the list.
    fn push(&mut self, id: u32) {
        let mut gap = if self.len == 0 { id } else { id - self.last };
        while gap >= 0x80 {
            self.gaps.push((gap as u8) | 0x80);
            gap >>= 7;
        }
        self.gaps.push(gap as u8);
        self.last = id;
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut bytes = self.gaps.iter();
        let mut prev = 0u32;
        (0..self.len).map(move |_| {
            let (mut gap, mut shift) = (0u32, 0);
            for &b in bytes.by_ref() {
                gap |= u32::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            prev += gap;
            prev
        })
    }

    fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len as usize);
        v.extend(self.iter());
        v
    }

    /// Adds `id` anywhere (rebuilding the list unless it goes at the end); no-op when present.
    fn insert(&mut self, id: u32) {
        if self.len == 0 || id > self.last {
            return self.push(id);
        }
        let mut ids = self.to_vec();
        if let Err(pos) = ids.binary_search(&id) {
            ids.insert(pos, id);
            *self = List::from_sorted(ids);
        }
    }

    /// Removes `id` if present (rebuilding the list).
    #[cfg(test)]
    fn remove(&mut self, id: u32) {
        if self.len == 0 || id > self.last {
            return;
        }
        let before = self.len;
        let rest = List::from_sorted(self.iter().filter(|&i| i != id));
        if rest.len < before {
            *self = rest;
        }
    }

    fn bytes(&self) -> usize {
        self.gaps.capacity() + std::mem::size_of::<List>()
    }
}

/// label name → label value → postings list.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    map: HashMap<Sym, HashMap<Sym, List, FastHash>, FastHash>,
    /// Lists grew since the last [`Postings::shrink`].
    grown: bool,
}

impl Postings {
    pub(crate) fn add(&mut self, id: u32, labels: impl IntoIterator<Item = (Sym, Sym)>) {
        self.grown = true;
        for (k, v) in labels {
            self.map.entry(k).or_default().entry(v).or_default().insert(id);
        }
    }

    /// The length of the list of label `name=value` (0 when there is none).
    pub(crate) fn list_len(&self, (name, value): (Sym, Sym)) -> usize {
        self.map.get(&name).and_then(|v| v.get(&value)).map_or(0, |l| l.len as usize)
    }

    /// Removes many ids at once: each list named in `by_label` is rebuilt once without its
    /// ids (linear in the lists' sizes, where removing one id at a time was quadratic).
    pub(crate) fn remove_many(&mut self, by_label: HashMap<(Sym, Sym), Vec<u32>>) {
        for ((k, v), mut ids) in by_label {
            ids.sort_unstable();
            let Some(values) = self.map.get_mut(&k) else { continue };
            if let Some(list) = values.get_mut(&v) {
                // Both sorted: one walk over the list.
                let mut gone = ids.iter().copied().peekable();
                let rest = List::from_sorted(list.iter().filter(|&i| {
                    while gone.next_if(|&g| g < i).is_some() {}
                    gone.next_if_eq(&i).is_none()
                }));
                if rest.len == 0 {
                    values.remove(&v);
                } else {
                    *list = rest;
                }
            }
            if values.is_empty() {
                self.map.remove(&k);
            }
        }
    }

    /// Gives back the growth room of lists that stopped growing (a `Vec` doubles; a target's
    /// first scrape leaves up to half of every list it filled unused).
    pub(crate) fn shrink(&mut self) {
        self.grown = false;
        for l in self.map.values_mut().flat_map(|v| v.values_mut()) {
            if l.gaps.capacity() > l.gaps.len() + l.gaps.len() / 8 + 16 {
                l.gaps.shrink_to_fit();
            }
        }
    }

    /// Whether lists grew since the last [`Postings::shrink`].
    pub(crate) fn grown(&self) -> bool {
        self.grown
    }

    /// Ids of series that carry label `name` with a value accepted by `pred`, sorted.
    fn union(&self, interner: &Interner, name: Sym, pred: impl Fn(&str) -> bool) -> Vec<u32> {
        let Some(values) = self.map.get(&name) else { return Vec::new() };
        let lists: Vec<&List> = values.iter().filter(|(v, _)| pred(interner.get(**v))).map(|(_, l)| l).collect();
        match lists.len() {
            0 => Vec::new(),
            1 => lists[0].to_vec(),
            _ => {
                let mut out: Vec<u32> = Vec::with_capacity(lists.iter().map(|l| l.len as usize).sum());
                for l in lists {
                    out.extend(l.iter());
                }
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }

    /// Candidate ids for `matchers`: the intersection over the matchers that need their label
    /// present; `None` when no matcher narrows (the caller must then consider every series).
    pub(crate) fn candidates(&self, interner: &Interner, matchers: &[Matcher]) -> Option<Vec<u32>> {
        let mut acc: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches("")) {
            let Some(name) = interner.lookup(&m.name) else { return Some(Vec::new()) };
            acc = Some(match (m.op, acc) {
                (MatchOp::Equal, acc) => match interner.lookup(&m.value).and_then(|v| self.map.get(&name)?.get(&v)) {
                    Some(l) => match acc {
                        None => l.to_vec(),
                        Some(prev) => intersect(&prev, l.iter()),
                    },
                    None => Vec::new(),
                },
                (_, None) => self.union(interner, name, |v| m.matches(v)),
                (_, Some(prev)) => intersect(&prev, self.union(interner, name, |v| m.matches(v)).into_iter()),
            });
            if acc.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        acc
    }

    /// All values seen for label `name`.
    pub(crate) fn values(&self, name: Sym) -> impl Iterator<Item = Sym> + '_ {
        self.map.get(&name).into_iter().flat_map(|m| m.keys().copied())
    }

    /// All label names.
    pub(crate) fn names(&self) -> impl Iterator<Item = Sym> + '_ {
        self.map.keys().copied()
    }

    /// Estimated bytes held by the index.
    pub(crate) fn bytes(&self) -> usize {
        self.map
            .values()
            .map(|vals| vals.capacity() * 40 + vals.values().map(List::bytes).sum::<usize>())
            .sum::<usize>()
            + self.map.capacity() * 48
    }
}

/// The ids of sorted `a` that sorted `b` also yields.
fn intersect(a: &[u32], b: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut i = 0;
    for id in b {
        while i < a.len() && a[i] < id {
            i += 1;
        }
        if i == a.len() {
            break;
        }
        if a[i] == id {
            out.push(id);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::List;

    #[test]
    fn postings_lists_keep_sorted_ids_through_pushes_inserts_and_removals() {
        let mut ids: Vec<u32> = vec![0, 1, 2, 127, 128, 300, 16_384, 16_385, 2_000_000, u32::MAX - 1];
        let mut l = List::default();
        for &id in &ids {
            l.insert(id);
        }
        assert_eq!(l.to_vec(), ids);
        l.insert(129);
        l.insert(300); // present: no change
        ids.insert(5, 129);
        assert_eq!(l.to_vec(), ids);
        for id in [0, 16_384, u32::MAX - 1, 5] {
            l.remove(id);
            ids.retain(|&i| i != id);
        }
        assert_eq!(l.to_vec(), ids);
        assert_eq!(l.len as usize, ids.len());
        l.push(u32::MAX);
        assert_eq!(l.iter().last(), Some(u32::MAX));
        // Dense ids take a byte each.
        let dense = List::from_sorted(0..10_000);
        assert!(dense.gaps.len() <= 10_000, "{}", dense.gaps.len());
    }

    #[test]
    fn intersect_keeps_common_ids() {
        assert_eq!(super::intersect(&[1, 3, 5, 7, 9], [0, 3, 4, 5, 9, 10].into_iter()), vec![3, 5, 9]);
        assert_eq!(super::intersect(&[], [1, 2].into_iter()), Vec::<u32>::new());
    }
}
