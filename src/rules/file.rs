//! *Rule files* in Prometheus' format: `groups[]` of `name`, `interval`, `query_offset`,
//! `limit`, `labels` and `rules[]`, each rule a `record` or an `alert` with `expr`, `for`,
//! `keep_firing_for`, `labels` and `annotations`. Unknown keys are errors. Every problem is
//! reported as `file:line:column: message`, the line found from the rule's position in the file.

use crate::promql::Engine;
use promql_parser::parser::Expr;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The file.
    pub(crate) file: String,
    /// 1-based line (0: unknown).
    pub(crate) line: usize,
    /// 1-based column (0: unknown).
    pub(crate) column: usize,
    /// What is wrong.
    pub(crate) msg: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.msg),
            (l, 0) => write!(f, "{}:{l}: {}", self.file, self.msg),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file, self.msg),
        }
    }
}

/// A YAML scalar read as a string (`severity: 1` is `"1"`, as Prometheus reads it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        // As a string, a plain scalar keeps its text (`0x10` stays `0x10`, as Go's YAML reads it).
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    expr: Option<Scalar>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    annotations: BTreeMap<String, Scalar>,
}

/// A recording or alerting rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    /// `Some(name)` for a recording rule.
    pub(crate) record: Option<String>,
    /// `Some(name)` for an alerting rule.
    pub(crate) alert: Option<String>,
    /// The expression as written.
    pub(crate) expr_text: String,
    /// The parsed expression.
    pub(crate) expr: Expr,
    /// `for` in ms.
    pub(crate) for_ms: i64,
    /// `keep_firing_for` in ms.
    pub(crate) keep_firing_for_ms: i64,
    /// Labels added (templates allowed in alerting rules).
    pub(crate) labels: BTreeMap<String, String>,
    /// Annotations (alerting rules; templates allowed).
    pub(crate) annotations: BTreeMap<String, String>,
    /// Line of the rule in its file.
    pub(crate) line: usize,
}

impl Rule {
    /// The rule's name (the alert name or the recorded metric).
    pub(crate) fn name(&self) -> &str {
        self.alert.as_deref().or(self.record.as_deref()).unwrap_or("")
    }
}

/// A group of rules evaluated together, in order, on one interval.
#[derive(Clone, Debug)]
pub struct Group {
    /// The group's name (unique within its file).
    pub name: String,
    /// The file it came from.
    pub(crate) file: String,
    /// Line of the group in its file.
    pub(crate) line: usize,
    /// Evaluation interval in ms.
    pub(crate) interval_ms: i64,
    /// Evaluate at `t - query_offset` (ms).
    pub(crate) query_offset_ms: i64,
    /// Most alerts / series one rule may produce (0: no limit).
    pub(crate) limit: usize,
    /// Labels added to every rule of the group (a rule's own labels win).
    pub(crate) labels: BTreeMap<String, String>,
    /// The rules, in evaluation order.
    pub(crate) rules: Vec<Rule>,
}

/// A Prometheus duration (`5m`, `1h30m`, `0s`, `2d`); bare numbers other than 0 are refused.
pub(crate) fn parse_prom_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit() || b == b'.') || s.starts_with('-') {
        return None;
    }
    crate::promql::parse_duration_ms(s)
}

/// Where each group and rule starts: `(group lines, [(rule line, expr line, expr column)])`.
fn positions(text: &str) -> (Vec<usize>, Vec<(usize, usize, usize)>) {
    let lines: Vec<&str> = text.lines().collect();
    let key = |l: &str, k: &str| {
        let t = l.trim_start().trim_start_matches('-').trim_start();
        t.strip_prefix(k).is_some_and(|r| r.trim_start().starts_with(':'))
    };
    let mut groups = Vec::new();
    let mut rules: Vec<(usize, usize, usize)> = Vec::new();
    let mut item_start = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with('-') {
            item_start = i;
        }
        if l.trim_start().starts_with("- name") && key(l, "name") {
            groups.push(i + 1);
        }
        if key(l, "alert") || key(l, "record") {
            // The expr is in the same list item: search it from the item's first line.
            let mut expr = (i + 1, 0);
            for (j, m) in lines.iter().enumerate().skip(item_start) {
                if j > item_start && j != i && m.trim_start().starts_with('-') && !key(m, "expr") {
                    let indent = |s: &str| s.len() - s.trim_start().len();
                    if indent(m) <= indent(lines[item_start]) {
                        break;
                    }
                }
                if key(m, "expr") {
                    let col = m.find("expr").map_or(0, |c| c + 1);
                    expr = (j + 1, col);
                    break;
                }
            }
            rules.push((i + 1, expr.0, expr.1));
        }
    }
    (groups, rules)
}

