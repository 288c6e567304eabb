//! *Values* a PromQL expression evaluates to — a scalar, a string, an *instant vector* (one
//! sample per series at the evaluation time) or a *range vector* (a window of samples per
//! series) — and the label-set operations the evaluator needs (dropping the metric name,
//! keeping or removing labels, the *matching signature* used to pair series).

use crate::store::Labels;
use std::sync::Arc;

/// The metric name label.
pub(crate) const NAME: &str = "__name__";

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub(crate) labels: Labels,
    /// Timestamp in ms: the sample's own for a plain selector (what `timestamp()` reads), else
    /// the evaluation time.
    pub(crate) t: i64,
    /// The value.
    pub(crate) v: f64,
}

/// One series of a range vector or of a range query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub(crate) labels: Labels,
    /// `(timestamp ms, value)`, oldest first.
    pub(crate) points: Vec<(i64, f64)>,
}

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number (with the evaluation time).
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector (or a range query's result).
    Matrix(Vec<Series>),
}

impl Value {
    /// The PromQL type name, as in error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Label-set operations used while evaluating.
pub(crate) trait LabelOps {
    /// Without `__name__`.
    fn without_name(&self) -> Labels;
    /// Without `__name__`, reusing `self` when it has none.
    fn into_without_name(self) -> Labels;
    /// Only the labels named in `names`.
    fn keep(&self, names: &[String]) -> Labels;
    /// Without the labels named in `names` (and without `__name__` when `drop_name`).
    fn remove(&self, names: &[String], drop_name: bool) -> Labels;
    /// With `name` set to `value` (removed when `value` is empty).
    fn with(&self, name: &str, value: &str) -> Labels;
}

impl LabelOps for Labels {
    fn without_name(&self) -> Labels {
        if self.0.iter().any(|(k, _)| &**k == NAME) {
            Labels(self.0.iter().filter(|(k, _)| &**k != NAME).cloned().collect())
        } else {
            self.clone()
        }
    }

    fn into_without_name(self) -> Labels {
        if self.0.iter().any(|(k, _)| &**k == NAME) { self.without_name() } else { self }
    }

    fn keep(&self, names: &[String]) -> Labels {
        Labels(self.0.iter().filter(|(k, _)| names.iter().any(|n| n == &**k)).cloned().collect())
    }

    fn remove(&self, names: &[String], drop_name: bool) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| !(names.iter().any(|n| n == &**k) || drop_name && &**k == NAME))
                .cloned()
                .collect(),
        )
    }

    fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<(Arc<str>, Arc<str>)> = self.0.iter().filter(|(k, _)| &**k != name).cloned().collect();
        if !value.is_empty() {
            let pos = v.partition_point(|(k, _)| &**k < name);
            v.insert(pos, (Arc::from(name), Arc::from(value)));
        }
        Labels(v)
    }
}

/// The labels a *matching signature* covers — `on(names)` when `on`, else every label but
/// `names` and `__name__` — as `(name, value)` pairs in order, without allocating.
fn taken<'a>(labels: &'a Labels, on: bool, names: &'a [String]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    labels.0.iter().map(|(k, v)| (&**k, &**v)).filter(move |(k, _)| {
        let listed = names.iter().any(|n| n == k);
        if on { listed } else { !listed && *k != NAME }
    })
}

/// A 64-bit hash of a label set's matching signature; pair it with [`same_signature`] on
/// collisions.
pub(crate) fn signature_hash(labels: &Labels, on: bool, names: &[String]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    for (k, v) in taken(labels, on, names) {
        h.write(k.as_bytes());
        h.write_u8(0xff);
        h.write(v.as_bytes());
        h.write_u8(0xfe);
    }
    h.finish()
}

/// Whether two label sets have the same signature.
pub(crate) fn same_signature(a: &Labels, b: &Labels, on: bool, names: &[String]) -> bool {
    taken(a, on, names).eq(taken(b, on, names))
}

/// A label set as Prometheus prints it in errors: `{__name__="x", a="b"}`.
pub(crate) fn raw_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.0.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Formats a float as Prometheus does in label values and results (`strconv 'f', -1`).
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Neumaier-compensated summation step, as Prometheus sums: returns the new sum and the
/// new compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A running mean that stays exact for large inputs (Prometheus' `avg` and `avg_over_time`):
/// a compensated sum until it overflows, then an incremental mean.
#[derive(Default, Clone, Copy)]
pub(crate) struct Mean {
    sum: f64,
    c: f64,
    mean: f64,
    count: f64,
    incremental: bool,
}

impl Mean {
    pub(crate) fn add(&mut self, f: f64) {
        self.count += 1.0;
        if !self.incremental {
            let (s, c) = kahan_inc(f, self.sum, self.c);
            if self.count == 1.0 || !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            if f.is_infinite() && (self.mean > 0.0) == (f > 0.0) {
                return;
            }
            if !f.is_infinite() && !f.is_nan() {
                return;
            }
        }
        let corrected = self.mean + self.c;
        let (m, c) = kahan_inc(f / self.count - corrected / self.count, self.mean, self.c);
        self.mean = m;
        self.c = c;
    }

    pub(crate) fn value(&self) -> f64 {
        if self.incremental { self.mean + self.c } else { (self.sum + self.c) / self.count }
    }
}

/// Running variance (population), compensated as Prometheus computes `stdvar`.
#[derive(Default, Clone, Copy)]
pub(crate) struct Variance {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

impl Variance {
    pub(crate) fn add(&mut self, f: f64) {
        self.count += 1.0;
        let delta = f - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = kahan_inc(delta / self.count, self.mean, self.c_mean);
        (self.aux, self.c_aux) = kahan_inc(delta * (f - (self.mean + self.c_mean)), self.aux, self.c_aux);
    }

    pub(crate) fn value(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }
}

/// The φ-quantile of `values` as Prometheus computes it (sorts `values`; NaN first).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}
