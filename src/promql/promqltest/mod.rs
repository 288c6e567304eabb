//! The *conformance runner*: runs scripts in Prometheus' `promqltest` format against the
//! engine and reports, per file, the evals passed, failed and skipped. Only two reasons skip
//! an eval: it needs native histograms (out of scope), or it failed and uses a feature that
//! Prometheus itself runs only behind an experimental flag. Annotation messages are compared
//! without their `(line:column)` position, which the parser crate does not report.

mod parse;

pub(crate) use parse::{Point, parse_duration, parse_series};

use super::histogram::almost_equal;
use super::{Engine, EngineOptions, QueryError, QueryOutput, Value};
use crate::store::Labels;
use crate::store::{STALE_NAN_BITS, Store};
use parse::{Command, Eval, Expect, Match};

use std::fmt::Write as _;
use std::sync::Arc;

crate::error::message_error! {
    /// Why a promqltest script failed to parse or an eval failed.
    pub(crate) ScriptError
}

/// The outcome of one script.
#[derive(Debug, Default)]
pub(crate) struct FileReport {
    /// The script's name.
    pub(crate) name: String,
    /// Evals that passed.
    pub(crate) passed: usize,
    /// Evals that failed, each described (line, expression, expected, actual).
    pub(crate) failures: Vec<String>,
    /// Evals skipped, each with its line and reason.
    pub(crate) skips: Vec<String>,
}

impl FileReport {
    /// The per-file summary line.
    pub(crate) fn summary(&self) -> String {
        format!("{}: {} passed, {} failed, {} skipped", self.name, self.passed, self.failures.len(), self.skips.len())
    }
}

/// Functions that only make sense on native histograms.
const NATIVE_FUNCS: &[&str] =
    &["histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"];

/// Features Prometheus gates behind `--enable-feature` (functions, syntax), by the text that
/// shows them in a query.
const EXPERIMENTAL: &[(&str, &str)] = &[
    ("limitk(", "limitk (promql-experimental-functions)"),
    ("limit_ratio(", "limit_ratio (promql-experimental-functions)"),
    ("sort_by_label", "sort_by_label (promql-experimental-functions)"),
    ("mad_over_time", "mad_over_time (promql-experimental-functions)"),
    ("first_over_time", "first_over_time (promql-experimental-functions)"),
    ("ts_of_", "ts_of_*_over_time (promql-experimental-functions)"),
    ("double_exponential_smoothing", "double_exponential_smoothing (promql-experimental-functions)"),
    ("info(", "info (promql-experimental-functions)"),
    ("step()", "step() (promql-duration-expr)"),
    ("range()", "range() (promql-duration-expr)"),
    (" anchored", "anchored range selectors (promql-extended-range-selectors)"),
    (" smoothed", "smoothed range selectors (promql-extended-range-selectors)"),
    ("fill(", "fill modifiers (promql-binop-fill-modifiers)"),
    ("fill_left(", "fill modifiers (promql-binop-fill-modifiers)"),
    ("fill_right(", "fill modifiers (promql-binop-fill-modifiers)"),
];

/// The experimental feature a query uses, if any.
fn experimental(query: &str) -> Option<String> {
    if let Some((_, f)) = EXPERIMENTAL.iter().find(|(k, _)| query.contains(k)) {
        return Some((*f).to_string());
    }
    // Duration arithmetic inside brackets or after offset/@: `[5m*2]`, `offset (1m+1m)`.
    let re = regex::Regex::new(r"\[[^\]:]*[-+*/%^()][^\]]*\]|\[[^\]]*:[^\]]*[-+*/%^(][^\]]*\]|offset\s*-?\(").ok()?;
    re.is_match(query).then(|| "duration expressions (promql-duration-expr)".to_string())
}

