//! Fuzzing the PromQL evaluator: random expressions from the grammar the conformance files use
//! (selectors, ranges, offsets, `@`, subqueries, operators with matching modifiers,
//! aggregations, functions, literals) and random mutations of the conformance files' own
//! queries, evaluated as instant and range queries over awkward data (resets, NaN, ±Inf,
//! staleness markers, buckets). Any outcome but a panic is accepted: a result or an error.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sidewatch::promql::{Engine, EngineOptions};
use sidewatch::store::{STALE_NAN_BITS, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn store() -> Arc<Store> {
    let store = Arc::new(Store::new(10_000, i64::MAX / 4));
    let values = [0.0, 1.0, 5.0, 2.0, f64::NAN, 7.0, f64::INFINITY, 3.0, -1.0, f64::NEG_INFINITY, 9.0];
    for (i, job) in ["api", "db", "web"].iter().enumerate() {
        for (j, name) in ["requests_total", "queue_depth", "up", "latency_bucket"].iter().enumerate() {
            for le in ["0.1", "1", "+Inf"] {
                let mut labels = vec![("__name__", *name), ("job", *job), ("instance", "a")];
                if *name == "latency_bucket" {
                    labels.push(("le", le));
                } else if le != "0.1" {
                    continue;
                }
                let id = store.get_or_create(labels).unwrap();
                for k in 0..40i64 {
                    let v = if k % 13 == 12 {
                        f64::from_bits(STALE_NAN_BITS)
                    } else {
                        values[(k as usize + i + j) % values.len()] * k as f64
                    };
                    let _ = store.append(id, k * 30_000, v);
                }
            }
        }
    }
    store
}

fn selector() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["requests_total", "queue_depth", "up", "latency_bucket", "missing", ""]);
    let matcher = prop::sample::select(vec![
        "",
        "job=\"api\"",
        "job!=\"db\"",
        "job=~\"a.*|web\"",
        "instance!~\"b\"",
        "le=\"+Inf\"",
        "__name__=~\".+\"",
        "job=~\"(\"",
    ]);
    let modifier = prop::sample::select(vec!["", " offset 1m", " offset -2m", " @ 600", " @ start()", " @ end()"]);
    (name, matcher, modifier).prop_map(|(n, m, o)| {
        let body = if m.is_empty() && n.is_empty() {
            "{job=\"api\"}".to_string()
        } else if m.is_empty() {
            n.to_string()
        } else {
            format!("{n}{{{m}}}")
        };
        format!("{body}{o}")
    })
}

fn range() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["30s", "1m", "5m", "10m", "1h"])
}

