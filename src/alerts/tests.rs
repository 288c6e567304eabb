//! The state machine against Prometheus' behaviour: `for`, resolution, `keep_firing_for`,
//! dropped pending alerts, retention of resolved ones, flap counting.

use super::*;

fn cand(v: f64) -> Vec<Candidate> {
    vec![Candidate {
        labels: Labels::from_pairs([("alertname", "X"), ("job", "api")]),
        annotations: BTreeMap::new(),
        value: v,
    }]
}

fn states(t: &[Transition]) -> Vec<(State, State)> {
    t.iter().map(|t| (t.from, t.to)).collect()
}

#[test]
fn for_zero_fires_on_the_first_evaluation() {
    let mut s = AlertSet::default();
    let t = s.update(0, cand(1.0));
    assert_eq!(states(&t), vec![(State::Inactive, State::Pending), (State::Pending, State::Firing)]);
}

#[test]
fn pending_for_then_firing_then_resolved_and_kept_15m() {
    let mut s = AlertSet { for_ms: 60_000, ..Default::default() };
    assert_eq!(states(&s.update(0, cand(1.0))), vec![(State::Inactive, State::Pending)]);
    assert!(s.update(30_000, cand(2.0)).is_empty());
    assert_eq!(states(&s.update(60_000, cand(3.0))), vec![(State::Pending, State::Firing)]);
    let a = s.live().next().unwrap();
    assert_eq!((a.active_at, a.fired_at, a.value), (0, Some(60_000), 3.0));
    assert_eq!(states(&s.update(75_000, vec![])), vec![(State::Firing, State::Inactive)]);
    assert_eq!(s.active.len(), 1, "a resolved alert is kept to be sent as resolved");
    s.update(75_000 + RESOLVED_RETENTION_MS, vec![]);
    assert_eq!(s.active.len(), 1);
    s.update(75_000 + RESOLVED_RETENTION_MS + 1, vec![]);
    assert!(s.active.is_empty());
}

#[test]
fn a_pending_alert_that_vanishes_is_dropped_and_restarts_its_clock() {
    let mut s = AlertSet { for_ms: 60_000, ..Default::default() };
    s.update(0, cand(1.0));
    assert_eq!(states(&s.update(15_000, vec![])), vec![(State::Pending, State::Inactive)]);
    assert!(s.active.is_empty());
    s.update(30_000, cand(1.0));
    assert!(s.update(75_000, cand(1.0)).is_empty(), "for counts from 30s again");
    assert_eq!(states(&s.update(90_000, cand(1.0))), vec![(State::Pending, State::Firing)]);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut s = AlertSet { keep_firing_for_ms: 60_000, ..Default::default() };
    s.update(0, cand(1.0));
    assert!(s.update(15_000, vec![]).is_empty());
    assert!(s.update(60_000, vec![]).is_empty());
    assert_eq!(s.live().count(), 1);
    assert_eq!(states(&s.update(75_000, vec![])), vec![(State::Firing, State::Inactive)]);
    // Coming back within the hold resets it.
    let mut s = AlertSet { keep_firing_for_ms: 60_000, ..Default::default() };
    s.update(0, cand(1.0));
    s.update(50_000, vec![]);
    s.update(60_000, cand(1.0));
    assert!(s.update(100_000, vec![]).is_empty());
    assert!(s.update(150_000, vec![]).is_empty());
}

#[test]
fn flapping_is_counted() {
    let mut s = AlertSet::default();
    for k in 0..5 {
        s.update(k * 60_000, cand(1.0));
        s.update(k * 60_000 + 30_000, vec![]);
    }
    let a = s.active.values().next().unwrap();
    assert_eq!(a.flaps(5 * 60_000), 10, "fired and resolved five times; pending does not count");
}

#[test]
fn a_restored_alert_is_held_while_its_windows_refill() {
    let mut s = AlertSet::default();
    s.update(0, cand(1.0));
    let fp = *s.active.keys().next().unwrap();
    s.active.get_mut(&fp).unwrap().warming_until = Some(300_000);
    assert!(s.update(60_000, vec![]).is_empty(), "no data yet after the restart: held");
    assert_eq!(s.live().count(), 1);
    assert_eq!(states(&s.update(300_000, vec![])), vec![(State::Firing, State::Inactive)]);
}