/// Runs one script.
pub(crate) fn run_script(name: &str, text: &str) -> Result<FileReport, ScriptError> {
    let cmds = parse::parse_script(text).map_err(|e| format!("{name}: {e}"))?;
    let mut report = FileReport { name: name.to_string(), ..Default::default() };
    let mut store = Arc::new(Store::new(10_000_000, i64::MAX / 4));
    let mut native: Vec<Labels> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store = Arc::new(Store::new(10_000_000, i64::MAX / 4));
                native.clear();
            }
            Command::Load { interval, series, nhcb } => {
                for s in merge_repeated(series) {
                    if nhcb && let Some(base) = s.labels.metric_name().strip_suffix("_bucket") {
                        let pairs = s.labels.0.iter().filter(|(k, _)| &**k != "le");
                        native.push(Labels::from_pairs(pairs.map(|(k, v)| {
                            if &**k == "__name__" { (k.clone(), base.into()) } else { (k.clone(), v.clone()) }
                        })));
                    }
                    if s.native {
                        native.push(s.labels);
                        continue;
                    }
                    let pairs: Vec<(&str, &str)> = s.labels.0.iter().map(|(k, v)| (&**k, &**v)).collect();
                    let id = store.get_or_create(pairs).map_err(|e| format!("{name}: {e}"))?;
                    for (i, p) in s.points.iter().enumerate() {
                        let t = i as i64 * interval;
                        let v = match p {
                            Point::Missing => continue,
                            Point::Stale => f64::from_bits(STALE_NAN_BITS),
                            Point::Value(v) => *v,
                        };
                        let _ = store.append(id, t, v);
                    }
                }
            }
            Command::Eval(ev) => {
                if let Some(reason) = needs_native(&ev, &native) {
                    report.skips.push(format!("line {}: {} — needs native histograms ({reason})", ev.line, ev.query));
                    continue;
                }
                let engine = Engine::new(store.clone(), EngineOptions::default());
                let result = run_eval(&engine, &ev);
                match check(&ev, result) {
                    Ok(()) => report.passed += 1,
                    Err(why) => match experimental(&ev.query).or_else(|| delayed_name_removal(&ev, &why.to_string())) {
                        Some(feature) => {
                            report.skips.push(format!("line {}: {} — needs experimental {feature}", ev.line, ev.query))
                        }
                        None => report.failures.push(format!("line {}: {}\n{why}", ev.line, ev.query)),
                    },
                }
            }
        }
    }
    Ok(report)
}

/// Why an eval needs native histograms: it expects one, calls a native-only function, or
/// one of its selectors matches a series loaded as native histograms.
fn needs_native(ev: &Eval, native: &[Labels]) -> Option<String> {
    if ev.series.iter().any(|s| s.native) {
        return Some("expects a histogram sample".into());
    }
    if let Some(f) = NATIVE_FUNCS.iter().find(|f| ev.query.contains(*f)) {
        return Some((*f).to_string());
    }
    if native.is_empty() {
        return None;
    }
    let expr = Engine::parse(&ev.query).ok()?;
    for (vs, _) in super::eval::selector_spans(&expr) {
        let name = vs.name.as_deref();
        let hit = native.iter().find(|l| {
            name.is_none_or(|n| l.metric_name() == n)
                && vs.matchers.matchers.iter().all(|m| m.is_match(l.get(&m.name).unwrap_or("")))
        });
        if let Some(l) = hit {
            return Some(format!("selects histogram series {l}"));
        }
    }
    None
}

/// Under Prometheus' default immediate name removal, an eval written for delayed name removal
/// (`promql-delayed-name-removal`) either fails on a duplicate label set or reads `__name__`
/// after a function dropped it.
fn delayed_name_removal(ev: &Eval, why: &str) -> Option<String> {
    let reads_name = ev.query.contains("\"__name__\"") || ev.query.contains("by (__name__)");
    (why.contains("vector cannot contain metrics with the same labelset")
        && !ev.expects.iter().any(|e| matches!(e, Expect::Fail(_)))
        || reads_name)
        .then(|| "delayed name removal (promql-delayed-name-removal)".to_string())
}

/// Repeated series lines of one `load` are one series; a later value at the same step wins.
fn merge_repeated(series: Vec<parse::SeriesLine>) -> Vec<parse::SeriesLine> {
    let mut out: Vec<parse::SeriesLine> = Vec::new();
    for s in series {
        match out.iter_mut().find(|o| o.labels == s.labels && !o.native && !s.native) {
            Some(o) => {
                for (i, p) in s.points.into_iter().enumerate() {
                    if p == Point::Missing {
                        continue;
                    }
                    if i < o.points.len() {
                        o.points[i] = p;
                    } else {
                        o.points.resize(i, Point::Missing);
                        o.points.push(p);
                    }
                }
            }
            None => out.push(s),
        }
    }
    out
}

