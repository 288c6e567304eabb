//! The *route tree*: each alert walks it from the root like in Alertmanager. A route takes the
//! alert when its matchers match; then its children are tried in order, the first matching
//! child wins unless it says `continue`, and when no child takes the alert the route itself
//! does. The route that takes an alert decides its receiver and how it is *grouped* (the
//! `group_by` labels) and timed (`group_wait`, `group_interval`, `repeat_interval`).

use super::matcher::{self, Matcher};
use crate::notify::RouteConfig;
use std::collections::BTreeMap;

/// Which labels split alerts into groups.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GroupBy {
    /// `["..."]`: every label.
    All,
    /// These labels.
    Labels(Vec<String>),
}

/// A compiled route.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// Stable key, as Alertmanager prints it: `{}` for the root, `{}/{severity="critical"}` below.
    pub(crate) key: String,
    /// Receiver name.
    pub(crate) receiver: String,
    /// Matchers.
    pub(crate) matchers: Vec<Matcher>,
    /// Continue to siblings after matching.
    pub(crate) continue_: bool,
    /// Grouping.
    pub(crate) group_by: GroupBy,
    /// ms.
    pub(crate) group_wait_ms: i64,
    /// ms.
    pub(crate) group_interval_ms: i64,
    /// ms.
    pub(crate) repeat_interval_ms: i64,
    /// Mute time interval names.
    pub(crate) mute: Vec<String>,
    /// Children.
    pub(crate) routes: Vec<Route>,
}

fn ms(d: Option<crate::config::Duration>, parent: i64) -> i64 {
    d.map(|d| d.get().as_millis() as i64).unwrap_or(parent)
}

impl Route {
    /// Compiles the tree; errors name the route by its path (`notify.route.routes[1]`).
    pub(crate) fn compile(cfg: &RouteConfig) -> Result<Route, Vec<String>> {
        let (r, errors) = Self::compile_all(cfg);
        if errors.is_empty() { Ok(r) } else { Err(errors) }
    }

    /// Compiles what it can (bad matchers are left out) and returns every error.
    pub(crate) fn compile_all(cfg: &RouteConfig) -> (Route, Vec<String>) {
        let root = Route {
            key: String::new(),
            receiver: String::new(),
            matchers: Vec::new(),
            continue_: false,
            group_by: GroupBy::Labels(vec!["alertname".into()]),
            group_wait_ms: 30_000,
            group_interval_ms: 300_000,
            repeat_interval_ms: 4 * 3_600_000,
            mute: Vec::new(),
            routes: Vec::new(),
        };
        let mut errors = Vec::new();
        let r = Self::build(cfg, &root, "notify.route", "{}".into(), &mut errors);
        (r, errors)
    }

    fn build(cfg: &RouteConfig, parent: &Route, path: &str, key: String, errors: &mut Vec<String>) -> Route {
        let matchers = matcher::parse_all(&cfg.matchers).unwrap_or_else(|e| {
            errors.push(format!("{path}.matchers: {e}"));
            Vec::new()
        });
        let group_by = match &cfg.group_by {
            None => parent.group_by.clone(),
            Some(l) if l.iter().any(|x| x == "...") => GroupBy::All,
            Some(l) => GroupBy::Labels(l.clone()),
        };
        let mut r = Route {
            key,
            receiver: if cfg.receiver.is_empty() { parent.receiver.clone() } else { cfg.receiver.clone() },
            matchers,
            continue_: cfg.continue_,
            group_by,
            group_wait_ms: ms(cfg.group_wait, parent.group_wait_ms),
            group_interval_ms: ms(cfg.group_interval, parent.group_interval_ms),
            repeat_interval_ms: ms(cfg.repeat_interval, parent.repeat_interval_ms),
            mute: if cfg.mute_time_intervals.is_empty() {
                parent.mute.clone()
            } else {
                cfg.mute_time_intervals.clone()
            },
            routes: Vec::new(),
        };
        for (field, v) in [("group_interval", r.group_interval_ms), ("repeat_interval", r.repeat_interval_ms)] {
            if v <= 0 {
                errors.push(format!("{path}.{field}: must be longer than 0s"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in cfg.routes.iter().enumerate() {
            let ms: Vec<String> = c.matchers.iter().map(|m| m.trim().to_string()).collect();
            let mut k = format!("{}/{{{}}}", r.key, ms.join(","));
            if !seen.insert(k.clone()) {
                k = format!("{k}/{i}");
            }
            let child = Self::build(c, &r, &format!("{path}.routes[{i}]"), k, errors);
            r.routes.push(child);
        }
        r
    }

    /// Every receiver name the tree refers to, with the route's path.
    pub(crate) fn receivers(&self, out: &mut Vec<String>) {
        out.push(self.receiver.clone());
        for c in &self.routes {
            c.receivers(out);
        }
    }

    /// Every mute interval name the tree refers to.
    pub(crate) fn mute_names(&self, out: &mut Vec<String>) {
        out.extend(self.mute.iter().cloned());
        for c in &self.routes {
            c.mute_names(out);
        }
    }

    /// The routes that take an alert with `labels` (the root always takes what nothing else does).
    pub(crate) fn find<'a>(&'a self, labels: &BTreeMap<String, String>) -> Vec<&'a Route> {
        if !matcher::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in &self.routes {
            let found = c.find(labels);
            if !found.is_empty() {
                out.extend(found);
                if !c.continue_ {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The group labels of an alert under this route.
    pub(crate) fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => {
                names.iter().filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone()))).collect()
            }
        }
    }

    /// Alertmanager's group key: `<route key>:{a="b", c="d"}`.
    pub(crate) fn group_key(&self, group_labels: &BTreeMap<String, String>) -> String {
        let ls: Vec<String> = group_labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}:{{{}}}", self.key, ls.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> RouteConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn first_match_wins_unless_continue_and_children_inherit() {
        let r = Route::compile(&cfg(r#"
            receiver = "oncall"
            group_by = ["alertname", "instance"]
            group_wait = "10s"
            [[routes]]
            matchers = ['severity="critical"']
            receiver = "pager"
            continue = true
            [[routes]]
            matchers = ['team=~"api|web"']
            receiver = "web"
            group_wait = "1s"
            [[routes]]
            matchers = ['team="api"']
            receiver = "never"
        "#))
        .unwrap();
        let names = |ls| r.find(&ls).iter().map(|r| r.receiver.clone()).collect::<Vec<_>>();
        assert_eq!(names(l(&[("severity", "critical"), ("team", "api")])), ["pager", "web"]);
        assert_eq!(names(l(&[("severity", "warning"), ("team", "api")])), ["web"]);
        assert_eq!(names(l(&[("severity", "warning")])), ["oncall"]);
        let web = &r.routes[1];
        assert_eq!((web.group_wait_ms, web.group_interval_ms), (1000, 300_000));
        assert_eq!(r.routes[0].group_wait_ms, 10_000, "inherited");
        assert_eq!(web.key, r#"{}/{team=~"api|web"}"#);
        let gl = web.group_labels(&l(&[("alertname", "A"), ("instance", "i"), ("x", "y")]));
        assert_eq!(web.group_key(&gl), r#"{}/{team=~"api|web"}:{alertname="A", instance="i"}"#);
    }

    #[test]
    fn bad_matchers_name_the_route() {
        let e = Route::compile(&cfg("[[routes]]\nmatchers = ['sev']\n")).unwrap_err();
        assert!(e[0].starts_with("notify.route.routes[0].matchers: matcher \"sev\""), "{e:?}");
    }
}
