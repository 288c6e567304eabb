//! *Functions*: the call dispatcher. Range-vector functions stream each series' window into
//! [`super::range_fns`]; the rest map an instant vector (math, clamping, date parts), build one
//! (`vector`, `absent`), read scalars (`time`, `scalar`) or rewrite labels and order
//! ([`super::label_fns`]). Every function but `last_over_time`, `first_over_time`, the sorts
//! and the label rewrites drops the metric name, as Prometheus does.

use super::QueryError;
use super::eval::{Ctx, R, check_unique};
use super::range_fns::{self, Window};
use super::value::{LabelOps, Sample, Value};
use crate::store::{Labels, SeriesView};
use chrono::{Datelike, TimeZone, Timelike};
use promql_parser::parser::{Call, Expr, VectorSelector};

/// Functions Prometheus runs only behind `--enable-feature=promql-experimental-functions`
/// that sidewatch does not implement.
const EXPERIMENTAL: &[&str] = &["info"];

pub(crate) fn call(ctx: &Ctx, c: &Call, t: i64) -> R<Value> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if EXPERIMENTAL.contains(&name) {
        return Err(QueryError::bad(format!("function {name:?} is experimental and not supported by sidewatch")));
    }
    if name == "absent_over_time" {
        return absent_over_time(ctx, args[0], t);
    }
    if range_fns::is_range_fn(name) {
        return range_call(ctx, name, &args, t);
    }
    let out = match name {
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "start" => return Ok(Value::Scalar(ctx.start as f64 / 1000.0)),
        "end" => return Ok(Value::Scalar(ctx.end as f64 / 1000.0)),
        "step" => return Ok(Value::Scalar(ctx.step as f64 / 1000.0)),
        "range" => return Ok(Value::Scalar((ctx.end - ctx.start) as f64 / 1000.0)),
        "min_of" | "max_of" => {
            let (a, b) = (ctx.eval_scalar(args[0], t)?, ctx.eval_scalar(args[1], t)?);
            return Ok(Value::Scalar(if name == "min_of" { go_min(a, b) } else { go_max(a, b) }));
        }
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => vec![Sample { labels: Labels::default(), t, v: ctx.eval_scalar(args[0], t)? }],
        "scalar" => {
            let v = ctx.eval_vector(args[0], t)?;
            return Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "absent" => {
            if !ctx.eval_vector(args[0], t)?.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            vec![Sample { labels: absent_labels(selector_of(args[0])), t, v: 1.0 }]
        }
        "timestamp" => {
            let own = selector_of(args[0]).is_some();
            let v = ctx.eval_vector(args[0], t)?;
            v.into_iter()
                .map(|s| Sample { labels: s.labels.without_name(), t, v: (if own { s.t } else { t }) as f64 / 1000.0 })
                .collect()
        }
        "histogram_quantile" => {
            let q = ctx.eval_scalar(args[0], t)?;
            super::histogram::histogram_quantile(ctx, q, ctx.eval_vector(args[1], t)?, t)?
        }
        "histogram_quantiles" => {
            let input = ctx.eval_vector(args[0], t)?;
            let label = match ctx.eval(args[1], t)? {
                Value::String(s) => s,
                other => return Err(QueryError::bad(format!("expected string, got {}", other.type_name()))),
            };
            let mut out = Vec::new();
            for a in &args[2..] {
                let q = ctx.eval_scalar(a, t)?;
                let mut qs = super::value::format_float(q);
                if q.is_finite() && !qs.contains(['.', 'e']) {
                    qs.push_str(".0");
                }
                for s in super::histogram::histogram_quantile(ctx, q, input.clone(), t)? {
                    out.push(Sample { labels: s.labels.with(&label, &qs), ..s });
                }
            }
            out
        }
        "histogram_fraction" => {
            let (lo, hi) = (ctx.eval_scalar(args[0], t)?, ctx.eval_scalar(args[1], t)?);
            super::histogram::histogram_fraction(ctx, lo, hi, ctx.eval_vector(args[2], t)?, t)?
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => Vec::new(),
        "label_replace" | "label_join" | "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            return super::label_fns::call(ctx, name, &args, t);
        }
        "clamp" | "clamp_min" | "clamp_max" | "round" => {
            let v = ctx.eval_vector(args[0], t)?;
            let p1 = match args.get(1) {
                Some(a) => ctx.eval_scalar(a, t)?,
                None => 1.0,
            };
            let p2 = match args.get(2) {
                Some(a) => ctx.eval_scalar(a, t)?,
                None => 0.0,
            };
            if name == "clamp" && p2 < p1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let f = |x: f64| match name {
                "clamp" => go_max(p1, go_min(p2, x)),
                "clamp_min" => go_max(p1, x),
                "clamp_max" => go_min(p1, x),
                _ => {
                    let inv = 1.0 / p1;
                    (x * inv + 0.5).floor() / inv
                }
            };
            map(v, t, f)
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute" | "month" | "year" => {
            let v = match args.first() {
                Some(a) => ctx.eval_vector(a, t)?,
                None => vec![Sample { labels: Labels::default(), t, v: t as f64 / 1000.0 }],
            };
            map(v, t, |x| date_part(name, x))
        }
        _ => {
            let f = math_fn(name).ok_or_else(|| QueryError::bad(format!("unknown function {name:?}")))?;
            map(ctx.eval_vector(args[0], t)?, t, f)
        }
    };
    Ok(Value::Vector(check_unique(out)?))
}

