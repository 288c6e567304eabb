//! `[notify]`: how alerts become notifications — the route tree, receivers and their channels,
//! inhibition, mute time intervals, cooldown, flap damping and delivery limits.

pub(crate) use super::registry::ReceiverConfig;
use crate::config::Duration;
use serde::{Deserialize, Serialize};

/// `[notify]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// An identical payload (same receiver channel, same alerts, same status) is not sent again
    /// within this; it is recorded as `suppressed` instead.
    pub(crate) cooldown: Duration,
    /// A notification not delivered within this after it was queued is given up (`failed`,
    /// with the last error).
    pub(crate) max_delivery_age: Duration,
    /// Folder with handlebars templates that replace the built-in ones (same file names, see
    /// docs/NOTIFY.md); relative to the configuration file. Empty: built-in templates only.
    pub(crate) templates_dir: String,
    /// Folder of runbooks (`<alertname>.md`), relative to the configuration file; they add to
    /// and replace (same name) the built-in runbooks. Messages quote the first steps of
    /// "Check first", with `$label` filled from the alert.
    pub(crate) runbooks_dir: String,
    /// Where runbook links point: a relative `runbook_url` (`docs/runbooks/X.md`) becomes this
    /// followed by the runbook's name (`https://wiki.example.com/runbooks/X`). Empty:
    /// `<server.external_url>/runbooks/X`, served by sidewatch itself.
    pub(crate) runbook_base_url: String,
    /// An alert that changed state at least this often in the last hour is *flapping*: it is
    /// held and sent once as flapping, with its count. 0 turns flap damping off.
    pub(crate) flap_threshold: u32,
    /// Largest number of alerts in one notification; the rest are counted in `truncatedAlerts`.
    pub(crate) max_alerts: usize,
    /// Notifications per minute per channel; during a storm the excess is sent as one summary.
    pub(crate) rate_limit_per_minute: u32,
    /// A row a worker claimed but did not finish (the process died) is claimed again after
    /// the channel's timeout plus this: the bound on how late, and how often twice, such a
    /// notification is delivered.
    pub(crate) claim_grace: Duration,
    /// How long delivery history is kept.
    pub(crate) history_retention: Duration,
    /// The root of the route tree.
    pub(crate) route: RouteConfig,
    /// Receivers: named sets of channels.
    pub(crate) receivers: Vec<ReceiverConfig>,
    /// Inhibition rules: a firing source alert mutes matching target alerts.
    pub(crate) inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named time intervals that routes can mute notifications in.
    pub(crate) mute_time_intervals: Vec<TimeIntervalConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            cooldown: Duration::from_secs(3600),
            max_delivery_age: Duration::from_secs(3600),
            templates_dir: String::new(),
            runbooks_dir: "docs/runbooks".into(),
            runbook_base_url: String::new(),
            flap_threshold: 6,
            max_alerts: 50,
            rate_limit_per_minute: 30,
            claim_grace: Duration::from_secs(60),
            history_retention: Duration::from_secs(30 * 86400),
            route: RouteConfig {
                receiver: String::new(),
                group_by: Some(vec!["alertname".into()]),
                group_wait: Some(Duration::from_secs(30)),
                group_interval: Some(Duration::from_secs(300)),
                repeat_interval: Some(Duration::from_secs(4 * 3600)),
                ..Default::default()
            },
            receivers: Vec::new(),
            inhibit_rules: Vec::new(),
            mute_time_intervals: Vec::new(),
        }
    }
}

/// A node of the route tree. A child route inherits every unset field from its parent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RouteConfig {
    /// Receiver of alerts that stop at this route.
    pub(crate) receiver: String,
    /// Alerts this route takes, e.g. `severity="critical"`, `team=~"api|web"` (the root takes all).
    pub(crate) matchers: Vec<String>,
    /// Keep looking at the next sibling route after this one matched.
    #[serde(rename = "continue")]
    pub(crate) continue_: bool,
    /// Labels that split alerts into notification groups; `["..."]` groups by all labels.
    pub(crate) group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first notification.
    pub(crate) group_wait: Option<Duration>,
    /// How long a group waits before notifying about changes (new or resolved alerts).
    pub(crate) group_interval: Option<Duration>,
    /// How long before an unchanged firing group is notified again.
    pub(crate) repeat_interval: Option<Duration>,
    /// Names of `mute_time_intervals` during which this route sends nothing.
    pub(crate) mute_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    pub(crate) routes: Vec<RouteConfig>,
}

/// An inhibition rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InhibitRuleConfig {
    /// Matchers a firing alert must satisfy to inhibit others.
    pub(crate) source_matchers: Vec<String>,
    /// Matchers of the alerts that get inhibited.
    pub(crate) target_matchers: Vec<String>,
    /// Labels that must be equal in source and target.
    pub(crate) equal: Vec<String>,
}

/// A named set of times (UTC unless `location` says otherwise).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimeIntervalConfig {
    /// Name that routes refer to.
    pub(crate) name: String,
    /// Days, e.g. `["saturday", "sunday"]` or `["monday:friday"]`; empty: every day.
    pub(crate) weekdays: Vec<String>,
    /// Times of day, e.g. `[{ start_time = "22:00", end_time = "07:00" }]`; empty: all day.
    pub(crate) times: Vec<TimeRangeConfig>,
    /// Fixed UTC offset such as `+02:00`; empty: UTC.
    pub(crate) location: String,
}

/// A time of day range; an end before the start wraps past midnight.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimeRangeConfig {
    /// `HH:MM`, inclusive.
    pub(crate) start_time: String,
    /// `HH:MM`, exclusive.
    pub(crate) end_time: String,
}
