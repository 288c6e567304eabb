//! *Binary operators*: arithmetic, comparison (filtering, or 0/1 with `bool`) and the set
//! operators `and`/`or`/`unless`, between scalars and vectors. Two vectors are paired by
//! *vector matching*: each sample's signature over the `on(…)` labels, or over every label but
//! `ignoring(…)` ones and the name; `group_left`/`group_right` allow many-to-one matches and
//! copy the listed labels from the "one" side. Errors are Prometheus' own.

use super::QueryError;
use super::eval::{Ctx, R, check_unique};
use super::value::{LabelOps, Sample, Value, raw_labels, same_signature, signature_hash};
use crate::store::Labels;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::HashMap;

/// Which operator, by its PromQL spelling.
fn op_name(b: &BinaryExpr) -> String {
    b.op.to_string().to_lowercase()
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Applies `op` to two floats: `(value, keep)`; comparisons keep `l` when true.
pub(crate) fn apply(op: &str, l: f64, r: f64) -> R<(f64, bool)> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(QueryError::bad(format!("operator {other:?} not allowed here"))),
    })
}

pub(crate) fn eval(ctx: &Ctx, b: &BinaryExpr, t: i64) -> R<Value> {
    let op = op_name(b);
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if b.modifier.as_ref().is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
        return Err(QueryError::bad("fill modifiers are an experimental feature and not enabled"));
    }
    let comparison = is_comparison(&op);
    if comparison
        && !return_bool
        && let Some(r) = number_literal(&b.rhs)
        && !ctx.is_cached(&b.lhs, t)
    {
        // `resets(m[2m]) > 0` and the like: filter each series' result as it is computed
        // instead of building the whole vector first (the output is usually tiny).
        let mut out = Vec::new();
        let streamed = super::functions::stream_range_call(ctx, &b.lhs, t, &mut |m, v| {
            // Only the series that pass get their labels built.
            if apply(&op, v, r)?.1 {
                out.push(Sample { labels: m.into_labels(), t, v });
            }
            Ok(())
        });
        if let Some(res) = streamed {
            res?;
            return Ok(Value::Vector(out));
        }
    }
    let lhs = ctx.eval(&b.lhs, t)?;
    let rhs = ctx.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(&op, l, r)?;
            Ok(Value::Scalar(if comparison { if keep { 1.0 } else { 0.0 } } else { v }))
        }
        (Value::Vector(l), Value::Scalar(r)) => scalar_op(&op, l, r, false, return_bool, t),
        (Value::Scalar(l), Value::Vector(r)) => scalar_op(&op, r, l, true, return_bool, t),
        (Value::Vector(l), Value::Vector(r)) => {
            let out = match op.as_str() {
                "and" | "or" | "unless" => set_op(&op, b, l, r),
                _ => vector_op(&op, b, l, r, return_bool, t)?,
            };
            Ok(Value::Vector(check_unique(out)?))
        }
        (l, r) => Err(QueryError::bad(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

/// The number `e` is, through parentheses, when it is a literal.
fn number_literal(e: &promql_parser::parser::Expr) -> Option<f64> {
    match super::functions::unparen(e) {
        promql_parser::parser::Expr::NumberLiteral(n) => Some(n.val),
        _ => None,
    }
}

/// Vector op scalar (or scalar op vector when `swap`).
fn scalar_op(op: &str, vec: Vec<Sample>, s: f64, swap: bool, return_bool: bool, t: i64) -> R<Value> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(vec.len());
    for mut x in vec {
        let (l, r) = if swap { (s, x.v) } else { (x.v, s) };
        let (mut v, keep) = apply(op, l, r)?;
        if comparison && swap {
            v = r;
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        if !comparison || return_bool {
            x.labels = x.labels.into_without_name();
        }
        out.push(Sample { labels: x.labels, t, v });
    }
    Ok(Value::Vector(check_unique(out)?))
}

/// `(on, names)` of the matching clause; no clause means `ignoring()`.
fn matching(b: &BinaryExpr) -> (bool, Vec<String>) {
    match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
        None => (false, Vec::new()),
    }
}

/// Samples indexed by their matching signature (a hash, checked on collision).
struct SigIndex<'a> {
    samples: &'a [Sample],
    map: HashMap<u64, Vec<usize>, crate::store::FastHash>,
    on: bool,
    names: &'a [String],
}