/// Parses one rule file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str, default_interval_ms: i64) -> Result<Vec<Group>, Vec<RuleError>> {
    let err = |line: usize, column: usize, msg: String| RuleError { file: file.to_string(), line, column, msg };
    let raw: RawFile = match yaml_serde::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let (l, c) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            return Err(vec![err(l, c, msg)]);
        }
    };
    let (group_lines, rule_pos) = positions(text);
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut rule_index = 0;
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let gline = group_lines.get(gi).copied().unwrap_or(0);
        if g.name.trim().is_empty() {
            errors.push(err(gline, 0, "group name must not be empty".into()));
        } else if !names.insert(g.name.clone()) {
            errors.push(err(gline, 0, format!("groupname: {:?} is repeated in the same file", g.name)));
        }
        let mut dur = |what: &str, v: &Option<String>| -> i64 {
            match v.as_deref().map(|s| (s, parse_prom_duration(s))) {
                None => 0,
                Some((_, Some(ms))) => ms,
                Some((s, None)) => {
                    errors.push(err(
                        gline,
                        0,
                        format!("group {:?}: {what} {s:?} is not a duration like \"30s\" or \"5m\"", g.name),
                    ));
                    0
                }
            }
        };
        let interval = dur("interval", &g.interval);
        let query_offset = dur("query_offset", &g.query_offset);
        let mut group = Group {
            name: g.name.clone(),
            file: file.to_string(),
            line: gline,
            interval_ms: if interval > 0 { interval } else { default_interval_ms },
            query_offset_ms: query_offset,
            limit: g.limit.unwrap_or(0),
            labels: g.labels.into_iter().map(|(k, v)| (k, v.0)).collect(),
            rules: Vec::new(),
        };
        for r in g.rules {
            let (line, eline, ecol) = rule_pos.get(rule_index).copied().unwrap_or((0, 0, 0));
            rule_index += 1;
            match check_rule(r, line, (eline, ecol), text) {
                Ok(rule) => group.rules.push(rule),
                Err(es) => errors.extend(es.into_iter().map(|(l, c, m)| err(l, c, m))),
            }
        }
        groups.push(group);
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}

