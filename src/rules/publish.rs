//! *Publishing*: what a rule group's evaluation puts on the rule manager's alert stream — its
//! transitions (typed state changes) and its alerts as receivers see them (firing ones, and
//! resolved ones still held, with the value at resolution, the external labels and a link to
//! the expression).

use super::eval::{Context, Event, GroupState};
use crate::alerts::State;
use crate::alerts::stream::{ActiveAlert, AlertEvent, AlertStream, GroupAlerts, Map, Transitions};

/// A group's key in storage and on the stream: `file;name`.
pub(crate) fn group_key(g: &GroupState) -> String {
    format!("{};{}", g.group.file, g.group.name)
}

/// Publishes the outcome of one evaluation of `g` (which made `events`) at `now`: the
/// transitions when there are any, the alert set always; each only when someone subscribed.
pub(crate) fn publish(stream: &AlertStream, g: &GroupState, events: &[Event], ctx: &Context, now: i64) {
    if !events.is_empty() && stream.transitions.has_subscribers() {
        stream.transitions.publish(Transitions { group: group_key(g), events: transitions(g, events) });
    }
    if stream.alerts.has_subscribers() {
        stream.alerts.publish(GroupAlerts { group: group_key(g), alerts: alerts(g, ctx, now) });
    }
}

/// `events` as stream events.
pub(crate) fn transitions(g: &GroupState, events: &[Event]) -> Vec<AlertEvent> {
    events
        .iter()
        .map(|e| {
            let t = &e.transition;
            let r = &g.rules[e.rule];
            AlertEvent {
                rule: r.rule.name().to_string(),
                fingerprint: t.fingerprint,
                labels: t.labels.clone(),
                annotations: r.alerts.active.get(&t.fingerprint).map(|a| a.annotations.clone()).unwrap_or_default(),
                from: t.from,
                to: t.to,
                value: t.value,
                at: t.at,
            }
        })
        .collect()
}

/// The alerts of `g` receivers care about: firing ones, and resolved ones still held (with
/// their value at resolution), labelled with the external labels.
pub(crate) fn alerts(g: &GroupState, ctx: &Context, now: i64) -> Vec<ActiveAlert> {
    let mut out = Vec::new();
    for r in &g.rules {
        if r.rule.alert.is_none() {
            continue;
        }
        let url = format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            ctx.external_url,
            form_urlencoded::byte_serialize(r.rule.expr_text.as_bytes()).collect::<String>()
        );
        for a in r.alerts.active.values() {
            let (Some(fired), ends) = (a.fired_at, a.resolved_at) else { continue };
            let ends_at = match a.state {
                State::Firing => None,
                State::Inactive if ends.is_some() => ends,
                _ => continue,
            };
            let mut labels: Map = a.labels.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            for (k, v) in &ctx.external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push(ActiveAlert {
                labels,
                annotations: a.annotations.clone().into_iter().collect(),
                starts_at: fired,
                ends_at,
                value: a.value,
                flaps: a.flaps(now) as u32,
                generator_url: url.clone(),
            });
        }
    }
    out
}
