//! *Range-vector functions*: each reduces one series' samples in a window `(start, end]` to
//! one value — `rate increase delta irate idelta deriv predict_linear changes resets` and the
//! `*_over_time` family. Samples arrive as an iterator straight from the compressed chunks;
//! only the functions that must sort (`quantile_over_time`, `mad_over_time`) buffer them.

use super::value::{Mean, Variance, kahan_inc, quantile};

/// The window a range function reads, as Prometheus defines it for extrapolation.
pub(crate) struct Window {
    /// Exclusive start (ms).
    pub(crate) start: i64,
    /// Inclusive end (ms).
    pub(crate) end: i64,
    /// The evaluation time (ms), the intercept of `predict_linear`.
    pub(crate) eval_t: i64,
}

/// Whether `name` is a range-vector function this module computes.
pub(crate) fn is_range_fn(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "last_over_time"
            | "first_over_time"
            | "present_over_time"
            | "mad_over_time"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time"
            | "double_exponential_smoothing"
    )
}

/// Applies range function `name` (with scalar `params`) to one series' samples.
pub(crate) fn apply(
    name: &str,
    params: &[f64],
    w: &Window,
    it: &mut dyn Iterator<Item = (i64, f64)>,
    buf: &mut Vec<f64>,
) -> Option<f64> {
    match name {
        "rate" => extrapolated(it, w, true, true),
        "increase" => extrapolated(it, w, true, false),
        "delta" => extrapolated(it, w, false, false),
        "irate" | "idelta" => {
            let (mut prev, mut last) = (None, None);
            for p in it {
                prev = last;
                last = Some(p);
            }
            let ((t0, v0), (t1, v1)) = (prev?, last?);
            let is_rate = name == "irate";
            let mut v = if is_rate && v1 < v0 { v1 } else { v1 - v0 };
            if t1 == t0 {
                return None;
            }
            if is_rate {
                v /= (t1 - t0) as f64 / 1000.0;
            }
            Some(v)
        }
        "deriv" => regression(it, None).map(|(slope, _)| slope),
        "predict_linear" => {
            let (slope, intercept) = regression(it, Some(w.eval_t))?;
            Some(slope * params.first().copied().unwrap_or(0.0) + intercept)
        }
        "double_exponential_smoothing" => {
            // Holt's linear smoothing with smoothing factor sf and trend factor tf.
            let (sf, tf) = (params.first().copied()?, params.get(1).copied()?);
            let (_, first) = it.next()?;
            let (_, second) = it.next()?;
            let (mut s0, mut s1, mut b) = (0.0, first, second - first);
            for (i, v) in (1..).zip(std::iter::once(second).chain(it.map(|(_, v)| v))) {
                if i > 1 {
                    b = tf * (s1 - s0) + (1.0 - tf) * b;
                }
                let next = sf * v + (1.0 - sf) * (s1 + b);
                (s0, s1) = (s1, next);
            }
            Some(s1)
        }
        "changes" | "resets" => {
            let mut prev: Option<f64> = None;
            let mut n = 0.0;
            for (_, v) in it {
                if let Some(p) = prev {
                    let hit = if name == "changes" { v != p && !(v.is_nan() && p.is_nan()) } else { v < p };
                    if hit {
                        n += 1.0;
                    }
                }
                prev = Some(v);
            }
            prev.map(|_| n)
        }
        "avg_over_time" => fold(it, Mean::default(), |m, v| m.add(v)).map(|m| m.value()),
        "stddev_over_time" => fold(it, Variance::default(), |m, v| m.add(v)).map(|m| m.value().sqrt()),
        "stdvar_over_time" => fold(it, Variance::default(), |m, v| m.add(v)).map(|m| m.value()),
        "sum_over_time" => fold(it, (0.0, 0.0), |s, v| *s = kahan_inc(v, s.0, s.1))
            .map(|(s, c)| if s.is_infinite() { s } else { s + c }),
        "count_over_time" => fold(it, 0.0, |n, _| *n += 1.0),
        "present_over_time" => it.next().map(|_| 1.0),
        "last_over_time" => it.last().map(|(_, v)| v),
        "ts_of_last_over_time" => it.last().map(|(t, _)| t as f64 / 1000.0),
        "ts_of_first_over_time" => it.next().map(|(t, _)| t as f64 / 1000.0),
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            // The time of the last sample holding the extreme value (NaN only if all are NaN).
            let max = name == "ts_of_max_over_time";
            let mut best: Option<(i64, f64)> = None;
            for (t, v) in it {
                let better = match best {
                    None => true,
                    Some((_, b)) => b.is_nan() || (max && v >= b) || (!max && v <= b),
                };
                if better {
                    best = Some((t, v));
                }
            }
            best.map(|(t, _)| t as f64 / 1000.0)
        }
        "first_over_time" => it.next().map(|(_, v)| v),
        "min_over_time" | "max_over_time" => {
            let max = name == "max_over_time";
            let mut out: Option<f64> = None;
            for (_, v) in it {
                out = Some(match out {
                    None => v,
                    Some(o) if o.is_nan() || (max && v > o) || (!max && v < o) => v,
                    Some(o) => o,
                });
            }
            out
        }
        "quantile_over_time" | "mad_over_time" => {
            buf.clear();
            buf.extend(it.map(|(_, v)| v));
            if buf.is_empty() {
                return None;
            }
            if name == "quantile_over_time" {
                return Some(quantile(params.first().copied().unwrap_or(f64::NAN), buf));
            }
            if buf.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, buf);
            for v in buf.iter_mut() {
                *v = (*v - median).abs();
            }
            Some(quantile(0.5, buf))
        }
        _ => None,
    }
}

