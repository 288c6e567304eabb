//! Dispatcher timing and muting, driven with explicit times.

use super::*;
use crate::notify::{InhibitRuleConfig, RouteConfig};

fn rules(route: &str, inhibit: Vec<InhibitRuleConfig>) -> Arc<Rules> {
    let cfg: RouteConfig = toml::from_str(route).unwrap();
    Arc::new(Rules {
        route: Route::compile(&cfg).unwrap(),
        inhibit: inhibit.iter().map(|c| InhibitRule::compile(c).unwrap()).collect(),
        intervals: HashMap::new(),
        flap_threshold: 4,
        max_alerts: 0,
        external_url: "http://sw".into(),
        runbook_base: "http://sw/runbooks/".into(),
    })
}

const ROUTE: &str = r#"
receiver = "r"
group_by = ["alertname"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "1h"
"#;

fn alert(name: &str, inst: &str, starts: i64) -> ActiveAlert {
    ActiveAlert {
        labels: [("alertname", name), ("instance", inst), ("severity", "warning")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: Map::new(),
        starts_at: starts,
        ends_at: None,
        value: 1.0,
        flaps: 0,
        generator_url: String::new(),
    }
}

fn statuses(out: &[Outgoing]) -> Vec<(String, Vec<String>)> {
    out.iter()
        .map(|o| {
            let a = o.notification.alerts.iter().map(|a| format!("{}:{}", a.labels["instance"], a.status)).collect();
            (o.kind.clone(), a)
        })
        .collect()
}

fn d(r: Arc<Rules>) -> Dispatcher {
    Dispatcher::new(r, Arc::new(Runbooks::default()))
}

#[test]
fn group_wait_then_group_interval_then_repeat_then_resolved() {
    let mut d = d(rules(ROUTE, vec![]));
    let t0 = 1_000_000;
    d.update("g", vec![alert("A", "1", t0)], t0);
    assert!(d.flush(t0 + 29_000).is_empty(), "held for group_wait");
    d.update("g", vec![alert("A", "1", t0), alert("A", "2", t0 + 10_000)], t0 + 10_000);
    let out = d.flush(t0 + 30_000);
    assert_eq!(statuses(&out), [("firing".to_string(), vec!["1:firing".to_string(), "2:firing".to_string()])]);
    assert_eq!(out[0].notification.group_key, r#"{}:{alertname="A"}"#);
    // A third alert waits for the next group_interval tick.
    d.update("g", vec![alert("A", "1", t0), alert("A", "2", t0), alert("A", "3", t0 + 60_000)], t0 + 60_000);
    assert!(d.flush(t0 + 60_000).is_empty());
    let out = d.flush(t0 + 330_000);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.alerts.len(), 3);
    // Unchanged: nothing until repeat_interval.
    assert!(d.flush(t0 + 630_000).is_empty());
    let out = d.flush(t0 + 330_000 + 3_600_000);
    assert_eq!(out.len(), 1, "repeat");
    // Instance 1 resolves (value at resolution kept), the others stay.
    let mut r1 = alert("A", "1", t0);
    r1.ends_at = Some(t0 + 4_000_000);
    r1.value = 0.5;
    d.update("g", vec![r1, alert("A", "2", t0), alert("A", "3", t0)], t0 + 4_000_000);
    let out = d.flush(t0 + 4_230_000);
    assert_eq!(statuses(&out)[0].1, ["2:firing", "3:firing", "1:resolved"]);
    let resolved = &out[0].notification.alerts[2];
    assert_eq!(resolved.sidewatch.as_ref().unwrap().value, "0.5");
    // Everything disappears (rule removed): resolved now, then the group is gone.
    d.update("g", vec![], t0 + 4_300_000);
    let out = d.flush(t0 + 4_530_000);
    assert_eq!(out[0].kind, "resolved");
    assert_eq!(d.group_count(), 0);
}

#[test]
fn resolved_before_first_notification_is_never_sent() {
    let mut d = d(rules(ROUTE, vec![]));
    d.update("g", vec![alert("A", "1", 0)], 0);
    let mut r = alert("A", "1", 0);
    r.ends_at = Some(10_000);
    d.update("g", vec![r], 10_000);
    assert!(d.flush(40_000).is_empty());
    assert_eq!(d.group_count(), 0);
}

#[test]
fn old_alerts_skip_group_wait() {
    let mut d = d(rules(ROUTE, vec![]));
    d.update("g", vec![alert("A", "1", 0)], 100_000);
    assert_eq!(d.flush(100_000).len(), 1);
}

#[test]
fn silenced_and_inhibited_alerts_are_recorded_once_not_sent() {
    let inhibit = vec![InhibitRuleConfig {
        source_matchers: vec![r#"severity="critical""#.into()],
        target_matchers: vec![r#"severity="warning""#.into()],
        equal: vec!["instance".into()],
    }];
    let mut d = d(rules(ROUTE, inhibit));
    let mut crit = alert("B", "1", 0);
    crit.labels.insert("severity".into(), "critical".into());
    d.update("g", vec![alert("A", "1", 0), alert("A", "2", 0), crit], 0);
    d.set_silences(vec![Silence {
        id: "s".into(),
        matchers: super::super::matcher::parse_all(&["instance=\"2\"".into()]).unwrap(),
        starts_at: 0,
        ends_at: 1_000_000,
        created_by: "me".into(),
        comment: "maint".into(),
    }]);
    let out = d.flush(30_000);
    let suppressed: Vec<_> = out.iter().filter_map(|o| o.suppressed.clone()).collect();
    assert_eq!(suppressed.len(), 2, "{out:?}");
    assert!(suppressed.iter().any(|s| s.starts_with("inhibited by B")));
    assert!(suppressed.iter().any(|s| s.starts_with("silenced by s")));
    let sent: Vec<_> = out.iter().filter(|o| o.suppressed.is_none()).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].notification.alerts[0].labels["alertname"], "B");
    assert!(d.flush(30_000 + 300_000).iter().all(|o| o.suppressed.is_none()), "recorded once");
}

#[test]
fn flapping_alert_is_held_and_announced_once() {
    let mut d = d(rules(ROUTE, vec![]));
    let mut a = alert("A", "1", 0);
    a.flaps = 5;
    d.update("g", vec![a.clone()], 0);
    let out = d.flush(30_000);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "flapping");
    assert_eq!(out[0].notification.alerts[0].sidewatch.as_ref().unwrap().flaps, 5);
    d.update("g", vec![a.clone()], 40_000);
    assert!(d.flush(330_000).is_empty(), "held while flapping");
    a.flaps = 2;
    d.update("g", vec![a], 400_000);
    let out = d.flush(630_000);
    assert_eq!(statuses(&out), [("firing".to_string(), vec!["1:firing".to_string()])]);
}

#[test]
fn mute_time_interval_holds_notifications_until_it_ends() {
    let mut r = (*rules(&format!("{ROUTE}\nmute_time_intervals = [\"always\"]\n"), vec![])).clone();
    r.intervals.insert(
        "always".into(),
        super::super::timeinterval::TimeInterval::compile(&crate::notify::TimeIntervalConfig {
            name: "always".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let mut d = d(Arc::new(r));
    d.update("g", vec![alert("A", "1", 0)], 0);
    let out = d.flush(30_000);
    assert_eq!(out.len(), 1);
    assert!(out[0].suppressed.as_deref().unwrap().contains("muted by time interval always"));
    assert!(d.flush(330_000).is_empty(), "recorded once");
}