/// Validates one rule; errors as `(line, column, message)`.
fn check_rule(
    r: RawRule,
    line: usize,
    expr_pos: (usize, usize),
    text: &str,
) -> Result<Rule, Vec<(usize, usize, String)>> {
    let mut errors = Vec::new();
    let what = r.alert.as_deref().or(r.record.as_deref()).unwrap_or("").to_string();
    match (&r.record, &r.alert) {
        (Some(_), Some(_)) => errors.push((line, 0, "only one of 'record' and 'alert' must be set".to_string())),
        (None, None) => errors.push((line, 0, "one of 'record' or 'alert' must be set".to_string())),
        (Some(rec), None) => {
            if !valid_metric_name(rec) {
                errors.push((line, 0, format!("invalid recording rule name: {rec}")));
            }
            if r.for_.is_some() {
                errors.push((line, 0, format!("{rec}: invalid field 'for' in recording rule")));
            }
            if r.keep_firing_for.is_some() {
                errors.push((line, 0, format!("{rec}: invalid field 'keep_firing_for' in recording rule")));
            }
            if !r.annotations.is_empty() {
                errors.push((line, 0, format!("{rec}: invalid field 'annotations' in recording rule")));
            }
        }
        (None, Some(a)) => {
            if a.trim().is_empty() {
                errors.push((line, 0, "alert name must not be empty".to_string()));
            }
        }
    }
    for k in r.labels.keys() {
        if k == "__name__" || k.is_empty() {
            errors.push((line, 0, format!("{what}: invalid label name: {k:?}")));
        }
    }
    let expr_text = r.expr.map(|s| s.0).unwrap_or_default();
    let expr = if expr_text.trim().is_empty() {
        errors.push((expr_pos.0, expr_pos.1, format!("{what}: field 'expr' must be set in rule")));
        None
    } else {
        use crate::promql::limits::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_LENGTH};
        match Engine::parse_located(&expr_text, DEFAULT_MAX_LENGTH, DEFAULT_MAX_DEPTH) {
            Ok(e) => Some(e),
            Err((e, at)) => {
                let msg = e.msg.trim_start_matches("invalid parameter \"query\": ").to_string();
                let (l, c) = at.map_or(expr_pos, |p| file_position(text, expr_pos.0, &expr_text, p));
                errors.push((l, c, format!("{what}: could not parse expression: {msg}")));
                None
            }
        }
    };
    let mut dur = |field: &str, v: &Option<String>| match v.as_deref().map(|s| (s, parse_prom_duration(s))) {
        None => 0,
        Some((_, Some(ms))) => ms,
        Some((s, None)) => {
            errors.push((line, 0, format!("{what}: {field} {s:?} is not a duration like \"30s\" or \"5m\"")));
            0
        }
    };
    let for_ms = dur("for", &r.for_);
    let keep_firing_for_ms = dur("keep_firing_for", &r.keep_firing_for);
    let labels: BTreeMap<String, String> = r.labels.into_iter().map(|(k, v)| (k, v.0)).collect();
    let annotations: BTreeMap<String, String> = r.annotations.into_iter().map(|(k, v)| (k, v.0)).collect();
    for (kind, map) in [("label", &labels), ("annotation", &annotations)] {
        for (k, v) in map {
            if let Err(e) = super::template::Template::parse(v) {
                errors.push((line, 0, format!("{what}: {kind} {k:?}: template: {e}")));
            }
        }
    }
    match (errors.is_empty(), expr) {
        (true, Some(expr)) => Ok(Rule {
            record: r.record,
            alert: r.alert,
            expr_text,
            expr,
            for_ms,
            keep_firing_for_ms,
            labels,
            annotations,
            line,
        }),
        _ => Err(errors),
    }
}

/// Maps `(line, column)` inside an expression to the rule file: each expression line is
/// found in turn from the `expr:` key's line on (plain, quoted and block scalars alike).
fn file_position(text: &str, expr_line: usize, expr: &str, (l, c): (usize, usize)) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = expr_line.saturating_sub(1);
    let mut found = (expr_line, 0);
    for (k, el) in expr.lines().enumerate().take(l) {
        let wanted = el.trim_start();
        let lead = el.chars().count() - wanted.chars().count();
        let Some((i, col)) =
            lines.iter().enumerate().skip(at).find_map(|(i, fl)| {
                (!wanted.is_empty()).then(|| fl.find(wanted).map(|b| (i, fl[..b].chars().count())))?
            })
        else {
            continue;
        };
        at = if k + 1 < l { i + 1 } else { i };
        found = (i + 1, col + 1 + c.saturating_sub(1).saturating_sub(lead));
    }
    if expr.lines().count() < l {
        // The end of a block scalar: the line after its last.
        found = (found.0 + 1, c);
    }
    found
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub(crate) fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Loads one file.
pub(crate) fn load(path: &Path, default_interval_ms: i64) -> Result<Vec<Group>, Vec<RuleError>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![RuleError { file: name.clone(), line: 0, column: 0, msg: format!("cannot read: {e}") }])?;
    parse(&text, &name, default_interval_ms)
}
