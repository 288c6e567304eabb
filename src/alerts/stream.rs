//! The *alert stream*: how alert state leaves the rule manager. After each evaluation of a
//! rule group the manager publishes, on a stream it owns, the group's *transitions* (typed
//! state changes, when there are any) and the group's *alerts* (every firing alert and every
//! resolved one still held, as receivers see them). The notifier subscribes to the alerts,
//! the alert-state writer to the transitions; neither knows the other, and nothing between
//! them converts.

use super::State;
use crate::store::Labels;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Labels or annotations, as receivers see them.
pub type Map = BTreeMap<String, String>;

/// One alert state change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AlertEvent {
    /// The alerting rule's name.
    pub(crate) rule: String,
    /// The alert's identity: the fingerprint of its labels.
    pub(crate) fingerprint: u64,
    /// The alert's labels (without external labels).
    pub(crate) labels: Labels,
    /// Annotations at the change.
    pub(crate) annotations: BTreeMap<String, String>,
    /// From state.
    pub(crate) from: State,
    /// To state.
    pub(crate) to: State,
    /// The expression's value at the change.
    pub(crate) value: f64,
    /// When (ms).
    pub(crate) at: i64,
}

impl AlertEvent {
    /// The state history records: `to`, except that a firing alert going inactive is
    /// `resolved`.
    pub(crate) fn recorded_to(&self) -> HistoryState {
        match (self.from, self.to) {
            (State::Firing, State::Inactive) => HistoryState::Resolved,
            (_, to) => HistoryState::Alert(to),
        }
    }
}

/// A state as the alert history records it: an alert state, or `resolved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HistoryState {
    /// A state of the alert state machine.
    Alert(State),
    /// A firing alert ended.
    Resolved,
}

impl HistoryState {
    /// The SQL text: `inactive`, `pending`, `firing` or `resolved`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HistoryState::Alert(s) => s.as_str(),
            HistoryState::Resolved => "resolved",
        }
    }

    /// Parses the SQL text (what reads `alert_history` compares with [`HistoryState::as_str`]).
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Option<HistoryState> {
        match text {
            "resolved" => Some(HistoryState::Resolved),
            other => State::parse(other).map(HistoryState::Alert),
        }
    }
}

/// The state changes one evaluation of a group made (published only when there are some).
#[derive(Clone, Debug)]
pub(crate) struct Transitions {
    /// The group's key: `file;name`.
    pub(crate) group: String,
    /// The changes, in rule order.
    pub(crate) events: Vec<AlertEvent>,
}

/// An alert as receivers see it: firing, or resolved and still held.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    /// Labels, including `alertname` and external labels.
    pub labels: Map,
    /// Annotations, templates expanded.
    pub annotations: Map,
    /// When it started firing (ms).
    pub starts_at: i64,
    /// When it resolved (ms); `None` while firing.
    pub ends_at: Option<i64>,
    /// The current value, or the value at resolution.
    pub value: f64,
    /// State changes in the last hour.
    pub flaps: u32,
    /// Link to the expression.
    pub generator_url: String,
}

impl ActiveAlert {
    /// Whether it is firing.
    pub(crate) fn firing(&self) -> bool {
        self.ends_at.is_none()
    }
}

/// A group's complete set of alerts after one evaluation (published every evaluation: an
/// alert missing from it is no longer firing or held).
#[derive(Clone, Debug)]
pub(crate) struct GroupAlerts {
    /// The group's key: `file;name`.
    pub(crate) group: String,
    /// The alerts.
    pub(crate) alerts: Vec<ActiveAlert>,
}

/// One kind of message and its subscribers. Each subscriber gets every message, in order, on
/// an unbounded queue of its own (a slow subscriber delays nobody; nothing is dropped).
pub(crate) struct Topic<T> {
    subscribers: Mutex<Vec<UnboundedSender<Arc<T>>>>,
}

impl<T> Default for Topic<T> {
    fn default() -> Self {
        Topic { subscribers: Mutex::new(Vec::new()) }
    }
}

impl<T> Topic<T> {
    /// A new subscription: every message published from now on.
    pub(crate) fn subscribe(&self) -> UnboundedReceiver<Arc<T>> {
        let (tx, rx) = unbounded_channel();
        self.attach(tx);
        rx
    }

    /// Subscribes an existing queue.
    pub(crate) fn attach(&self, tx: UnboundedSender<Arc<T>>) {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    /// Whether anyone listens (publishers skip building messages nobody reads).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|s| !s.is_closed())
    }

    /// Sends `message` to every subscriber; subscribers that went away are forgotten.
    pub(crate) fn publish(&self, message: T) {
        let message = Arc::new(message);
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).retain(|s| s.send(message.clone()).is_ok());
    }
}

/// The rule manager's stream: transitions and alert sets.
#[derive(Default)]
pub(crate) struct AlertStream {
    /// State changes, for the alert-state writer and history.
    pub(crate) transitions: Topic<Transitions>,
    /// Alert sets, for the notifier.
    pub(crate) alerts: Topic<GroupAlerts>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_gets_every_message_in_order_and_closed_ones_are_dropped() {
        let t: Topic<u32> = Topic::default();
        assert!(!t.has_subscribers());
        let mut a = t.subscribe();
        let b = t.subscribe();
        t.publish(1);
        drop(b);
        assert!(t.has_subscribers());
        t.publish(2);
        assert_eq!(*a.try_recv().unwrap(), 1);
        assert_eq!(*a.try_recv().unwrap(), 2);
        assert_eq!(t.subscribers.lock().unwrap().len(), 1, "the closed subscription is forgotten");
    }

    #[test]
    fn history_states_round_trip_their_sql_text() {
        for s in ["inactive", "pending", "firing", "resolved"] {
            assert_eq!(HistoryState::parse(s).unwrap().as_str(), s);
        }
        assert!(HistoryState::parse("fired").is_none());
    }
}
