//! *Aggregations*: `sum avg min max count group stddev stdvar topk bottomk quantile
//! count_values limitk limit_ratio`, each over groups of an instant vector — the samples that
//! share the `by(…)` labels, or all labels but the `without(…)` ones and the metric name.
//! Sums and means are compensated (Neumaier) as Prometheus computes them.

use super::QueryError;
use super::eval::{Ctx, R};
use super::functions::Member;
use super::value::{LabelOps, Mean, Sample, Value, Variance, kahan_inc, quantile, same_signature, signature_hash};
use crate::store::Labels;
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;

/// Accumulated state of one group.
struct Group {
    labels: Labels,
    count: f64,
    sum: (f64, f64),
    mean: Mean,
    var: Variance,
    extreme: f64,
    members: Vec<Sample>,
}

pub(crate) fn eval(ctx: &Ctx, a: &AggregateExpr, t: i64) -> R<Value> {
    let op = a.op.to_string().to_lowercase();
    if matches!(op.as_str(), "sum" | "avg" | "count" | "group" | "min" | "max" | "stddev" | "stdvar")
        && a.param.is_none()
        && !ctx.is_cached(&a.expr, t)
    {
        // `sum by (…) (rate(m[5m]))` and the like: fold each series' result into its group as
        // it is computed, without building the input vector (one label set per input series).
        let mut groups = Groups::new(&op, &a.modifier);
        if let Some(r) = super::functions::stream_range_call(ctx, &a.expr, t, &mut |m, v| groups.add_member(m, v)) {
            r?;
            return Ok(Value::Vector(groups.finish(t, None)));
        }
    }
    let input = ctx.eval_vector(&a.expr, t)?;
    let (by, names) = grouping(&a.modifier);
    let group_of = |l: &Labels| if by { l.keep(&names) } else { l.remove(&names, true) };

    let mut param_scalar = None;
    let mut label_param = None;
    if let Some(p) = &a.param {
        match ctx.eval(p, t)? {
            Value::Scalar(v) => param_scalar = Some(v),
            Value::String(s) => label_param = Some(s),
            other => return Err(QueryError::bad(format!("unexpected {} parameter", other.type_name()))),
        }
    }
    let k = |v: Option<f64>| -> R<i64> {
        let v = v.unwrap_or(0.0);
        if v.is_nan() {
            return Err(QueryError::exec("Parameter value is NaN"));
        }
        if !(-9.223372036854776e18..9.223372036854776e18).contains(&v) {
            return Err(QueryError::exec(format!("Scalar value {} overflows int64", super::value::format_float(v))));
        }
        Ok(v as i64)
    };

    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            let k = k(param_scalar)?;
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let mut groups: Vec<Vec<Sample>> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for s in input {
                let g = group_of(&s.labels);
                let i = *index.entry(g).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[i].push(s);
            }
            let mut out = Vec::new();
            for mut members in groups {
                if op == "topk" {
                    members.sort_by(|x, y| desc_nan_last(x.v, y.v));
                } else if op == "bottomk" {
                    members.sort_by(|x, y| {
                        nan_last(x.v, y.v).then_with(|| x.v.partial_cmp(&y.v).unwrap_or(std::cmp::Ordering::Equal))
                    });
                }
                members.truncate(k as usize);
                out.extend(members.into_iter().map(|s| Sample { t, ..s }));
            }
            return Ok(Value::Vector(out));
        }
        "limit_ratio" => {
            // A deterministic sample of the series: each keeps its place in [0, 1) from its
            // label fingerprint, so `limit_ratio(r, x)` and `limit_ratio(r - 1, x)` split `x`.
            let r = param_scalar.unwrap_or(f64::NAN);
            if r.is_nan() {
                return Err(QueryError::exec("Ratio value is NaN"));
            }
            if !(-1.0..=1.0).contains(&r) {
                ctx.warn(format!("ratio value should be between -1 and 1, got {}", super::value::format_float(r)));
            }
            let r = r.clamp(-1.0, 1.0);
            let out = input
                .into_iter()
                .filter(|s| {
                    let place = s.labels.fingerprint() as f64 / u64::MAX as f64;
                    if r >= 0.0 { place < r } else { place >= 1.0 + r }
                })
                .map(|s| Sample { t, ..s })
                .collect();
            return Ok(Value::Vector(out));
        }
        "count_values" => {
            let label = label_param.unwrap_or_default();
            if !valid_label_name(&label) {
                return Err(QueryError::exec(format!("invalid label name {label:?}")));
            }
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for s in input {
                let g = group_of(&s.labels).with(&label, &super::value::format_float(s.v));
                let i = *index.entry(g.clone()).or_insert_with(|| {
                    counts.push((g, 0.0));
                    counts.len() - 1
                });
                counts[i].1 += 1.0;
            }
            return Ok(Value::Vector(counts.into_iter().map(|(labels, v)| Sample { labels, t, v }).collect()));
        }
        _ => {}
    }

    if op == "quantile"
        && let Some(q) = param_scalar
        && !(0.0..=1.0).contains(&q)
    {
        ctx.warn(format!("quantile value should be between 0 and 1, got {}", super::value::format_float(q)));
    }
    let mut groups = Groups::new(&op, &a.modifier);
    for s in input {
        groups.add(s)?;
    }
    Ok(Value::Vector(groups.finish(t, param_scalar)))
}