fn run_eval(engine: &Engine, ev: &Eval) -> Result<QueryOutput, QueryError> {
    let expr = Engine::parse(&ev.query)?;
    match ev.range {
        None => engine.instant_expr(&expr, ev.start),
        Some((end, step)) => engine.range_expr(&expr, ev.start, end, step),
    }
}

fn matches(m: &Match, msg: &str) -> bool {
    match m {
        Match::Exact(s) => strip_position(s) == strip_position(msg),
        Match::Regex(r) => {
            let pos = regex::Regex::new(r"\s*\\\([^()]*\\\)\s*$").expect("static regex");
            let r = pos.replace(r, "");
            regex::Regex::new(&r).is_ok_and(|re| re.is_match(msg))
        }
    }
}

fn strip_position(s: &str) -> &str {
    let re = regex::Regex::new(r"\s*\(\d+:\d+\)$").expect("static regex");
    match re.find(s) {
        Some(m) => &s[..m.start()],
        None => s,
    }
}

/// Whether the outcome meets the eval's expectations; otherwise why not.
fn check(ev: &Eval, result: Result<QueryOutput, QueryError>) -> Result<(), ScriptError> {
    let fail = ev.expects.iter().find_map(|e| if let Expect::Fail(m) = e { Some(m) } else { None });
    let out = match (result, fail) {
        (Err(e), Some(None)) => return Ok(()).map(|_| drop(e)),
        (Err(e), Some(Some(m))) => {
            return if matches(m, &e.msg) {
                Ok(())
            } else {
                Err(ScriptError::from(format!("  expected error: {m:?}\n  actual error:   {}", e.msg)))
            };
        }
        (Err(e), None) => return Err(ScriptError::from(format!("  expected success\n  actual error: {}", e.msg))),
        (Ok(_), Some(_)) => return Err("  expected an error, the query succeeded".into()),
        (Ok(out), None) => out,
    };
    for (kind, prefix) in [("warn", "PromQL warning: "), ("info", "PromQL info: ")] {
        let got: Vec<&str> =
            out.annotations.iter().filter_map(|a| a.strip_prefix(prefix).map(|_| a.as_str())).collect();
        let wanted: Vec<&Option<Match>> = ev
            .expects
            .iter()
            .filter_map(|e| match (e, kind) {
                (Expect::Warn(m), "warn") | (Expect::Info(m), "info") => Some(m),
                _ => None,
            })
            .collect();
        let none = ev.expects.iter().any(|e| matches!((e, kind), (Expect::NoWarn, "warn") | (Expect::NoInfo, "info")));
        if none && !got.is_empty() {
            return Err(ScriptError::from(format!("  expected no {kind} annotation\n  actual: {got:?}")));
        }
        for w in &wanted {
            if !got.iter().any(|g| w.as_ref().is_none_or(|m| matches(m, g))) {
                return Err(ScriptError::from(format!("  expected {kind} annotation {w:?}\n  actual: {got:?}")));
            }
        }
        if !wanted.is_empty() {
            for g in &got {
                if !wanted.iter().any(|w| w.as_ref().is_none_or(|m| matches(m, g))) {
                    return Err(ScriptError::from(format!("  unexpected {kind} annotation {g:?}")));
                }
            }
        }
    }
    compare_value(ev, &out.value)
}

fn describe_expected(ev: &Eval) -> String {
    let mut s = String::new();
    if let Some(v) = ev.scalar {
        let _ = write!(s, "scalar {v}");
    }
    for l in &ev.series {
        let _ = write!(s, "\n    {} {:?}", l.labels, l.points);
    }
    s
}

fn describe_actual(v: &Value) -> String {
    match v {
        Value::Scalar(x) => format!("scalar {x}"),
        Value::String(x) => format!("string {x:?}"),
        Value::Vector(v) => v.iter().map(|s| format!("\n    {} {}", s.labels, s.v)).collect(),
        Value::Matrix(m) => m.iter().map(|s| format!("\n    {} {:?}", s.labels, s.points)).collect(),
    }
}

