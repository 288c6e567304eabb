//! The *email* channel, through lettre's SMTP transport: `smtp://` (plain, or STARTTLS with
//! `?tls=required`), `smtps://` (implicit TLS), credentials in the URL; a multipart message
//! with an HTML part (`email.firing` / `email.resolved`) and a plain-text part (`email.text`),
//! the subject from `email.subject`, to several recipients.

use crate::notify::template::TemplateError;
use crate::notify::channel::{Channel, Delivered, SendError, redact};
use crate::notify::model::{AlertStatus, Notification};
use crate::notify::registry::{BuildContext, ChannelConfig, Preview};
use crate::notify::template::Templates;
use crate::config::{Duration, SecretUrl};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// `[[notify.receivers]] email = [{ … }]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EmailConfig {
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…:465`, or `smtp://127.0.0.1:25`
    /// (plain, for a local relay). The password never appears in output.
    pub(crate) smtp_url: SecretUrl,
    /// Sender address, e.g. `sidewatch <alerts@example.com>`.
    pub(crate) from: String,
    /// Recipients.
    pub(crate) to: Vec<String>,
    /// Also send resolved notifications.
    pub(crate) send_resolved: bool,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: SecretUrl::new(""),
            from: String::new(),
            to: Vec::new(),
            send_resolved: true,
            timeout: Duration::from_secs(10),
        }
    }
}

impl ChannelConfig for EmailConfig {
    fn check(&self) -> Vec<String> {
        let mut e = Vec::new();
        if let Err(err) = AsyncSmtpTransport::<Tokio1Executor>::from_url(self.smtp_url.expose()) {
            e.push(format!("smtp_url: {}", redact(&err.to_string(), &[self.smtp_url.expose()])));
        }
        if self.from.parse::<Mailbox>().is_err() {
            e.push(format!("from: {:?} is not an email address", self.from));
        }
        if self.to.is_empty() {
            e.push("to: needs at least one address".into());
        }
        for t in &self.to {
            if t.parse::<Mailbox>().is_err() {
                e.push(format!("to: {t:?} is not an email address"));
            }
        }
        e
    }

    fn secrets(&self) -> Vec<String> {
        crate::notify::registry::url_password(self.smtp_url.expose()).into_iter().collect()
    }

    fn build(&self, _: &mut BuildContext<'_>) -> std::sync::Arc<dyn Channel> {
        std::sync::Arc::new(Email::new(self.clone()))
    }

    fn preview(n: &Notification, t: &Templates) -> Result<Preview, TemplateError> {
        let st = if n.status == AlertStatus::Firing { "firing" } else { "resolved" };
        Ok(vec![
            ("email subject".into(), t.render("email.subject", n)?.trim().to_string()),
            ("email text".into(), t.render("email.text", n)?),
            ("email HTML".into(), t.render(&format!("email.{st}"), n)?),
        ])
    }
}

/// Sends to one list of recipients.
pub(super) struct Email {
    cfg: EmailConfig,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Email {
    /// A sender for `cfg` (checked).
    pub(super) fn new(cfg: EmailConfig) -> Email {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(cfg.smtp_url.expose())
            .ok()
            .map(|b| b.timeout(Some(cfg.timeout.get())).build());
        Email { cfg, transport }
    }

    fn password(&self) -> String {
        reqwest::Url::parse(self.cfg.smtp_url.expose())
            .ok()
            .and_then(|u| u.password().map(String::from))
            .unwrap_or_default()
    }
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> &'static str {
        "email"
    }
    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }
    fn timeout(&self) -> std::time::Duration {
        self.cfg.timeout.get()
    }
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError> {
        let transport = self.transport.as_ref().ok_or_else(|| SendError::permanent("smtp_url is invalid"))?;
        let from: Mailbox = self.cfg.from.parse().map_err(|e| SendError::permanent(format!("from: {e}")))?;
        let mut b = Message::builder().from(from);
        for to in &self.cfg.to {
            b = b.to(to.parse().map_err(|e| SendError::permanent(format!("to {to:?}: {e}")))?);
        }
        let msg = match &n.report {
            Some(r) => b.subject(r.title.as_str()).multipart(report_body(r)?),
            None => {
                let html_name = if n.status == AlertStatus::Firing { "email.firing" } else { "email.resolved" };
                let subject = t.render("email.subject", n).map_err(SendError::permanent)?;
                let html = t.render(html_name, n).map_err(SendError::permanent)?;
                let text = t.render("email.text", n).map_err(SendError::permanent)?;
                b.subject(subject.trim()).multipart(MultiPart::alternative_plain_html(text, html))
            }
        }
        .map_err(|e| SendError::permanent(format!("building the message: {e}")))?;
        let pass = self.password();
        match transport.send(msg).await {
            Ok(r) => Ok(Delivered { status: Some(u16::from(r.code()) as i64) }),
            Err(e) => {
                let status = e.status().map(|c| u16::from(c) as i64);
                let message = redact(&format!("SMTP: {e}"), &[&pass, self.cfg.smtp_url.expose()]);
                Err(SendError { status, message, retry_after: None, permanent: e.is_permanent() })
            }
        }
    }
}

/// A report as email: the plain text, and the HTML with its charts as inline PNG parts.
fn report_body(r: &crate::notify::model::ReportMessage) -> Result<MultiPart, SendError> {
    use base64::Engine as _;
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, SinglePart};
    let mut related = MultiPart::related().singlepart(SinglePart::html(r.html.clone()));
    for img in &r.images {
        let png = base64::engine::general_purpose::STANDARD
            .decode(&img.png_base64)
            .map_err(|e| SendError::permanent(format!("chart {}: {e}", img.cid)))?;
        let ctype = ContentType::parse("image/png").map_err(|e| SendError::permanent(e.to_string()))?;
        related = related.singlepart(Attachment::new_inline(img.cid.clone()).body(png, ctype));
    }
    Ok(MultiPart::alternative().singlepart(SinglePart::plain(r.text.clone())).multipart(related))
}