/// `(by, names)` of the grouping clause: `by (names)`, `without (names)`, or none (one group).
fn grouping(modifier: &Option<LabelModifier>) -> (bool, Vec<String>) {
    match modifier {
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
        None => (true, Vec::new()),
    }
}

/// The groups of one aggregation being accumulated. Groups are found by a hash of the grouping
/// labels (checked against the group's first member on a hit), so a sample costs no allocation
/// unless it opens a group. Series streamed from the store are grouped by their label symbols
/// ([`Groups::add_member`]): their labels are built only for a group's first member.
struct Groups<'a> {
    op: &'a str,
    by: bool,
    names: Vec<String>,
    groups: Vec<Group>,
    /// Per group: its first member's labels (built labels, found through `index`).
    first: Vec<Labels>,
    index: HashMap<u64, Vec<usize>, crate::store::FastHash>,
    /// Store series: group by grouping symbols.
    by_syms: HashMap<Box<[u32]>, usize, crate::store::FastHash>,
    /// The symbols of `names` (`None`: no series has that label name), with the interner size
    /// they were looked up at (strings may be interned or retired between two `or` sets'
    /// visits, which take the store's lock one after the other).
    syms: Option<(Vec<Option<u32>>, usize)>,
    buf: Vec<u32>,
}

/// A grouping label the series does not have.
const ABSENT: u32 = u32::MAX;

impl<'a> Groups<'a> {
    fn new(op: &'a str, modifier: &Option<LabelModifier>) -> Self {
        let (by, names) = grouping(modifier);
        Groups {
            op,
            by,
            names,
            groups: Vec::new(),
            first: Vec::new(),
            index: HashMap::default(),
            by_syms: HashMap::default(),
            syms: None,
            buf: Vec::new(),
        }
    }

    /// Adds one input sample to its group. Fails on an unknown operator.
    fn add(&mut self, s: Sample) -> R<()> {
        let (by, names) = (self.by, &self.names);
        let h = signature_hash(&s.labels, by, names);
        let slot = self.index.entry(h).or_default();
        let found = slot.iter().copied().find(|&i| same_signature(&self.first[i], &s.labels, by, names));
        let i = match found {
            Some(i) => i,
            None => {
                slot.push(self.groups.len());
                let labels = if by { s.labels.keep(names) } else { s.labels.remove(names, true) };
                self.first.push(s.labels.clone());
                self.open(labels, s.v)
            }
        };
        self.fold(i, s)
    }

