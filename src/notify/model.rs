//! The *notification*: what one receiver is told about one aggregation group at one moment —
//! Alertmanager's webhook payload (version 4), plus, per alert, what only sidewatch knows (the
//! current value or the value at resolution, the flap count, the runbook's first steps). The
//! outbox stores it as JSON; each channel renders it its own way.

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use crate::alerts::stream::{ActiveAlert, Map};

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted `name 0xff value 0xff`.
pub(crate) fn fingerprint(labels: &Map) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut add = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    h
}

/// RFC 3339 in UTC, as Alertmanager prints times.
pub(crate) fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)).unwrap_or_default()
}

/// Alertmanager's "no end" time.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Whether an alert (or a notification) is `firing` or `resolved`, as Alertmanager's payload
/// says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Still firing.
    Firing,
    /// Ended.
    Resolved,
}

impl AlertStatus {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for AlertStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One alert in a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlertData {
    /// `firing` or `resolved`.
    pub(crate) status: AlertStatus,
    /// Labels.
    pub(crate) labels: Map,
    /// Annotations.
    pub(crate) annotations: Map,
    /// RFC 3339.
    pub(crate) starts_at: String,
    /// RFC 3339, or `0001-01-01T00:00:00Z` while firing.
    pub(crate) ends_at: String,
    /// Link to the expression.
    #[serde(rename = "generatorURL")]
    pub(crate) generator_url: String,
    /// 16 hex digits.
    pub(crate) fingerprint: String,
    /// What only sidewatch knows; left out of the webhook payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sidewatch: Option<AlertExtra>,
}

/// sidewatch's additions to an alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertExtra {
    /// The current value (firing) or the value at resolution, formatted.
    pub(crate) value: String,
    /// State changes in the last hour.
    pub(crate) flaps: u32,
    /// The runbook link (annotation `runbook_url`), if any.
    pub(crate) runbook_url: String,
    /// The first investigation steps from the runbook.
    pub(crate) runbook_steps: Vec<String>,
}

/// One notification, as Alertmanager's webhook payload (version 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Receiver name.
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    pub(crate) status: AlertStatus,
    /// The alerts (at most `max_alerts`).
    pub(crate) alerts: Vec<AlertData>,
    /// The group's labels.
    pub(crate) group_labels: Map,
    /// Labels all alerts share.
    pub(crate) common_labels: Map,
    /// Annotations all alerts share.
    pub(crate) common_annotations: Map,
    /// sidewatch's external URL.
    #[serde(rename = "externalURL")]
    pub(crate) external_url: String,
    /// Always `"4"`.
    pub(crate) version: String,
    /// The aggregation group's key.
    pub group_key: String,
    /// Alerts left out for `max_alerts`.
    pub(crate) truncated_alerts: usize,
    /// `flapping` for a flap notice, `summary` for a storm summary, `digest` for a report;
    /// absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sidewatch_kind: Option<String>,
    /// A report (the weekly digest) sent instead of the alerts' message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) report: Option<ReportMessage>,
}

/// A *report message*: a report sent through the outbox like a notification (recorded and
/// retried like one), each channel showing it its own way — email as `html` with `images`
/// inline and `text` as the plain part, Slack and Telegram as the headline, the top lines
/// and the link, webhooks as `json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportMessage {
    /// The subject, e.g. `Weekly digest 2026-12-06`.
    pub(crate) title: String,
    /// One sentence.
    pub(crate) headline: String,
    /// The top lines, most important first.
    pub(crate) lines: Vec<String>,
    /// Where to read the whole report.
    pub(crate) link: String,
    /// The whole report as plain text (Markdown).
    pub(crate) text: String,
    /// The whole report as HTML; its images are `cid:` references to `images`.
    pub(crate) html: String,
    /// The report's JSON document.
    pub(crate) json: serde_json::Value,
    /// PNG images the HTML shows inline.
    pub(crate) images: Vec<InlineImage>,
}

/// An image carried inside a report message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InlineImage {
    /// Its Content-ID (the HTML says `cid:<this>`).
    pub(crate) cid: String,
    /// PNG bytes, base64.
    pub(crate) png_base64: String,
}

impl ReportMessage {
    /// Title, headline, top lines and link as short text: `bold` wraps the title.
    pub(crate) fn summary(
        &self,
        bold: &dyn Fn(&str) -> String,
        escape: &dyn Fn(&str) -> String,
        link: &dyn Fn(&str) -> String,
    ) -> String {
        let mut out = vec![bold(&escape(&self.title)), escape(&self.headline)];
        out.extend(self.lines.iter().map(|l| format!("• {}", escape(l))));
        if !self.link.is_empty() {
            out.push(link(&self.link));
        }
        out.join("\n")
    }
}