/// Applies `f` to every value, dropping the metric name.
fn map(v: Vec<Sample>, t: i64, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter().map(|s| Sample { labels: s.labels.into_without_name(), t, v: f(s.v) }).collect()
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sgn" => |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |x| x * 180.0 / std::f64::consts::PI,
        "rad" => |x| x * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// A date part of a Unix time in seconds, in UTC.
fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let Some(d) = chrono::Utc.timestamp_opt(secs.floor() as i64, 0).single() else {
        return f64::NAN;
    };
    (match name {
        "day_of_month" => d.day(),
        "day_of_week" => d.weekday().num_days_from_sunday(),
        "day_of_year" => d.ordinal(),
        "hour" => d.hour(),
        "minute" => d.minute(),
        "month" => d.month(),
        "year" => return d.year() as f64,
        _ => {
            let (y, m) = (d.year(), d.month());
            let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
            let after = chrono::NaiveDate::from_ymd_opt(next.0, next.1, 1);
            match (first, after) {
                (Some(a), Some(b)) => (b - a).num_days() as u32,
                _ => return f64::NAN,
            }
        }
    }) as f64
}

/// Whether a selector can only match one metric name (`name{…}` or `{__name__="name"}`).
fn single_metric(vs: &VectorSelector) -> bool {
    vs.matchers.or_matchers.is_empty()
        && (vs.name.is_some()
            || vs
                .matchers
                .matchers
                .iter()
                .any(|m| m.name == super::value::NAME && matches!(m.op, promql_parser::label::MatchOp::Equal)))
}

/// `e` without the parentheses around it.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// The vector selector an argument is (through parentheses), if it is one.
pub(crate) fn selector_of(e: &Expr) -> Option<&VectorSelector> {
    match e {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::Paren(p) => selector_of(&p.expr),
        _ => None,
    }
}

/// The labels `absent` reports: the selector's equality matchers, except names matched more
/// than once or by another operator.
fn absent_labels(vs: Option<&VectorSelector>) -> Labels {
    let Some(vs) = vs else { return Labels::default() };
    let ms = &vs.matchers.matchers;
    let mut pairs = Vec::new();
    for m in ms {
        if m.name == super::value::NAME {
            continue;
        }
        let repeated = ms.iter().filter(|o| o.name == m.name).count() > 1;
        if !repeated && matches!(m.op, promql_parser::label::MatchOp::Equal) {
            pairs.push((m.name.as_str(), m.value.as_str()));
        }
    }
    Labels::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
}