fn expr() -> impl Strategy<Value = String> {
    let number = prop::sample::select(vec!["0", "1", "-1", "0.5", "2", "NaN", "Inf", "-Inf", "1e308", "100"])
        .prop_map(String::from);
    let leaf =
        prop_oneof![3 => selector(), 1 => number, 1 => Just("time()".to_string()), 1 => Just("vector(1)".to_string())];
    leaf.prop_recursive(4, 40, 3, |inner| {
        let binop = prop::sample::select(vec![
            "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "> bool", "== bool", "and", "or",
            "unless",
        ]);
        let matching = prop::sample::select(vec![
            "",
            " on(job)",
            " ignoring(instance)",
            " on(job) group_left(instance)",
            " ignoring(le) group_right",
            " on()",
        ]);
        let agg = prop::sample::select(vec!["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"]);
        let param_agg = prop::sample::select(vec![
            "topk(2, ",
            "bottomk(1, ",
            "quantile(0.9, ",
            "count_values(\"v\", ",
            "limitk(1, ",
            "topk(NaN, ",
            "quantile(-1, ",
        ]);
        let grouping = prop::sample::select(vec!["", " by (job)", " without (instance)", " by (__name__)", " by ()"]);
        let f1 = prop::sample::select(vec![
            "abs",
            "ceil",
            "floor",
            "round",
            "exp",
            "ln",
            "log2",
            "log10",
            "sqrt",
            "sgn",
            "sin",
            "acosh",
            "timestamp",
            "sort",
            "sort_desc",
            "absent",
            "scalar",
            "day_of_week",
            "days_in_month",
            "hour",
            "deg",
            "clamp_min",
        ]);
        let rf = prop::sample::select(vec![
            "rate",
            "irate",
            "increase",
            "delta",
            "idelta",
            "deriv",
            "changes",
            "resets",
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "last_over_time",
            "present_over_time",
            "absent_over_time",
            "mad_over_time",
            "first_over_time",
        ]);
        prop_oneof![
            (inner.clone(), binop, matching, inner.clone()).prop_map(|(a, op, m, b)| format!("({a}) {op}{m} ({b})")),
            (agg, grouping.clone(), inner.clone()).prop_map(|(a, g, e)| format!("{a}{g} ({e})")),
            (param_agg, inner.clone(), grouping).prop_map(|(a, e, g)| format!("{a}{e}){g}")),
            (f1, inner.clone()).prop_map(|(f, e)| if f == "clamp_min" {
                format!("{f}({e}, 1)")
            } else {
                format!("{f}({e})")
            }),
            (rf.clone(), selector(), range()).prop_map(|(f, s, r)| match s.find([' ']) {
                Some(i) => format!("{f}({}[{r}]{})", &s[..i], &s[i..]),
                None => format!("{f}({s}[{r}])"),
            }),
            (rf, inner.clone(), range(), prop::sample::select(vec!["", "30s", "1m"]))
                .prop_map(|(f, e, r, s)| format!("{f}(({e})[{r}:{s}])")),
            (inner.clone(), range()).prop_map(|(e, r)| format!("quantile_over_time(0.5, ({e})[{r}:])")),
            (inner.clone(), range()).prop_map(|(e, r)| format!("predict_linear(({e})[{r}:1m], 60)")),
            inner.clone().prop_map(|e| format!("histogram_quantile(0.9, {e})")),
            inner.clone().prop_map(|e| format!("histogram_fraction(0, 1, {e})")),
            inner.clone().prop_map(|e| format!("label_replace({e}, \"dst\", \"$1\", \"job\", \"(.*)\")")),
            inner.clone().prop_map(|e| format!("label_join({e}, \"dst\", \",\", \"job\", \"instance\")")),
            inner.clone().prop_map(|e| format!("-({e})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("clamp({a}, scalar({b}), 10)")),
        ]
    })
}

fn evaluate(engine: &Engine, q: &str, count: &AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    let _ = engine.instant(q, 600_000);
    let _ = engine.range(q, 0, 1_200_000, 90_000);
}

fn conformance_queries() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/promql");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("eval instant at ")
                && let Some((_, q)) = rest.split_once(' ')
            {
                out.push(q.to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn random_expressions_never_panic() {
    let engine = Engine::new(store(), EngineOptions { max_samples: 2_000_000, ..Default::default() });
    let count = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(Config { cases: 1500, failure_persistence: None, ..Config::default() });
    runner
        .run(&expr(), |q| {
            evaluate(&engine, &q, &count);
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz: {} generated expressions evaluated (instant + range) in {:?}",
        count.load(Ordering::Relaxed),
        started.elapsed()
    );
}

#[test]
fn mutated_conformance_queries_never_panic() {
    let queries = conformance_queries();
    if queries.is_empty() {
        assert!(std::env::var("CI").is_err(), "CI must have ../shared/conformance/promql");
        eprintln!("SKIPPED: ../shared/conformance/promql is absent; no queries to mutate");
        return;
    }
    let engine = Engine::new(store(), EngineOptions { max_samples: 2_000_000, ..Default::default() });
    let count = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let pieces = prop::sample::select(vec![
        "(",
        ")",
        "[5m]",
        "[1m:]",
        " offset 1m",
        " @ 100",
        " by (job)",
        ",",
        "{",
        "}",
        "\"",
        "-",
        "1",
        "rate(",
        " and ",
        " bool ",
        "sum",
        "1e309",
        "NaN",
    ]);
    let strat =
        (prop::sample::select(queries), prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, pieces), 0..4));
    let mut runner = TestRunner::new(Config { cases: 10_000, failure_persistence: None, ..Config::default() });
    runner
        .run(&strat, |(q, edits)| {
            let mut q: Vec<char> = q.chars().collect();
            for (at, kind, piece) in edits {
                if q.is_empty() {
                    break;
                }
                let i = at.index(q.len());
                match kind {
                    0 => {
                        q.remove(i);
                    }
                    1 => q.splice(i..i, piece.chars()).for_each(drop),
                    _ => {
                        let j = q.len() - 1 - i;
                        q.swap(i, j)
                    }
                }
            }
            evaluate(&engine, &q.into_iter().collect::<String>(), &count);
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz: {} mutated conformance queries evaluated (instant + range) in {:?}",
        count.load(Ordering::Relaxed),
        started.elapsed()
    );
}