fn common(maps: &[&Map]) -> Map {
    let Some(first) = maps.first() else { return Map::new() };
    first
        .iter()
        .filter(|(k, v)| maps.iter().all(|m| m.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Notification {
    /// Builds a notification of `alerts` (firing first), keeping at most `max_alerts` (0: all).
    pub(crate) fn build(
        receiver: &str,
        group_key: &str,
        group_labels: &Map,
        external_url: &str,
        mut alerts: Vec<AlertData>,
        max_alerts: usize,
    ) -> Notification {
        alerts.sort_by(|a, b| {
            (a.status != AlertStatus::Firing, &a.starts_at, &a.fingerprint).cmp(&(
                b.status != AlertStatus::Firing,
                &b.starts_at,
                &b.fingerprint,
            ))
        });
        let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        };
        let labels: Vec<&Map> = alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<&Map> = alerts.iter().map(|a| &a.annotations).collect();
        let (common_labels, common_annotations) = (common(&labels), common(&annotations));
        let mut truncated = 0;
        if max_alerts > 0 && alerts.len() > max_alerts {
            truncated = alerts.len() - max_alerts;
            alerts.truncate(max_alerts);
        }
        Notification {
            receiver: receiver.into(),
            status,
            alerts,
            group_labels: group_labels.clone(),
            common_labels,
            common_annotations,
            external_url: external_url.into(),
            version: "4".into(),
            group_key: group_key.into(),
            truncated_alerts: truncated,
            sidewatch_kind: None,
            report: None,
        }
    }

    /// Alertmanager's webhook payload: this without sidewatch's additions.
    pub(crate) fn webhook_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(alerts) = v.get_mut("alerts").and_then(|a| a.as_array_mut()) {
            for a in alerts {
                if let Some(o) = a.as_object_mut() {
                    o.remove("sidewatch");
                }
            }
        }
        if let Some(o) = v.as_object_mut() {
            o.remove("sidewatchKind");
        }
        v
    }

    /// Distinct alert names, comma-separated.
    pub(crate) fn alert_names(&self) -> String {
        let mut names: Vec<&str> =
            self.alerts.iter().filter_map(|a| a.labels.get("alertname").map(String::as_str)).collect();
        names.dedup();
        let set: std::collections::BTreeSet<&str> = names.into_iter().collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_summary_escapes_outside_text_and_ends_with_the_link() {
        let r = ReportMessage {
            title: "Weekly digest 2026-12-06".into(),
            headline: "2 incidents <b>".into(),
            lines: vec!["DiskFull — SEV-3 & more".into()],
            link: "http://x/ops#reports".into(),
            ..Default::default()
        };
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let text = r.summary(&|s| format!("*{s}*"), &esc, &|l| format!("<{l}|Open the report>"));
        assert_eq!(
            text,
            "*Weekly digest 2026-12-06*\n2 incidents &lt;b&gt;\n• DiskFull — SEV-3 &amp; more\n<http://x/ops#reports|Open the report>"
        );
    }

    #[test]
    fn fingerprint_matches_alertmanager() {
        // From ../shared/conformance/alertmanager/webhook-payloads.json.
        let l: Map = [("alertname", "BarAlwaysFiring"), ("instance", "svc:1"), ("severity", "critical")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(format!("{:016x}", fingerprint(&l)), "884bdbcdd52fdde3");
    }

    #[test]
    fn common_labels_and_truncation() {
        let a = |n: &str, st: &str| AlertData {
            status: if st == "firing" { AlertStatus::Firing } else { AlertStatus::Resolved },
            labels: [("alertname".to_string(), "A".to_string()), ("i".to_string(), n.to_string())].into(),
            annotations: Map::new(),
            starts_at: rfc3339(0),
            ends_at: ZERO_TIME.into(),
            generator_url: String::new(),
            fingerprint: n.into(),
            sidewatch: Some(AlertExtra::default()),
        };
        let n =
            Notification::build("r", "{}:{}", &Map::new(), "http://x", vec![a("2", "resolved"), a("1", "firing")], 1);
        assert_eq!(n.status, "firing");
        assert_eq!(n.truncated_alerts, 1);
        assert_eq!(n.alerts[0].fingerprint, "1");
        assert_eq!(n.common_labels.len(), 1);
        let j = n.webhook_json();
        assert!(j["alerts"][0].get("sidewatch").is_none());
        assert_eq!(j["version"], "4");
    }
}
