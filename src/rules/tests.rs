//! Concurrent evaluation of a group's queries against rule-by-rule evaluation.

use super::eval::{Context, GroupState, independent};
use super::file::parse;
use crate::promql::{Engine, EngineOptions};
use crate::store::{MatchOp, Matcher, Store};
use std::sync::Arc;

const GROUP: &str = r#"
groups:
- name: http
  rules:
  - alert: ErrorRatio
    expr: sum by (route) (rate(http_requests_total{status="500"}[1m])) / sum by (route) (rate(http_requests_total[1m])) > 0.1
    for: 30s
    labels: { severity: critical }
    annotations: { summary: "{{ $labels.route }} at {{ $value | humanizePercentage }}" }
  - alert: AnyErrors
    expr: sum by (route) (rate(http_requests_total{status="500"}[1m])) > 0
  - alert: Busy
    expr: rate(http_requests_total{status="200"}[1m]) > 0.5
  - record: route:http_requests:rate1m
    expr: sum by (route) (rate(http_requests_total[1m]))
"#;

/// Ten routes, one of them failing half of its requests from minute 5.
fn store() -> Arc<Store> {
    let store = Arc::new(Store::new(10_000, 3_600_000));
    for r in 0..10 {
        let route = format!("/r{r}");
        for status in ["200", "500"] {
            let id = store
                .get_or_create([("__name__", "http_requests_total"), ("route", &route), ("status", status)])
                .unwrap();
            let mut v = 0.0;
            for k in 0..60i64 {
                v += match (status, r) {
                    ("200", _) => 10.0 + r as f64,
                    ("500", 3) if k >= 20 => 10.0,
                    _ => 0.0,
                };
                store.append(id, k * 15_000, v).unwrap();
            }
        }
    }
    store
}

/// Events, alert states and the store's `ALERTS` series after evaluating at every 15 s.
fn run(concurrency: usize) -> (Vec<String>, Vec<String>, Vec<String>) {
    let store = store();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let group = parse(GROUP, "t.yml", 15_000).unwrap().remove(0);
    assert!(independent(&group));
    let mut g = GroupState::new(group);
    let ctx = Context { concurrency, ..Default::default() };
    let mut events = Vec::new();
    for k in 4..60i64 {
        for e in g.eval(&engine, k * 15_000, &ctx) {
            events.push(format!(
                "{} {:?} {:?}->{:?} {}",
                e.rule, e.transition.labels, e.transition.from, e.transition.to, e.transition.at
            ));
        }
    }
    // The order of changes within one evaluation follows a hash map's; compare them as a set.
    events.sort();
    let mut alerts: Vec<String> = g
        .rules
        .iter()
        .flat_map(|r| r.alerts.live().map(|a| format!("{:?} {:?} {:?}", a.labels, a.state, a.annotations)))
        .collect();
    alerts.sort();
    let mut series: Vec<String> = ["ALERTS", "route:http_requests:rate1m"]
        .iter()
        .flat_map(|n| store.query(&[Matcher::new(MatchOp::Equal, "__name__", *n).unwrap()], 0, i64::MAX))
        .map(|(l, s)| format!("{l:?} {s:?}"))
        .collect();
    series.sort();
    assert!(
        g.rules.iter().all(|r| r.health == super::Health::Ok),
        "{:?}",
        g.rules.iter().map(|r| &r.last_error).collect::<Vec<_>>()
    );
    (events, alerts, series)
}

#[test]
fn concurrent_queries_give_what_rule_by_rule_evaluation_gives() {
    let one = run(1);
    assert!(one.0.iter().any(|e| e.contains("Firing")), "the failing route fires: {:?}", one.0);
    assert!(!one.2.is_empty());
    assert_eq!(run(3), one);
}