/// A range-vector function call.
fn range_call(ctx: &Ctx, name: &str, args: &[&Expr], t: i64) -> R<Value> {
    let mut out = Vec::new();
    let one_name = range_call_each(ctx, name, args, t, &mut |m, v| {
        out.push(Sample { labels: m.into_labels(), t, v });
        Ok(())
    })?;
    Ok(Value::Vector(if one_name { out } else { check_unique(out)? }))
}

/// When `e` is a range-function call over a matrix selector of one metric name (so its output
/// series are distinct without a check), hands each output sample to `sink` as it is computed
/// instead of building the vector — what an aggregation over `rate(…)` needs. `None` when `e`
/// is not such a call (the caller evaluates it as usual).
pub(crate) fn stream_range_call(ctx: &Ctx, e: &Expr, t: i64, sink: &mut Sink<'_>) -> Option<R<()>> {
    let Expr::Call(c) = unparen(e) else { return None };
    let name = c.func.name;
    if !range_fns::is_range_fn(name) || name == "absent_over_time" {
        return None;
    }
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let matrix = if name == "quantile_over_time" { args.get(1)? } else { args.first()? };
    match unparen(matrix) {
        Expr::MatrixSelector(ms) if single_metric(&ms.vs) => {
            Some(range_call_each(ctx, name, &args, t, sink).map(|_| ()))
        }
        _ => None,
    }
}

/// The series of an output sample of a range function, its labels not built yet: a series of
/// the store (labels read only if the consumer needs them; an aggregation groups by symbols) or
/// a subquery's series.
pub(crate) enum Member<'a> {
    /// A store series; the bool: the function keeps the metric name.
    Stored(&'a SeriesView<'a>, bool),
    /// Labels already built.
    Built(Labels),
}

impl Member<'_> {
    /// The output sample's labels.
    pub(crate) fn into_labels(self) -> Labels {
        match self {
            Member::Stored(view, keep_name) => view.labels(!keep_name),
            Member::Built(l) => l,
        }
    }
}

/// Where a streamed range function hands each output sample: its series and value.
pub(crate) type Sink<'s> = dyn for<'a> FnMut(Member<'a>, f64) -> R<()> + 's;

/// Evaluates a range-function call, handing each output sample to `sink`; returns whether the
/// input had a single metric name (then the output has distinct label sets).
fn range_call_each(ctx: &Ctx, name: &str, args: &[&Expr], t: i64, sink: &mut Sink<'_>) -> R<bool> {
    let (matrix_arg, scalar_args): (&Expr, Vec<&Expr>) =
        if name == "quantile_over_time" { (args[1], vec![args[0]]) } else { (args[0], args[1..].to_vec()) };
    let params = scalar_args.iter().map(|a| ctx.eval_scalar(a, t)).collect::<R<Vec<f64>>>()?;
    if name == "quantile_over_time"
        && let Some(&q) = params.first()
        && !(0.0..=1.0).contains(&q)
    {
        ctx.warn(format!("quantile value should be between 0 and 1, got {}", super::value::format_float(q)));
    }
    if name == "double_exponential_smoothing" {
        for (what, f) in ["smoothing", "trend"].iter().zip(&params) {
            if !(*f > 0.0 && *f < 1.0) {
                return Err(QueryError::exec(format!(
                    "invalid {what} factor. Expected: 0 < {} < 1, got: {}",
                    if *what == "smoothing" { "sf" } else { "tf" },
                    super::value::format_float(*f)
                )));
            }
        }
    }
    let inner = unparen(matrix_arg);
    if let (Expr::MatrixSelector(ms), Some(cache)) = (inner, ctx.cache)
        && matches!(name, "rate" | "increase")
    {
        counter_call_cached(ctx, cache, ms, name == "rate", t, sink)?;
        return Ok(single_metric(&ms.vs));
    }
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut buf = Vec::new();
    let mut emit = |m: Member<'_>, w: &Window, it: &mut dyn Iterator<Item = (i64, f64)>| -> R<()> {
        match range_fns::apply(name, &params, w, it, &mut buf) {
            Some(v) => sink(m, v),
            None => Ok(()),
        }
    };
    match inner {
        Expr::MatrixSelector(ms) => ctx.visit_range(ms, t, |view, start, end, it| {
            emit(Member::Stored(view, keep_name), &Window { start, end, eval_t: t }, it)
        })?,
        Expr::Subquery(sq) => {
            let end = ctx.ref_time(&sq.at, &sq.offset, t);
            let w = Window { start: end - sq.range.as_millis() as i64, end, eval_t: t };
            for s in ctx.subquery(sq, t)? {
                let labels = if keep_name { s.labels } else { s.labels.into_without_name() };
                emit(Member::Built(labels), &w, &mut s.points.iter().copied())?;
            }
        }
        _ => return Err(QueryError::bad(format!("expected type range vector in call to function {name:?}"))),
    }
    // One metric name in, distinct series out: dropping the name cannot make two equal.
    Ok(match inner {
        Expr::MatrixSelector(ms) => single_metric(&ms.vs),
        _ => false,
    })
}