impl<'a> SigIndex<'a> {
    fn new(on: bool, names: &'a [String], samples: &'a [Sample]) -> Self {
        SigIndex { samples, map: HashMap::default(), on, names }
    }

    /// The index of a sample already added with the same signature as `labels`.
    fn find(&self, labels: &Labels) -> Option<usize> {
        let h = signature_hash(labels, self.on, self.names);
        self.map
            .get(&h)?
            .iter()
            .copied()
            .find(|&i| same_signature(&self.samples[i].labels, labels, self.on, self.names))
    }

    /// Adds sample `i`; returns the index of an earlier one with the same signature, if any.
    fn insert(&mut self, i: usize) -> Option<usize> {
        if let Some(prev) = self.find(&self.samples[i].labels) {
            return Some(prev);
        }
        let h = signature_hash(&self.samples[i].labels, self.on, self.names);
        self.map.entry(h).or_default().push(i);
        None
    }

    fn of(on: bool, names: &'a [String], samples: &'a [Sample]) -> Self {
        let mut idx = SigIndex::new(on, names, samples);
        for i in 0..samples.len() {
            idx.insert(i);
        }
        idx
    }
}

fn set_op(op: &str, b: &BinaryExpr, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    let (on, names) = matching(b);
    match op {
        "and" | "unless" => {
            let keep: Vec<bool> = {
                let right = SigIndex::of(on, &names, &rhs);
                lhs.iter().map(|s| right.find(&s.labels).is_some() == (op == "and")).collect()
            };
            lhs.into_iter().zip(keep).filter_map(|(s, k)| k.then_some(s)).collect()
        }
        _ => {
            let add: Vec<bool> = {
                let left = SigIndex::of(on, &names, &lhs);
                rhs.iter().map(|s| left.find(&s.labels).is_none()).collect()
            };
            let mut out = lhs;
            out.extend(rhs.into_iter().zip(add).filter_map(|(s, k)| k.then_some(s)));
            out
        }
    }
}

fn vector_op(
    op: &str,
    b: &BinaryExpr,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    return_bool: bool,
    t: i64,
) -> R<Vec<Sample>> {
    let (on, names) = matching(b);
    let card = b.modifier.as_ref().map(|m| m.card.clone()).unwrap_or(VectorMatchCardinality::OneToOne);
    let include: Vec<String> = match &card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => l.labels.clone(),
        _ => Vec::new(),
    };
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let comparison = is_comparison(op);
    let drop_name = !comparison || return_bool;

    // The "one" side, indexed by signature; a repeated signature is a many-to-many match.
    let mut right = SigIndex::new(on, &names, &one);
    for i in 0..one.len() {
        if let Some(prev) = right.insert(i) {
            let (s, prev) = (&one[i], &one[prev]);
            let side = if one_to_many { "left" } else { "right" };
            let group = if on { s.labels.keep(&names) } else { s.labels.remove(&names, true) };
            return Err(QueryError::exec(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                raw_labels(&group),
                raw_labels(&prev.labels),
                raw_labels(&s.labels)
            )));
        }
    }
    // Per "one"-side sample: the result label sets produced so far.
    let mut matched: Vec<Option<std::collections::HashSet<Labels>>> = vec![None; one.len()];
    let mut out = Vec::new();
    for ls in &many {
        let Some(ri) = right.find(&ls.labels) else { continue };
        let rs = &one[ri];
        let (vl, vr) = if one_to_many { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut v, keep) = apply(op, vl, vr)?;
        let mut metric = if drop_name { ls.labels.without_name() } else { ls.labels.clone() };
        if one_to_one {
            metric = if on { metric.keep(&names) } else { metric.remove(&names, false) };
        }
        for name in &include {
            metric = metric.with(name, rs.labels.get(name).unwrap_or(""));
        }
        // Matches are checked before comparisons filter, as Prometheus does.
        let seen = matched[ri].get_or_insert_with(Default::default);
        if one_to_one {
            if !seen.is_empty() {
                return Err(QueryError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            seen.insert(Labels::default());
        } else if !seen.insert(metric.clone()) {
            return Err(QueryError::exec("multiple matches for labels: grouping labels must ensure unique matches"));
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        out.push(Sample { labels: metric, t, v });
    }
    Ok(out)
}