#[test]
fn groups_reading_what_they_write_are_evaluated_rule_by_rule() {
    let dependent = |rules: &str| {
        let text = format!("groups:\n- name: g\n  rules:\n{rules}");
        !independent(&parse(&text, "t.yml", 15_000).unwrap()[0])
    };
    // A later rule reads a recorded name.
    assert!(dependent("  - record: job:up:sum\n    expr: sum(up)\n  - alert: A\n    expr: job:up:sum < 1\n"));
    // A rule reads ALERTS, which the group's alerting rules write.
    assert!(dependent(
        "  - alert: A\n    expr: up == 0\n  - alert: B\n    expr: count(ALERTS{alertstate=\"firing\"}) > 3\n"
    ));
    // A selector without a metric name could read anything.
    assert!(dependent("  - alert: A\n    expr: up == 0\n  - alert: B\n    expr: count({job=\"api\"}) > 3\n"));
    assert!(dependent("  - record: a:b\n    expr: sum(up)\n  - alert: B\n    expr: count({__name__=~\"a:.*\"}) > 3\n"));
    assert!(!dependent(
        "  - record: a:b\n    expr: sum(up)\n  - alert: B\n    expr: count({__name__=~\"x:.*\"}) > 3\n"
    ));
    assert!(!dependent("  - alert: A\n    expr: up == 0\n  - alert: B\n    expr: rate(x_total[5m]) > 3\n"));
}

#[test]
fn alert_writes_of_changed_rows_keep_storage_equal_to_a_whole_snapshot() {
    use super::persist::{Written, diff, snapshot};
    use crate::storage::StoredAlert;
    let store = store();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let mut g = GroupState::new(parse(GROUP, "t.yml", 15_000).unwrap().remove(0));
    let ctx = Context::default();
    // What a restart needs of each row (value, annotations and write time are refreshed by the
    // periodic whole rewrite).
    let key = |a: &StoredAlert| {
        let t = (a.active_at, a.fired_at, a.resolved_at, a.keep_firing_since);
        (a.rule.clone(), a.fingerprint.clone(), a.labels.clone(), a.state.clone(), t)
    };
    let mut written = Written::default();
    let mut stored = std::collections::BTreeMap::new();
    let (mut rows, mut whole_rows) = (0, 0);
    for k in 4..60i64 {
        g.eval(&engine, k * 15_000, &ctx);
        if k == 40 {
            // An alert gone without a transition (as a resolved one is, after its retention).
            let fp = *g.rules[2].alerts.active.keys().next().unwrap();
            g.rules[2].alerts.active.remove(&fp);
        }
        let d = diff(&g, k * 15_000, &mut written);
        assert_eq!(d.deletes.len(), usize::from(k == 40), "at step {k}");
        for (rule, fp) in &d.deletes {
            assert!(stored.remove(&(rule.clone(), fp.clone())).is_some(), "deleted {rule} {fp} was not stored");
        }
        rows += d.upserts.len();
        for a in d.upserts {
            stored.insert((a.rule.clone(), a.fingerprint.clone()), a);
        }
        let whole = snapshot(&g, k * 15_000);
        whole_rows += whole.len();
        let mut want: Vec<_> = whole.iter().map(key).collect();
        let mut got: Vec<_> = stored.values().map(key).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "at step {k}");
    }
    assert!(rows * 10 < whole_rows, "{rows} rows written, {whole_rows} in whole snapshots");
}

#[test]
fn a_restart_keeps_each_alerts_flap_times() {
    use super::persist::{restore_group, snapshot};
    let store = store();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let group = parse(GROUP, "t.yml", 15_000).unwrap().remove(0);
    let mut g = GroupState::new(group.clone());
    let now = 40 * 15_000;
    g.eval(&engine, now, &Context::default());
    let (fp, a) = g.rules[1].alerts.active.iter_mut().next().expect("AnyErrors fires");
    let fp = *fp;
    a.changes = [now - 50_000, now - 30_000, now - 10_000].into();
    let rows = snapshot(&g, now);
    let mut after = GroupState::new(group);
    assert!(restore_group(&mut after, &rows, now, 60_000) > 0);
    let restored = &after.rules[1].alerts.active[&fp];
    assert_eq!(restored.flaps(now), 3, "a flapping alert is still flapping after a restart");
    assert_eq!(restored.changes, g.rules[1].alerts.active[&fp].changes);
}
