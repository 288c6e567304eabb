//! *Binary operators*: arithmetic, comparison (filtering, or 0/1 with `bool`) and the set
//! operators `and`/`or`/`unless`, between scalars and vectors. Two vectors are paired by
//! *vector matching*: each sample's signature over the `on(…)` labels, or over every label but
//! `ignoring(…)` ones and the name; `group_left`/`group_right` allow many-to-one matches and
//! copy the listed labels from the "one" side. Errors are Prometheus' own.

use super::QueryError;
use super::eval::{Ctx, R, check_unique};
use super::value::{LabelOps, Sample, Value, raw_labels, signature};
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
    let lhs = ctx.eval(&b.lhs, t)?;
    let rhs = ctx.eval(&b.rhs, t)?;
    let comparison = is_comparison(&op);
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
            x.labels = x.labels.without_name();
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

fn set_op(op: &str, b: &BinaryExpr, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    let (on, names) = matching(b);
    match op {
        "and" => {
            let right: std::collections::HashSet<Vec<u8>> =
                rhs.iter().map(|s| signature(&s.labels, on, &names)).collect();
            lhs.into_iter().filter(|s| right.contains(&signature(&s.labels, on, &names))).collect()
        }
        "unless" => {
            let right: std::collections::HashSet<Vec<u8>> =
                rhs.iter().map(|s| signature(&s.labels, on, &names)).collect();
            lhs.into_iter().filter(|s| !right.contains(&signature(&s.labels, on, &names))).collect()
        }
        _ => {
            let left: std::collections::HashSet<Vec<u8>> =
                lhs.iter().map(|s| signature(&s.labels, on, &names)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|s| !left.contains(&signature(&s.labels, on, &names))));
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

    // The "one" side, hashed by signature; a repeated signature is a many-to-many match.
    let mut right: HashMap<Vec<u8>, &Sample> = HashMap::with_capacity(one.len());
    for s in &one {
        let sig = signature(&s.labels, on, &names);
        if let Some(prev) = right.insert(sig, s) {
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
    let mut matched: HashMap<Vec<u8>, std::collections::HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &many {
        let sig = signature(&ls.labels, on, &names);
        let Some(rs) = right.get(&sig) else { continue };
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
        let seen = matched.entry(sig).or_default();
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