fn fold<S>(it: &mut dyn Iterator<Item = (i64, f64)>, init: S, mut f: impl FnMut(&mut S, f64)) -> Option<S> {
    let mut state = init;
    let mut any = false;
    for (_, v) in it {
        any = true;
        f(&mut state, v);
    }
    any.then_some(state)
}

/// `rate`, `increase` and `delta`: the change over the window, corrected for counter resets
/// and extrapolated towards the window's edges as Prometheus does.
fn extrapolated(it: &mut dyn Iterator<Item = (i64, f64)>, w: &Window, counter: bool, rate: bool) -> Option<f64> {
    extrapolated_parts(it, w, counter).map(|p| finish_extrapolated(p, w, rate))
}

/// What `rate` and `increase` of a counter share: the corrected delta and the extrapolation
/// factor before the division by the range ([`finish_extrapolated`] completes either, with the
/// same arithmetic as computing it at once, so a cached pair gives bit-identical results).
pub(crate) fn counter_parts(it: &mut dyn Iterator<Item = (i64, f64)>, w: &Window) -> Option<(f64, f64)> {
    extrapolated_parts(it, w, true)
}

/// `rate` (per second over the window) or `increase` from [`counter_parts`].
pub(crate) fn finish_extrapolated((result, mut factor): (f64, f64), w: &Window, rate: bool) -> f64 {
    if rate {
        factor /= (w.end - w.start) as f64 / 1000.0;
    }
    result * factor
}

fn extrapolated_parts(it: &mut dyn Iterator<Item = (i64, f64)>, w: &Window, counter: bool) -> Option<(f64, f64)> {
    let mut first: Option<(i64, f64)> = None;
    let mut last = (0, 0.0);
    let mut n = 0usize;
    let mut correction = 0.0;
    let mut prev = 0.0;
    for (t, v) in it {
        if first.is_none() {
            first = Some((t, v));
        }
        if counter && v < prev {
            correction += prev;
        }
        prev = v;
        last = (t, v);
        n += 1;
    }
    let (first_t, first_v) = first?;
    if n < 2 {
        return None;
    }
    let result = last.1 - first_v + correction;
    let mut to_start = (first_t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first_t) as f64 / 1000.0;
    let avg_gap = sampled / (n - 1) as f64;
    let threshold = avg_gap * 1.1;
    if to_start >= threshold {
        to_start = avg_gap / 2.0;
    }
    if counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    Some((result, (sampled + to_start + to_end) / sampled))
}

/// Least-squares line through the samples: `(slope per second, intercept at intercept_t)`;
/// the intercept time is the first sample's unless given. Needs two samples.
fn regression(it: &mut dyn Iterator<Item = (i64, f64)>, intercept_t: Option<i64>) -> Option<(f64, f64)> {
    let mut n = 0.0;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut init_y = 0.0;
    let mut const_y = true;
    let mut base = intercept_t;
    for (t, v) in it {
        let b = *base.get_or_insert(t);
        if n == 0.0 {
            init_y = v;
        } else if const_y && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - b) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if n < 2.0 {
        return None;
    }
    if const_y {
        if init_y.is_infinite() {
            return Some((f64::NAN, f64::NAN));
        }
        return Some((0.0, init_y));
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    Some((slope, sy / n - slope * sx / n))
}
