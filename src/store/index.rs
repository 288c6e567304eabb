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
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// The value or the regular expression.
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher; fails when a regex does not compile. Regexes are anchored at both ends.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher, regex::Error> {
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
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// label name → label value → sorted series ids.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    map: HashMap<Sym, HashMap<Sym, Vec<u32>, FastHash>, FastHash>,
}

impl Postings {
    pub(crate) fn add(&mut self, id: u32, labels: impl IntoIterator<Item = (Sym, Sym)>) {
        for (k, v) in labels {
            let list = self.map.entry(k).or_default().entry(v).or_default();
            // Ids are handed out in increasing order, so pushing keeps the list sorted.
            if list.last().is_none_or(|&l| l < id) {
                list.push(id);
            } else if let Err(pos) = list.binary_search(&id) {
                list.insert(pos, id);
            }
        }
    }

    pub(crate) fn remove(&mut self, id: u32, labels: impl IntoIterator<Item = (Sym, Sym)>) {
        for (k, v) in labels {
            if let Some(values) = self.map.get_mut(&k) {
                if let Some(list) = values.get_mut(&v) {
                    if let Ok(pos) = list.binary_search(&id) {
                        list.remove(pos);
                    }
                    if list.is_empty() {
                        values.remove(&v);
                    }
                }
                if values.is_empty() {
                    self.map.remove(&k);
                }
            }
        }
    }

    /// Ids of series that carry label `name` with a value accepted by `pred`, sorted.
    fn union(&self, interner: &Interner, name: Sym, pred: impl Fn(&str) -> bool) -> Vec<u32> {
        let Some(values) = self.map.get(&name) else { return Vec::new() };
        let lists: Vec<&Vec<u32>> = values.iter().filter(|(v, _)| pred(interner.get(**v))).map(|(_, l)| l).collect();
        match lists.len() {
            0 => Vec::new(),
            1 => lists[0].clone(),
            _ => {
                let mut out: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
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
            let ids = match m.op {
                MatchOp::Equal => match interner.lookup(&m.value).and_then(|v| self.map.get(&name)?.get(&v)) {
                    Some(l) => l.clone(),
                    None => Vec::new(),
                },
                _ => self.union(interner, name, |v| m.matches(v)),
            };
            acc = Some(match acc {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
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
            .map(|vals| vals.capacity() * 40 + vals.values().map(|l| l.capacity() * 4 + 24).sum::<usize>())
            .sum::<usize>()
            + self.map.capacity() * 48
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