fn compare_value(ev: &Eval, actual: &Value) -> Result<(), ScriptError> {
    let mismatch = || format!("  expected: {}\n  actual:   {}", describe_expected(ev), describe_actual(actual));
    if let Some(Expect::String(want)) = ev.expects.iter().find(|e| matches!(e, Expect::String(_))) {
        return if matches!(actual, Value::String(s) if s == want) {
            Ok(())
        } else {
            Err(ScriptError::from(mismatch()))
        };
    }
    let ordered = ev.expects.contains(&Expect::Ordered);
    let eq = |a: f64, b: f64| almost_equal(a, b, 1e-6);
    match actual {
        Value::Scalar(x) => match ev.scalar {
            Some(want) if ev.series.is_empty() && eq(want, *x) => Ok(()),
            None if ev.series.len() == 1 && ev.series[0].labels.0.is_empty() && ev.range.is_some() => Ok(()),
            _ => Err(ScriptError::from(mismatch())),
        },
        Value::String(_) => Err(ScriptError::from(mismatch())),
        Value::Vector(v) => {
            if ev.scalar.is_some() || v.len() != ev.series.len() {
                return Err(ScriptError::from(mismatch()));
            }
            for (i, want) in ev.series.iter().enumerate() {
                let found = if ordered {
                    v.get(i).filter(|s| s.labels == want.labels)
                } else {
                    v.iter().find(|s| s.labels == want.labels)
                };
                let ok = match (found, want.points.as_slice()) {
                    (Some(s), [Point::Value(w)]) => eq(*w, s.v),
                    _ => false,
                };
                if !ok {
                    return Err(ScriptError::from(mismatch()));
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            let (start, step) = match (ev.range, ev.expects.iter().find(|e| matches!(e, Expect::RangeVector { .. }))) {
                (Some((_, step)), _) => (ev.start, step),
                (None, Some(Expect::RangeVector { start, step, .. })) => (*start, *step),
                _ => (ev.start, 0),
            };
            let nonempty: Vec<_> = m.iter().filter(|s| !s.points.is_empty()).collect();
            let wanted: Vec<_> =
                ev.series.iter().filter(|s| s.points.iter().any(|p| matches!(p, Point::Value(_)))).collect();
            if ev.scalar.is_some() || nonempty.len() != wanted.len() {
                return Err(ScriptError::from(mismatch()));
            }
            for want in wanted {
                let Some(s) = nonempty.iter().find(|s| s.labels == want.labels) else {
                    return Err(ScriptError::from(mismatch()));
                };
                let exp: Vec<(i64, f64)> = want
                    .points
                    .iter()
                    .enumerate()
                    .filter_map(
                        |(i, p)| if let Point::Value(v) = p { Some((start + i as i64 * step, *v)) } else { None },
                    )
                    .collect();
                let same = exp.len() == s.points.len()
                    && exp.iter().zip(&s.points).all(|(a, b)| (step == 0 || a.0 == b.0) && eq(a.1, b.1));
                if !same {
                    return Err(ScriptError::from(mismatch()));
                }
            }
            Ok(())
        }
    }
}

/// Runs script files and writes the report to `out`: per file its summary, failures and
/// skips; the last line is `N passed, N failed, N skipped`. Returns the totals.
pub fn run_files(paths: &[std::path::PathBuf], out: &mut dyn std::io::Write) -> std::io::Result<(usize, usize, usize)> {
    let (mut p, mut f, mut s) = (0, 0, 0);
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                writeln!(out, "{}: cannot read: {e}", path.display())?;
                f += 1;
                continue;
            }
        };
        match run_script(&name, &text) {
            Ok(r) => {
                writeln!(out, "{}", r.summary())?;
                for fail in &r.failures {
                    writeln!(out, "  FAIL {fail}")?;
                }
                for skip in &r.skips {
                    writeln!(out, "  SKIP {skip}")?;
                }
                p += r.passed;
                f += r.failures.len();
                s += r.skips.len();
            }
            Err(e) => {
                writeln!(out, "{e}")?;
                f += 1;
            }
        }
    }
    writeln!(out, "{p} passed, {f} failed, {s} skipped")?;
    Ok((p, f, s))
}
