//! The *alertmanager* channel: for teams that already run an Alertmanager, alerts are POSTed to
//! its `/api/v2/alerts` (labels, annotations, `startsAt`, `endsAt`, `generatorURL`); routing,
//! silences and delivery there are then the Alertmanager's.

use crate::notify::template::TemplateError;
use crate::notify::channel::{Channel, Delivered, SendError, http_client, send_http};
use crate::notify::model::{Notification, ZERO_TIME};
use crate::notify::registry::{BuildContext, ChannelConfig, Preview};
use crate::notify::template::Templates;
use crate::config::{Duration, SecretUrl};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `[[notify.receivers]] alertmanager = [{ … }]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertmanagerConfig {
    /// The Alertmanager's base URL, e.g. `http://127.0.0.1:9093` (a password in it is a secret).
    pub(crate) url: SecretUrl,
    /// Also send resolved alerts (so the Alertmanager resolves them at once).
    pub(crate) send_resolved: bool,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
    /// Alerts are sent again this often while they fire (and, resolved, while the rules hold
    /// them), with `endsAt` = now + 4 × max(this, `rules.evaluation_interval`), as Prometheus'
    /// `--rules.alert.resend-delay`.
    pub(crate) resend_delay: Duration,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            url: SecretUrl::new(""),
            send_resolved: true,
            timeout: Duration::from_secs(10),
            resend_delay: Duration::from_secs(60),
        }
    }
}

impl ChannelConfig for AlertmanagerConfig {
    fn check(&self) -> Vec<String> {
        if self.url.expose().starts_with("http://") || self.url.expose().starts_with("https://") {
            Vec::new()
        } else {
            vec!["url: must be an http:// or https:// URL".into()]
        }
    }

    fn secrets(&self) -> Vec<String> {
        crate::notify::registry::url_password(self.url.expose()).into_iter().collect()
    }

    fn build(&self, _: &mut BuildContext<'_>) -> std::sync::Arc<dyn Channel> {
        std::sync::Arc::new(Alertmanager::new(self.clone()))
    }

    fn preview(n: &Notification, _: &Templates) -> Result<Preview, TemplateError> {
        let text = serde_json::to_string_pretty(&body(n)).map_err(|e| e.to_string())?;
        Ok(vec![("alertmanager (/api/v2/alerts)".into(), text)])
    }
}

/// Posts to one Alertmanager.
pub(super) struct Alertmanager {
    cfg: AlertmanagerConfig,
    client: reqwest::Client,
}

impl Alertmanager {
    /// A sender for `cfg`.
    pub(super) fn new(cfg: AlertmanagerConfig) -> Alertmanager {
        Alertmanager { client: http_client(cfg.timeout.get()), cfg }
    }
}

/// The `/api/v2/alerts` body for `n`.
pub(super) fn body(n: &Notification) -> serde_json::Value {
    let alerts: Vec<_> = n
        .alerts
        .iter()
        .map(|a| {
            let mut v = json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                "generatorURL": a.generator_url,
            });
            if a.ends_at != ZERO_TIME {
                v["endsAt"] = json!(a.ends_at);
            }
            v
        })
        .collect();
    json!(alerts)
}

#[async_trait]
impl Channel for Alertmanager {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }
    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }
    fn timeout(&self) -> std::time::Duration {
        self.cfg.timeout.get()
    }
    fn forwards(&self) -> Option<std::time::Duration> {
        Some(self.cfg.resend_delay.get())
    }
    async fn send(&self, n: &Notification, _: &Templates) -> Result<Delivered, SendError> {
        let url = format!("{}/api/v2/alerts", self.cfg.url.expose().trim_end_matches('/'));
        send_http(self.client.post(url).json(&body(n)), &[self.cfg.url.expose()]).await
    }
}
