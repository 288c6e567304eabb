//! *Cardinality*: what the store holds, by metric name and by label — the numbers behind
//! `/api/v1/status/tsdb` (Prometheus' "TSDB status" page), which tell a sidecar's owner which
//! metric or label makes the series count grow. Computed from the postings index: one pass over
//! the label names and their values, no chunk bytes read.

use super::Store;
use super::labels::Sym;
use std::cmp::Reverse;

/// The head statistics and the top entries of each list (`limit` each, largest first).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Cardinality {
    /// Series held.
    pub(crate) num_series: usize,
    /// Distinct label pairs (name=value) in the index.
    pub(crate) num_label_pairs: usize,
    /// Chunks held (sealed and head).
    pub(crate) chunk_count: usize,
    /// Oldest and newest sample time (ms); `None` when the store is empty.
    pub(crate) time_range: Option<(i64, i64)>,
    /// Series per metric name.
    pub(crate) series_by_metric: Vec<(String, usize)>,
    /// Distinct values per label name.
    pub(crate) values_by_label: Vec<(String, usize)>,
    /// Bytes of all values per label name.
    pub(crate) bytes_by_label: Vec<(String, usize)>,
    /// Series per `name=value` pair.
    pub(crate) series_by_pair: Vec<(String, usize)>,
}

fn top(mut v: Vec<(String, usize)>, limit: usize) -> Vec<(String, usize)> {
    v.sort_unstable_by(|a, b| (Reverse(a.1), &a.0).cmp(&(Reverse(b.1), &b.0)));
    v.truncate(limit);
    v
}

/// The `limit` pairs with the most series (which of several tied at the cut is kept is not
/// defined), still as symbols.
fn top_syms(mut v: Vec<(usize, Sym, Sym)>, limit: usize) -> Vec<(usize, Sym, Sym)> {
    if v.len() > limit {
        v.select_nth_unstable_by_key(limit, |p| Reverse(p.0));
        v.truncate(limit);
    }
    v
}

impl Store {
    /// The store's cardinality, each list cut to its `limit` largest entries.
    pub(crate) fn cardinality(&self, limit: usize) -> Cardinality {
        let inner = self.read();
        let mut c = Cardinality { num_series: inner.series.len(), ..Default::default() };
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for s in inner.series.values() {
            let first = s.first_t(&inner.files);
            if first != i64::MAX {
                min_t = min_t.min(first);
                max_t = max_t.max(s.last_t());
            }
            c.chunk_count += inner.files.lists.get(s.sealed).len() + 1;
        }
        c.time_range = (min_t <= max_t).then_some((min_t, max_t));
        // Pairs are counted as symbols and only the top ones become text: a store of a million
        // distinct pairs makes no million strings while it holds the lock appends wait for.
        let (mut by_label, mut bytes, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        for name in inner.postings.names() {
            let name_s = inner.interner.get(name);
            let (mut n, mut b) = (0usize, 0usize);
            for value in inner.postings.values(name) {
                let series = inner.postings.list_len((name, value));
                if series == 0 {
                    continue; // a list emptied by a collection not yet swept
                }
                n += 1;
                b += inner.interner.get(value).len();
                pairs.push((series, name, value));
            }
            if n > 0 {
                by_label.push((name_s.to_string(), n));
                bytes.push((name_s.to_string(), b));
            }
        }
        let text = |v: Vec<(usize, Sym, Sym)>, with_name: bool| -> Vec<(String, usize)> {
            let named = top_syms(v, limit)
                .into_iter()
                .map(|(n, name, value)| {
                    let (name, value) = (inner.interner.get(name), inner.interner.get(value));
                    (if with_name { format!("{name}={value}") } else { value.to_string() }, n)
                })
                .collect();
            top(named, limit) // largest first, ties by name
        };
        let metric = inner.interner.lookup(super::NAME);
        let by_metric: Vec<(usize, Sym, Sym)> = pairs.iter().filter(|p| Some(p.1) == metric).copied().collect();
        c.series_by_metric = text(by_metric, false);
        c.num_label_pairs = pairs.len();
        c.values_by_label = top(by_label, limit);
        c.bytes_by_label = top(bytes, limit);
        c.series_by_pair = text(pairs, true);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    #[test]
    fn counts_series_by_metric_and_label() {
        let store = Store::new(1000, i64::MAX / 4);
        for i in 0..30 {
            let inst = format!("h{}", i % 3);
            let path = format!("/p{i}");
            let id = store
                .get_or_create([("__name__", "http_requests_total"), ("instance", &inst), ("path", &path)])
                .unwrap();
            store.append(id, 1000 + i, 1.0).unwrap();
        }
        let id = store.get_or_create([("__name__", "up"), ("instance", "h0")]).unwrap();
        store.append(id, 500, 1.0).unwrap();
        let c = store.cardinality(2);
        assert_eq!(c.num_series, 31);
        assert_eq!(c.time_range, Some((500, 1029)));
        assert_eq!(c.series_by_metric, vec![("http_requests_total".into(), 30), ("up".into(), 1)]);
        assert_eq!(c.values_by_label, vec![("path".into(), 30), ("instance".into(), 3)]);
        assert_eq!(c.series_by_pair, vec![("__name__=http_requests_total".into(), 30), ("instance=h0".into(), 11)]);
        assert_eq!(c.num_label_pairs, 2 + 3 + 30);
        assert!(c.chunk_count >= 31);
    }
}
