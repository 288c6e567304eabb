//! *Metric relabeling*: Prometheus' `metric_relabel_configs` applied to each new series before
//! it is stored — `keep`/`drop` a series by a regex over label values, `labeldrop`/`labelkeep`
//! by label name, `replace` to write a label. Decisions are cached per raw series text, so a
//! rule costs nothing on later scrapes of the same series.

use super::{RelabelAction, RelabelConfig};
use regex::Regex;

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    action: RelabelAction,
    source: Vec<String>,
    separator: String,
    regex: Regex,
    target: String,
    replacement: String,
}

impl Rule {
    /// Compiles a configured rule (its regex was checked when the config was loaded).
    pub(crate) fn compile(cfg: &RelabelConfig) -> Result<Rule, regex::Error> {
        Ok(Rule {
            action: cfg.action,
            source: cfg.source_labels.clone(),
            separator: cfg.separator.clone(),
            regex: Regex::new(&format!("^(?s:{})$", cfg.regex))?,
            target: cfg.target_label.clone(),
            replacement: cfg.replacement.clone(),
        })
    }
}

fn value<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Applies `rules` in order to `labels` (which include `__name__`). Returns `false` when the
/// series is dropped.
pub(crate) fn apply(rules: &[Rule], labels: &mut Vec<(String, String)>) -> bool {
    for r in rules {
        let joined = || r.source.iter().map(|s| value(labels, s)).collect::<Vec<_>>().join(&r.separator);
        match r.action {
            RelabelAction::Keep => {
                if !r.regex.is_match(&joined()) {
                    return false;
                }
            }
            RelabelAction::Drop => {
                if r.regex.is_match(&joined()) {
                    return false;
                }
            }
            RelabelAction::Labeldrop => labels.retain(|(k, _)| !r.regex.is_match(k)),
            RelabelAction::Labelkeep => labels.retain(|(k, _)| k == "__name__" || r.regex.is_match(k)),
            RelabelAction::Replace => {
                let src = joined();
                let Some(caps) = r.regex.captures(&src) else { continue };
                let mut out = String::new();
                caps.expand(&r.replacement, &mut out);
                labels.retain(|(k, _)| *k != r.target);
                if !out.is_empty() {
                    labels.push((r.target.clone(), out));
                }
            }
        }
    }
    labels.iter().any(|(k, v)| k == "__name__" && !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: RelabelAction, src: &[&str], regex: &str, target: &str, repl: &str) -> Rule {
        Rule::compile(&RelabelConfig {
            action,
            source_labels: src.iter().map(|s| s.to_string()).collect(),
            regex: regex.into(),
            target_label: target.into(),
            replacement: repl.into(),
            ..Default::default()
        })
        .unwrap()
    }

    fn set(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn keep_drop_labeldrop_replace() {
        let keep = [rule(RelabelAction::Keep, &["__name__"], "http_.*", "", "")];
        assert!(apply(&keep, &mut set(&[("__name__", "http_requests_total")])));
        assert!(!apply(&keep, &mut set(&[("__name__", "go_gc_duration_seconds")])));
        let drop = [rule(RelabelAction::Drop, &["__name__", "le"], "h_bucket;0\\..*", "", "")];
        assert!(!apply(&drop, &mut set(&[("__name__", "h_bucket"), ("le", "0.5")])));
        assert!(apply(&drop, &mut set(&[("__name__", "h_bucket"), ("le", "1")])));
        let mut l = set(&[("__name__", "m"), ("pod", "x-1"), ("pod_ip", "1.2.3.4")]);
        assert!(apply(&[rule(RelabelAction::Labeldrop, &[], "pod_.*", "", "")], &mut l));
        assert_eq!(l, set(&[("__name__", "m"), ("pod", "x-1")]));
        let mut l = set(&[("__name__", "m"), ("path", "/users/42")]);
        assert!(apply(&[rule(RelabelAction::Replace, &["path"], "/(\\w+)/.*", "route", "/${1}/{id}")], &mut l));
        assert_eq!(value(&l, "route"), "/users/{id}");
        // A replacement that comes out empty removes the label.
        assert!(apply(&[rule(RelabelAction::Replace, &["nope"], "(.*)", "path", "$1")], &mut l));
        assert_eq!(value(&l, "path"), "");
        let mut l = set(&[("__name__", "m"), ("a", "1"), ("b", "2")]);
        assert!(apply(&[rule(RelabelAction::Labelkeep, &[], "a", "", "")], &mut l));
        assert_eq!(l, set(&[("__name__", "m"), ("a", "1")]));
    }
}