/// `rate` or `increase` of a selector in a rule-group evaluation: each series' window is
/// decoded only if no earlier query of the group read the same window of it (another selector
/// of the same metric over the same range and time, e.g. `x{status=~"5.."}[1m]` then
/// `x[1m]`); the values come out bit-identical to computing them here.
fn counter_call_cached(
    ctx: &Ctx,
    cache: &super::EvalCache,
    ms: &promql_parser::parser::MatrixSelector,
    rate: bool,
    t: i64,
    sink: &mut Sink<'_>,
) -> R<()> {
    let end = ctx.ref_time(&ms.vs.at, &ms.vs.offset, t);
    let w = Window { start: end - ms.range.as_millis() as i64, end, eval_t: t };
    let window = cache.counter_window(w.start, w.end);
    let mut misses: Vec<(u32, f64, f64)> = Vec::new();
    {
        let known = window.read().unwrap_or_else(|e| e.into_inner());
        let mut at = 0usize;
        ctx.visit_range(ms, t, |view, _, _, it| {
            let id = view.id();
            // Forward from the last hit; back by a binary search when ids go down (`or` sets).
            if at > 0 && known[at - 1].0 >= id {
                at = known.partition_point(|e| e.0 < id);
            }
            while at < known.len() && known[at].0 < id {
                at += 1;
            }
            let (result, factor) = match known.get(at) {
                Some(&(i, r, f)) if i == id => (r, f),
                _ => {
                    let (r, f) = range_fns::counter_parts(it, &w).unwrap_or((f64::NAN, f64::NAN));
                    misses.push((id, r, f));
                    (r, f)
                }
            };
            // The factor is a ratio of sample times: NaN only for "under two samples".
            if factor.is_nan() {
                return Ok(());
            }
            sink(Member::Stored(view, false), range_fns::finish_extrapolated((result, factor), &w, rate))
        })?;
    }
    if !misses.is_empty() {
        // Never wait for another thread's visit to end (it holds the read lock meanwhile):
        // then these results are simply not shared.
        let Ok(mut known) = window.try_write() else { return Ok(()) };
        // Two sorted runs: the stable sort merges them, keeping an id's older entry first.
        known.append(&mut misses);
        known.sort_by_key(|e| e.0);
        // Two threads may have computed the same series' window: keep one.
        known.dedup_by_key(|e| e.0);
    }
    Ok(())
}

/// `absent_over_time(m)`: 1 with the selector's labels when no series has a sample.
pub(crate) fn absent_over_time(ctx: &Ctx, arg: &Expr, t: i64) -> R<Value> {
    let (present, vs) = match unparen(arg) {
        Expr::MatrixSelector(ms) => {
            let mut any = false;
            ctx.visit_range(ms, t, |_, _, _, it| {
                any |= it.next().is_some();
                Ok(())
            })?;
            (any, Some(&ms.vs))
        }
        Expr::Subquery(sq) => (ctx.subquery(sq, t)?.iter().any(|s| !s.points.is_empty()), None),
        _ => return Err(QueryError::bad("expected type range vector in call to function \"absent_over_time\"")),
    };
    Ok(Value::Vector(if present { Vec::new() } else { vec![Sample { labels: absent_labels(vs), t, v: 1.0 }] }))
}
