//! *Rule unit tests* in promtool's format, unchanged: `rule_files`, `evaluation_interval`,
//! `group_eval_order`, `tests[]` with `interval`, `input_series` (`0+10x100`, `_`, `stale`),
//! `alert_rule_test` (`exp_alerts` with `exp_labels`/`exp_annotations`), `promql_expr_test`
//! (`exp_samples`), `external_labels`, `external_url`. As promtool does, every group is
//! evaluated at 0, 1×, 2×… `evaluation_interval` up to the last `eval_time`, and expected
//! alerts are compared with the firing alerts of the evaluation at or just before their time.

use super::eval::{Context, GroupState};
use super::file::Scalar;
use crate::promql::promqltest::{Point, parse_series};
use crate::promql::{Engine, EngineOptions, Value};
use crate::store::{Labels, STALE_NAN_BITS, Store};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

crate::error::message_error! {
    /// A rule unit-test file value that does not parse.
    pub(crate) UnitTestError
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    external_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: Scalar,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    /// As promtool: absent means 0.
    #[serde(default = "zero")]
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    /// As promtool: absent means 0.
    #[serde(default = "zero")]
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: Option<Scalar>,
    #[serde(default)]
    histogram: Option<String>,
}

/// The outcome of one test file: one case per test group run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Each test group run, in file order.
    pub(crate) cases: Vec<Case>,
}

/// One test group's outcome.
#[derive(Debug)]
pub(crate) struct Case {
    /// The group's `name` (`test N` when it has none).
    pub(crate) name: String,
    /// What came of it.
    pub(crate) outcome: Outcome,
    /// How long it took.
    pub(crate) took: std::time::Duration,
}

/// Passed, skipped (with why: native histograms) or failed (a readable block: what was
/// expected, what came).
#[derive(Debug)]
pub(crate) enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

impl Report {
    /// The failed groups' blocks.
    pub(crate) fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cases.iter().filter_map(|c| match &c.outcome {
            Outcome::Failed(f) => Some((c.name.as_str(), f.as_str())),
            _ => None,
        })
    }
}

fn zero() -> String {
    "0s".into()
}

fn dur(s: &str, what: &str) -> Result<i64, UnitTestError> {
    super::file::parse_prom_duration(s)
        .ok_or_else(|| format!("{what}: {s:?} is not a duration"))
        .map_err(UnitTestError::from)
}

type AlertList = Vec<(Labels, BTreeMap<String, String>)>;

fn show_alerts(list: &AlertList) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[\n");
    for (i, (l, a)) in list.iter().enumerate() {
        let ann: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = writeln!(s, "            {i}: labels {l}  annotations {{{}}}", ann.join(", "));
    }
    s + "        ]"
}

/// Runs one test file's groups whose name matches `only` (promtool's `--run`, a search); `Err` when
/// the file itself cannot be used.
pub(crate) fn run_file(path: &Path, only: Option<&regex::Regex>) -> Result<Report, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let tf: TestFile = yaml_serde::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let eval_interval = match &tf.evaluation_interval {
        Some(s) => dur(s, "evaluation_interval").map_err(|e| vec![e.to_string()])?,
        None => 60_000,
    };
    let mut groups = super::load_globs(base, &tf.rule_files, eval_interval)
        .map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    if !tf.group_eval_order.is_empty() {
        let pos = |n: &str| tf.group_eval_order.iter().position(|g| g == n).unwrap_or(usize::MAX);
        groups.sort_by_key(|g| pos(&g.name));
    }
    let mut report = Report::default();
    for (i, tg) in tf.tests.iter().enumerate() {
        let name = if tg.name.is_empty() { format!("test {}", i + 1) } else { tg.name.clone() };
        if only.is_some_and(|re| !re.is_match(&tg.name)) {
            continue;
        }
        let started = std::time::Instant::now();
        let outcome = match run_group(tg, &groups, eval_interval) {
            Ok(None) => Outcome::Passed,
            Ok(Some(skip)) => Outcome::Skipped(skip),
            Err(errs) => Outcome::Failed(errs.join("\n")),
        };
        report.cases.push(Case { name, outcome, took: started.elapsed() });
    }
    Ok(report)
}

