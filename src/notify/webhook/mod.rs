//! The *webhook* channel: POSTs Alertmanager's webhook payload (version 4) as JSON — or, with
//! `body_template`, a body rendered from a handlebars file (to call, say, a service's admin
//! endpoint) — with optional custom headers and an HMAC-SHA256 signature of the body.

use crate::notify::template::TemplateError;
use crate::notify::channel::{Channel, Delivered, SendError, http_client, send_http};
use crate::notify::model::Notification;
use crate::notify::registry::{BuildContext, ChannelConfig, Preview};
use crate::notify::template::Templates;
use crate::config::{Duration, Secret};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[[notify.receivers]] webhook = [{ … }]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebhookConfig {
    /// Where to POST (a secret: such URLs often carry tokens).
    pub(crate) url: Secret,
    /// Also send resolved notifications.
    pub(crate) send_resolved: bool,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
    /// Extra request headers (values are secrets, e.g. `Authorization`).
    pub(crate) headers: BTreeMap<String, Secret>,
    /// When set, the body's HMAC-SHA256 with this key is sent as `signature_header`.
    pub(crate) hmac_secret: Secret,
    /// Header carrying `sha256=<hex>` when `hmac_secret` is set.
    pub(crate) signature_header: String,
    /// A handlebars file rendered as the body instead of the Alertmanager payload (relative to
    /// the configuration file; the `json` helper quotes values).
    pub(crate) body_template: String,
    /// `Content-Type` of the body.
    pub(crate) content_type: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: Secret::new(""),
            send_resolved: true,
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            hmac_secret: Secret::new(""),
            signature_header: "X-Sidewatch-Signature".into(),
            body_template: String::new(),
            content_type: "application/json".into(),
        }
    }
}

impl ChannelConfig for WebhookConfig {
    fn check(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !(self.url.expose().starts_with("http://") || self.url.expose().starts_with("https://")) {
            e.push("url: must be an http:// or https:// URL".into());
        }
        for k in self.headers.keys() {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                e.push(format!("headers: {k:?} is not a valid header name"));
            }
        }
        let url_has_credentials = reqwest::Url::parse(self.url.expose())
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
        if url_has_credentials && self.headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
            e.push(
                "url: has user:password credentials and headers has an Authorization header; the credentials would \
                 replace the header. Keep one of them"
                    .into(),
            );
        }
        e
    }

    fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.url.expose().to_string(), self.hmac_secret.expose().to_string()];
        s.extend(self.headers.values().map(|v| v.expose().to_string()));
        s
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> std::sync::Arc<dyn Channel> {
        let body = (!self.body_template.is_empty()).then(|| {
            let name = format!("webhook.{}.{}", ctx.receiver, ctx.index);
            ctx.templates.push((name.clone(), crate::config::resolve_path(ctx.base_dir, &self.body_template)));
            name
        });
        std::sync::Arc::new(Webhook::new(self.clone(), body))
    }

    fn preview(n: &Notification, _: &Templates) -> Result<Preview, TemplateError> {
        let body = serde_json::to_string_pretty(&n.webhook_json()).map_err(|e| e.to_string())?;
        Ok(vec![("webhook (Alertmanager payload)".into(), body)])
    }
}

/// Sends to one webhook.
pub(super) struct Webhook {
    cfg: WebhookConfig,
    client: reqwest::Client,
    /// Template name of the custom body, if any.
    pub(crate) body_template: Option<String>,
}

impl Webhook {
    /// A sender for `cfg`; `body_template` names its registered body template.
    pub(super) fn new(cfg: WebhookConfig, body_template: Option<String>) -> Webhook {
        Webhook { client: http_client(cfg.timeout.get()), cfg, body_template }
    }
}

/// `sha256=<hex>` of `body` keyed with `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[async_trait]
impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }
    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }
    fn timeout(&self) -> std::time::Duration {
        self.cfg.timeout.get()
    }
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError> {
        let body = match (&n.report, &self.body_template) {
            (Some(r), _) => serde_json::to_string(&r.json).map_err(|e| SendError::permanent(e.to_string()))?,
            (None, Some(name)) => t.render(name, n).map_err(SendError::permanent)?,
            (None, None) => serde_json::to_string(&n.webhook_json()).map_err(|e| SendError::permanent(e.to_string()))?,
        };
        let mut req =
            self.client.post(self.cfg.url.expose()).header(reqwest::header::CONTENT_TYPE, &self.cfg.content_type);
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.expose());
        }
        if !self.cfg.hmac_secret.is_empty() {
            req = req.header(
                self.cfg.signature_header.as_str(),
                signature(self.cfg.hmac_secret.expose().as_bytes(), body.as_bytes()),
            );
        }
        let mut secrets = vec![self.cfg.url.expose(), self.cfg.hmac_secret.expose()];
        secrets.extend(self.cfg.headers.values().map(|v| v.expose()));
        send_http(req.body(body), &secrets).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_and_an_authorization_header_together_are_refused() {
        let mut c = WebhookConfig { url: Secret::new("https://u:pw@example.com/h"), ..Default::default() };
        assert!(c.check().is_empty(), "credentials alone are fine");
        c.headers.insert("authorization".into(), Secret::new("Bearer t0ken"));
        let e = c.check();
        assert!(e.iter().any(|e| e.starts_with("url:") && e.contains("Authorization")), "{e:?}");
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
