//! The *Slack* channel: an incoming-webhook POST with a Block Kit message inside a coloured
//! attachment (red firing, amber flapping, green resolved). The text comes from the
//! `slack.firing` / `slack.resolved` templates and is split into section blocks within
//! Slack's limits (3,000 characters per section, 50 blocks); alerts that do not fit are
//! counted in "…and N more".

use crate::notify::template::TemplateError;
use crate::notify::channel::{Channel, Delivered, SendError, http_client, render_within, send_http};
use crate::notify::model::{AlertStatus, Notification};
use crate::notify::registry::{BuildContext, ChannelConfig, Preview};
use crate::notify::template::Templates;
use crate::config::{Duration, Secret};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Characters per section block.
pub(super) const SECTION_LIMIT: usize = 3000;
/// Blocks per message.
pub(super) const BLOCK_LIMIT: usize = 50;

/// `[[notify.receivers]] slack = [{ … }]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SlackConfig {
    /// The incoming-webhook URL (a secret).
    pub(crate) webhook_url: Secret,
    /// Also send resolved notifications.
    pub(crate) send_resolved: bool,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig { webhook_url: Secret::new(""), send_resolved: true, timeout: Duration::from_secs(10) }
    }
}

impl ChannelConfig for SlackConfig {
    fn check(&self) -> Vec<String> {
        let u = self.webhook_url.expose();
        if u.starts_with("http://") || u.starts_with("https://") {
            Vec::new()
        } else {
            vec!["webhook_url: must be an http:// or https:// URL".into()]
        }
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.webhook_url.expose().to_string()]
    }

    fn build(&self, _: &mut BuildContext<'_>) -> std::sync::Arc<dyn Channel> {
        std::sync::Arc::new(Slack::new(self.clone()))
    }

    fn preview(n: &Notification, t: &Templates) -> Result<Preview, TemplateError> {
        let m = message(n, t).map_err(|e| e.message)?;
        Ok(vec![("slack".into(), serde_json::to_string_pretty(&m).map_err(|e| e.to_string())?)])
    }
}

/// Sends to one Slack webhook.
pub(super) struct Slack {
    cfg: SlackConfig,
    client: reqwest::Client,
}

impl Slack {
    /// A sender for `cfg`.
    pub(super) fn new(cfg: SlackConfig) -> Slack {
        Slack { client: http_client(cfg.timeout.get()), cfg }
    }
}

/// Splits `text` at line ends into chunks of at most `limit` characters.
fn chunks(text: &str, limit: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        if line.chars().count() > limit {
            line = line.chars().take(limit - 1).collect::<String>() + "…";
        }
        if cur.chars().count() + line.chars().count() + 1 > limit {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(&line);
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// The Slack message for `n`.
pub(super) fn message(n: &Notification, t: &Templates) -> Result<serde_json::Value, SendError> {
    let name = if n.status == AlertStatus::Firing { "slack.firing" } else { "slack.resolved" };
    let text = render_within(n, |s| chunks(s, SECTION_LIMIT).len() <= BLOCK_LIMIT, |m| t.render(name, m))?;
    let color = match (n.status.as_str(), n.sidewatch_kind.as_deref()) {
        (_, Some("flapping")) => "#d98c00",
        ("firing", _) => "#c0392b",
        _ => "#27ae60",
    };
    let blocks: Vec<_> = chunks(&text, SECTION_LIMIT)
        .into_iter()
        .take(BLOCK_LIMIT)
        .map(|c| json!({"type": "section", "text": {"type": "mrkdwn", "text": c}}))
        .collect();
    let fallback: String = text.lines().next().unwrap_or("").chars().take(300).collect();
    Ok(json!({"text": fallback, "attachments": [{"color": color, "blocks": blocks}]}))
}

#[async_trait]
impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }
    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }
    fn timeout(&self) -> std::time::Duration {
        self.cfg.timeout.get()
    }
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError> {
        let body = match &n.report {
            Some(r) => {
                let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                let text = r.summary(&|s| format!("*{s}*"), &escape, &|l| format!("<{l}|Open the report>"));
                json!({"text": text})
            }
            None => message(n, t)?,
        };
        send_http(self.client.post(self.cfg.webhook_url.expose()).json(&body), &[self.cfg.webhook_url.expose()]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_stays_within_block_limits() {
        let line = "x".repeat(100);
        let text = vec![line.as_str(); 200].join("\n");
        let c = chunks(&text, SECTION_LIMIT);
        assert!(c.iter().all(|s| s.chars().count() <= SECTION_LIMIT));
        assert_eq!(c.iter().map(|s| s.lines().count()).sum::<usize>(), 200);
        let t = Templates::load(None, &[]).unwrap();
        let m = message(&crate::notify::template::sample("resolved"), &t).unwrap();
        assert_eq!(m["attachments"][0]["color"], "#27ae60");
    }
}