/// Runs one test group: `Ok(None)` passed, `Ok(Some(why))` skipped, `Err(diffs)` failed.
fn run_group(tg: &TestGroup, groups: &[super::Group], eval_interval: i64) -> Result<Option<String>, Vec<String>> {
    if tg.input_series.iter().any(|s| s.values.0.contains("{{"))
        || tg.promql_expr_test.iter().any(|t| t.exp_samples.iter().any(|s| s.histogram.is_some()))
    {
        return Ok(Some("needs native histograms (out of scope)".into()));
    }
    let interval = match &tg.interval {
        Some(s) => dur(s, "interval").map_err(|e| vec![e.to_string()])?,
        None => eval_interval,
    };
    let store = Arc::new(Store::new(10_000_000, i64::MAX / 4));
    for s in &tg.input_series {
        let line = parse_series(&format!("{} {}", s.series, s.values.0))
            .map_err(|e| vec![format!("    input series {:?}: {e}", s.series)])?;
        let id = store
            .get_or_create(line.labels.0.iter().map(|(k, v)| (&**k, &**v)))
            .map_err(|e| vec![format!("    input series {:?}: {e}", s.series)])?;
        for (k, p) in line.points.iter().enumerate() {
            let v = match p {
                Point::Missing => continue,
                Point::Stale => f64::from_bits(STALE_NAN_BITS),
                Point::Value(v) => *v,
            };
            let _ = store.append(id, k as i64 * interval, v);
        }
    }
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let ctx = Context {
        external_labels: tg.external_labels.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        external_url: tg.external_url.clone(),
        // Two at once, whatever the machine: the tests check that concurrent evaluation gives
        // what rule-by-rule evaluation gives.
        concurrency: 2,
        parallel_after_s: 0.0,
    };
    let mut alert_tests: Vec<(i64, &AlertTest)> = tg
        .alert_rule_test
        .iter()
        .map(|t| Ok((dur(&t.eval_time, "eval_time")?, t)))
        .collect::<Result<_, UnitTestError>>()
        .map_err(|e| vec![e.to_string()])?;
    alert_tests.sort_by_key(|t| t.0);
    let expr_times: Vec<i64> = tg
        .promql_expr_test
        .iter()
        .map(|t| dur(&t.eval_time, "eval_time"))
        .collect::<Result<_, UnitTestError>>()
        .map_err(|e| vec![e.to_string()])?;
    let max_t = alert_tests.iter().map(|t| t.0).chain(expr_times.iter().copied()).max().unwrap_or(0);

    let mut states: Vec<GroupState> = groups.iter().cloned().map(GroupState::new).collect();
    let mut errs = Vec::new();
    let mut next = 0;
    let mut ts = 0;
    while ts <= max_t {
        for g in &mut states {
            g.eval(&engine, ts, &ctx);
        }
        while next < alert_tests.len() && alert_tests[next].0 >= ts && alert_tests[next].0 < ts + eval_interval {
            let (t, test) = alert_tests[next];
            let mut got: AlertList = Vec::new();
            for g in &states {
                for r in g.rules.iter().filter(|r| r.rule.alert.as_deref() == Some(&test.alertname)) {
                    for a in r.alerts.live().filter(|a| a.state == crate::alerts::State::Firing) {
                        got.push((a.labels.clone(), a.annotations.clone()));
                    }
                }
            }
            let mut exp: AlertList = test
                .exp_alerts
                .iter()
                .map(|a| {
                    let mut l: BTreeMap<String, String> =
                        a.exp_labels.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
                    l.insert("alertname".into(), test.alertname.clone());
                    (Labels::from_pairs(l), a.exp_annotations.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                })
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            exp.sort_by(|a, b| a.0.cmp(&b.0));
            if got != exp {
                errs.push(format!(
                    "    alertname: {}, time: {},\n        exp: {},\n        got: {}",
                    test.alertname,
                    crate::config::Duration(std::time::Duration::from_millis(t as u64)),
                    show_alerts(&exp),
                    show_alerts(&got)
                ));
            }
            next += 1;
        }
        ts += eval_interval;
    }
    for (test, t) in tg.promql_expr_test.iter().zip(expr_times) {
        let got: Vec<(Labels, f64)> = match engine.instant(&test.expr, t) {
            Ok(out) => match out.value {
                Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
                Value::Scalar(x) => vec![(Labels::default(), x)],
                other => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}: result is a {}",
                        test.expr,
                        test.eval_time,
                        other.type_name()
                    ));
                    continue;
                }
            },
            Err(e) => {
                errs.push(format!("    expr: {:?}, time: {}, err: {}", test.expr, test.eval_time, e.msg));
                continue;
            }
        };
        let mut exp = Vec::new();
        for s in &test.exp_samples {
            let labels = if s.labels.trim().is_empty() {
                Labels::default()
            } else {
                parse_series(&s.labels)
                    .map_err(|e| vec![format!("    expr: {:?}: bad labels {:?}: {e}", test.expr, s.labels)])?
                    .labels
            };
            let v = s.value.as_ref().map(|v| v.0.as_str()).unwrap_or("0");
            let v: f64 = match v.trim() {
                "+Inf" | "Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                other => other.parse().map_err(|_| vec![format!("    expr: {:?}: bad value {other:?}", test.expr)])?,
            };
            exp.push((labels, v));
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got.iter().zip(&exp).all(|(g, e)| {
                g.0 == e.0 && (g.1 == e.1 || (g.1.is_nan() && e.1.is_nan()) || crate::promql::almost_equal(g.1, e.1))
            });
        if !same {
            let show = |v: &[(Labels, f64)]| -> String {
                let items: Vec<String> =
                    v.iter().map(|(l, x)| format!("{l} {}", crate::promql::format_value(*x))).collect();
                format!("[{}]", items.join(", "))
            };
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                test.expr,
                test.eval_time,
                show(&exp),
                show(&got)
            ));
        }
    }
    if errs.is_empty() { Ok(None) } else { Err(errs) }
}
