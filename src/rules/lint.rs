//! *Rule lint*: mistakes reviewers miss, reported by `sidewatch check rules` as warnings — a
//! `for` shorter than the group interval, `rate()`-like functions over a range under twice the
//! scrape interval, alerts without a `severity` label or without `summary`/`runbook_url`
//! annotations, one alert name with different severities in a group, recording rule names
//! without a `level:metric:operations` colon, and — when the targets can be read — selectors
//! of metrics no target exposes.

use super::file::Group;
use promql_parser::parser::Expr;

/// One warning, with the line of the rule it is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Warning {
    /// Line of the rule.
    pub(crate) line: usize,
    /// The check that found it (one of [`CHECKS`]; `check rules --lint` selects by it).
    pub(crate) check: &'static str,
    /// What is wrong and why it matters.
    pub(crate) message: String,
}

/// The lint checks by name, for `check rules --lint=<names>` (promtool's `duplicate-rules`
/// among them).
pub(crate) const CHECKS: &[&str] = &[
    "duplicate-rules",
    "short-range",
    "recording-name",
    "for-shorter-than-interval",
    "missing-severity",
    "missing-summary",
    "missing-runbook-url",
    "mixed-severity",
    "no-target-exposes",
];

fn short_ranges(e: &Expr, min_ms: i64, out: &mut Vec<(String, i64)>) {
    match e {
        Expr::Call(c) => {
            let counts = matches!(c.func.name, "rate" | "irate" | "increase" | "delta" | "idelta" | "deriv");
            for a in &c.args.args {
                if counts
                    && let Expr::MatrixSelector(ms) = a.as_ref()
                    && (ms.range.as_millis() as i64) < min_ms
                {
                    out.push((format!("{}({})", c.func.name, ms), ms.range.as_millis() as i64));
                }
                short_ranges(a, min_ms, out);
            }
        }
        Expr::Aggregate(a) => short_ranges(&a.expr, min_ms, out),
        Expr::Unary(u) => short_ranges(&u.expr, min_ms, out),
        Expr::Binary(b) => {
            short_ranges(&b.lhs, min_ms, out);
            short_ranges(&b.rhs, min_ms, out);
        }
        Expr::Paren(p) => short_ranges(&p.expr, min_ms, out),
        Expr::Subquery(s) => short_ranges(&s.expr, min_ms, out),
        _ => {}
    }
}

fn d(ms: i64) -> crate::config::Duration {
    crate::config::Duration(std::time::Duration::from_millis(ms.max(0) as u64))
}

/// Warnings for the groups of one file, given the scrape interval (ms).
pub(crate) fn lint(groups: &[Group], scrape_interval_ms: i64) -> Vec<Warning> {
    let mut out = Vec::new();
    for g in groups {
        let mut severities: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for r in &g.rules {
            let mut warn = |check: &'static str, m: String| out.push(Warning { line: r.line, check, message: m });
            let mut short = Vec::new();
            short_ranges(&r.expr, 2 * scrape_interval_ms, &mut short);
            for (call, range) in short {
                warn(
                    "short-range",
                    format!(
                        "{}: {call} covers {} but needs at least two scrapes (2 × {} scrape interval); it returns nothing or jumps",
                        r.name(),
                        d(range),
                        d(scrape_interval_ms)
                    ),
                );
            }
            if let Some(record) = &r.record {
                if !record.contains(':') {
                    warn(
                        "recording-name",
                        format!("{record}: recording rule names should be level:metric:operations (no colon here)"),
                    );
                }
                continue;
            }
            let name = r.name();
            if r.for_ms > 0 && r.for_ms < g.interval_ms {
                warn(
                    "for-shorter-than-interval",
                    format!(
                        "{name}: for ({}) is shorter than the group interval ({}), so it fires at the first evaluation that sees it",
                        d(r.for_ms),
                        d(g.interval_ms)
                    ),
                );
            }
            let severity = r.labels.get("severity").or(g.labels.get("severity"));
            match severity {
                None => warn(
                    "missing-severity",
                    format!("{name}: no severity label; routes and receivers cannot tell a page from a ticket"),
                ),
                Some(s) => severities.entry(name).or_default().push(s),
            }
            for (key, check) in [("summary", "missing-summary"), ("runbook_url", "missing-runbook-url")] {
                if !r.annotations.contains_key(key) {
                    warn(check, format!("{name}: no {key} annotation; the on-call engineer gets less to act on"));
                }
            }
        }
        for (name, mut sev) in severities {
            sev.sort();
            sev.dedup();
            if sev.len() > 1 {
                let line = g.rules.iter().find(|r| r.name() == name).map_or(g.line, |r| r.line);
                out.push(Warning {
                    line,
                    check: "mixed-severity",
                    message: format!(
                        "{name}: alert defined with different severities in group {:?}: {}",
                        g.name,
                        sev.join(", ")
                    ),
                });
            }
        }
    }
    out
}

/// promtool's `duplicate-rules`: rules of one file with the same name and the same labels
/// (in any group) write the same series twice.
pub(crate) fn duplicates(groups: &[Group]) -> Vec<Warning> {
    type Identity<'a> = (String, Vec<(&'a String, &'a String)>);
    let mut seen: std::collections::BTreeMap<Identity<'_>, Vec<usize>> = Default::default();
    for g in groups {
        for r in &g.rules {
            let labels: Vec<(&String, &String)> = r.labels.iter().collect();
            seen.entry((r.name().to_string(), labels)).or_default().push(r.line);
        }
    }
    seen.into_iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|((name, labels), lines)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            Warning {
                line: lines[1],
                check: "duplicate-rules",
                message: format!(
                    "{name}: {} rules with the same name and labels {{{}}} (lines {})",
                    lines.len(),
                    labels.join(", "),
                    lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
                ),
            }
        })
        .collect()
}

/// Synthetic series sidewatch itself writes for every target or rule.
const SYNTHETIC: &[&str] =
    &["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE"];

/// Warnings for selectors of metrics that no target exposes (`exposed`: what the targets
/// expose now plus what rules record): such an expression can never return data.
pub(crate) fn never_returns(groups: &[Group], exposed: &std::collections::HashSet<String>) -> Vec<Warning> {
    let mut out = Vec::new();
    for g in groups {
        for r in &g.rules {
            let mut seen = std::collections::BTreeSet::new();
            for (name, _) in crate::promql::lookback_by_metric(&r.expr) {
                let Some(name) = name else { continue };
                let synthetic =
                    SYNTHETIC.contains(&name.as_str()) || name.starts_with("probe_") || name.starts_with("sidewatch_");
                if !synthetic && !exposed.contains(&name) && seen.insert(name.clone()) {
                    out.push(Warning {
                        line: r.line,
                        check: "no-target-exposes",
                        message: format!(
                            "{}: no target exposes {name}; this expression can never return data",
                            r.name()
                        ),
                    });
                }
            }
        }
    }
    out
}
