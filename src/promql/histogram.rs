//! `histogram_quantile` over *classic histograms*: series of cumulative bucket counters that
//! differ only by their `le` (upper bound) label. Buckets are grouped by their other labels,
//! sorted by bound, merged when bounds repeat, forced monotonic (a smaller count than the
//! previous bucket's is raised to it; differences within 1e-12 are treated as float noise) and
//! interpolated linearly inside the bucket holding the rank, as Prometheus does.

use super::eval::{Ctx, R};
use super::value::{LabelOps, Sample};
use crate::store::Labels;
use std::collections::HashMap;

/// Prometheus' `almost.Equal`.
pub(crate) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a.is_nan() && b.is_nan() || a == b {
        return true;
    }
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < eps * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// The quantile `q` of one histogram's `(upper bound, cumulative count)` buckets, and whether
/// the counts had to be forced monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = coalesce_and_fix(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last].partition_point(|x| x.1 < rank);
    if b == last {
        return (buckets[last - 1].0, forced);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return (buckets[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// One classic histogram: its labels (without `le` and the name), its metric name and its
/// `(upper bound, cumulative count)` buckets.
type Histogram = (Labels, String, Vec<(f64, f64)>);

/// Groups bucket samples into histograms: labels without `le` and the name → buckets. Fails
/// when two metrics fall into one group, as Prometheus does.
fn group_buckets(ctx: &Ctx, input: Vec<Sample>) -> R<Vec<Histogram>> {
    let mut groups: Vec<Histogram> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let le = s.labels.get("le").unwrap_or("");
        let Some(bound) = parse_le(le) else {
            ctx.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}",
                s.labels.metric_name()
            ));
            continue;
        };
        let key = s.labels.remove(&["le".to_string()], true);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, s.labels.metric_name().to_string(), Vec::new()));
            groups.len() - 1
        });
        if groups[i].1 != s.labels.metric_name() {
            return Err(super::QueryError::exec("vector cannot contain metrics with the same labelset"));
        }
        groups[i].2.push((bound, s.v));
    }
    Ok(groups)
}

/// `histogram_quantile(q, buckets)` at `t`.
pub(crate) fn histogram_quantile(ctx: &Ctx, q: f64, input: Vec<Sample>, t: i64) -> R<Vec<Sample>> {
    if !(0.0..=1.0).contains(&q) {
        ctx.warn(format!("quantile value should be between 0 and 1, got {}", super::value::format_float(q)));
    }
    let mut out = Vec::new();
    for (labels, name, mut buckets) in group_buckets(ctx, input)? {
        let (v, forced) = bucket_quantile(q, &mut buckets);
        if forced {
            ctx.info(format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"
            ));
        }
        out.push(Sample { labels, t, v });
    }
    Ok(out)
}

/// `histogram_fraction(lower, upper, buckets)` at `t`: the share of observations between the
/// bounds, interpolating linearly inside finite buckets; observations in the `+Inf` bucket count
/// as +Inf and those in a first bucket open to -Inf as -Inf.
pub(crate) fn histogram_fraction(ctx: &Ctx, lower: f64, upper: f64, input: Vec<Sample>, t: i64) -> R<Vec<Sample>> {
    let mut out = Vec::new();
    for (labels, _, mut buckets) in group_buckets(ctx, input)? {
        out.push(Sample { labels, t, v: bucket_fraction(lower, upper, &mut buckets) });
    }
    Ok(out)
}

fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce_and_fix(buckets);
    let count = buckets[buckets.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for i in 0..buckets.len() {
        let (ub, c) = buckets[i];
        let lb = if i > 0 {
            buckets[i - 1].0
        } else if ub > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let interp = |v: f64| rank + (c - rank) * (v - lb) / (ub - lb);
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = if ub.is_infinite() {
                rank
            } else if lb.is_infinite() {
                c
            } else {
                interp(lower)
            };
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = if ub.is_infinite() {
                rank
            } else if lb.is_infinite() {
                c
            } else {
                interp(upper)
            };
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = c;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Merges buckets with equal bounds and forces counts monotonic; true when it had to.
fn coalesce_and_fix(buckets: &mut Vec<(f64, f64)>) -> bool {
    buckets.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
    let mut forced = false;
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.1 = prev;
            continue;
        }
        if cur < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

/// Parses an `le` bound (`+Inf`, `0.5`, `1e3`).
pub(crate) fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}