    /// Adds a streamed sample to its group: a store series is grouped by its symbols.
    fn add_member(&mut self, m: Member<'_>, v: f64) -> R<()> {
        let (view, keep_name) = match m {
            Member::Built(labels) => return self.add(Sample { labels, t: 0, v }),
            Member::Stored(view, keep_name) => (view, keep_name),
        };
        debug_assert!(self.first.is_empty(), "one aggregation groups either labels or symbols");
        let epoch = view.symbol_count();
        if self.syms.as_ref().is_none_or(|(_, at)| *at != epoch) {
            self.syms = Some((self.names.iter().map(|n| view.symbol(n)).collect(), epoch));
        }
        let syms = &self.syms.as_ref().expect("looked up").0;
        // The name is dropped by the function (unless it keeps it) and by `without`.
        let name = if keep_name && self.by { None } else { view.name_symbol() };
        self.buf.clear();
        if self.by {
            for s in syms {
                let v = match s {
                    Some(s) if Some(*s) != name => view.pairs().find(|(k, _)| k == s).map_or(ABSENT, |(_, v)| v),
                    _ => ABSENT,
                };
                self.buf.push(v);
            }
        } else {
            for (k, v) in view.pairs() {
                if Some(k) != name && !syms.contains(&Some(k)) {
                    self.buf.extend([k, v]);
                }
            }
        }
        let i = match self.by_syms.get(self.buf.as_slice()) {
            Some(&i) => i,
            None => {
                self.by_syms.insert(self.buf.as_slice().into(), self.groups.len());
                let labels = view.labels(!keep_name);
                let labels = if self.by { labels.keep(&self.names) } else { labels.remove(&self.names, true) };
                self.open(labels, v)
            }
        };
        self.fold(i, Sample { labels: Labels::default(), t: 0, v })
    }

    /// Opens a group with these labels; returns its index.
    fn open(&mut self, labels: Labels, first: f64) -> usize {
        self.groups.push(Group {
            labels,
            count: 0.0,
            sum: (0.0, 0.0),
            mean: Mean::default(),
            var: Variance::default(),
            extreme: first,
            members: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// Folds sample `s` into group `i`.
    fn fold(&mut self, i: usize, s: Sample) -> R<()> {
        let g = &mut self.groups[i];
        g.count += 1.0;
        let f = s.v;
        match self.op {
            "sum" => g.sum = kahan_inc(f, g.sum.0, g.sum.1),
            "avg" => g.mean.add(f),
            "stddev" | "stdvar" => g.var.add(f),
            "min" => {
                if f < g.extreme || g.extreme.is_nan() {
                    g.extreme = f
                }
            }
            "max" => {
                if f > g.extreme || g.extreme.is_nan() {
                    g.extreme = f
                }
            }
            "quantile" => g.members.push(s),
            "count" | "group" => {}
            other => return Err(QueryError::bad(format!("unknown aggregation {other:?}"))),
        }
        Ok(())
    }

    /// One sample per group, at `t`; `param` is the quantile of `quantile`.
    fn finish(self, t: i64, param: Option<f64>) -> Vec<Sample> {
        let op = self.op;
        self.groups
            .into_iter()
            .map(|g| {
                let v = match op {
                    "sum" => {
                        if g.sum.0.is_infinite() {
                            g.sum.0
                        } else {
                            g.sum.0 + g.sum.1
                        }
                    }
                    "avg" => g.mean.value(),
                    "stddev" => g.var.value().sqrt(),
                    "stdvar" => g.var.value(),
                    "min" | "max" => g.extreme,
                    "count" => g.count,
                    "group" => 1.0,
                    _ => {
                        let mut vals: Vec<f64> = g.members.iter().map(|s| s.v).collect();
                        quantile(param.unwrap_or(f64::NAN), &mut vals)
                    }
                };
                Sample { labels: g.labels, t, v }
            })
            .collect()
    }
}

/// Descending by value, NaN last.
fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    a.is_nan().cmp(&b.is_nan())
}

/// Whether `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`; UTF-8 names are allowed in
/// Prometheus 3, so only the empty name is refused).
pub(crate) fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}
