//! A *channel* is one way of reaching people (a webhook, a Slack incoming webhook, a Telegram
//! chat, an email list, an Alertmanager). Each kind lives in its own folder with its config
//! and sender; here is what they share: the sender trait, how an attempt fails (retryable or
//! not, with the HTTP status and `Retry-After`), and redaction of secrets from error text.

use super::model::Notification;
use super::template::Templates;
use crate::notify::template::TemplateError;
use async_trait::async_trait;
use std::time::Duration;

/// A delivered notification.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Delivered {
    /// HTTP (or SMTP) status code.
    pub(crate) status: Option<i64>,
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SendError {
    /// HTTP (or SMTP) status code, when there was an answer.
    pub(crate) status: Option<i64>,
    /// What went wrong, secrets redacted.
    pub(crate) message: String,
    /// The server asked to wait this long (`Retry-After`, Telegram's `retry_after`).
    pub(crate) retry_after: Option<Duration>,
    /// Retrying cannot help (a 4xx other than 408/429, a rejected address…).
    pub(crate) permanent: bool,
}

impl SendError {
    /// A retryable error without a status.
    pub(crate) fn transient(message: impl Into<String>) -> SendError {
        SendError { status: None, message: message.into(), retry_after: None, permanent: false }
    }

    /// A permanent error without a status.
    pub(crate) fn permanent(message: impl Into<String>) -> SendError {
        SendError { status: None, message: message.into(), retry_after: None, permanent: true }
    }
}

/// Sends notifications one way.
#[async_trait]
pub(crate) trait Channel: Send + Sync {
    /// `webhook`, `slack`, `telegram`, `email` or `alertmanager`.
    fn kind(&self) -> &'static str;
    /// Whether resolved alerts are sent.
    fn send_resolved(&self) -> bool;
    /// Limit of one attempt.
    fn timeout(&self) -> Duration;
    /// Sends `n`, rendered with `t`.
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError>;
}

/// Replaces every secret in `text` by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}

/// An HTTP client with the channel's timeout.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("sidewatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Seconds of a `Retry-After` header (delay-seconds form).
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends a request and classifies the answer: 2xx delivered; 408, 429 and 5xx retryable (with
/// `Retry-After`); other statuses permanent. `secrets` are redacted from error text.
pub(crate) async fn send_http(req: reqwest::RequestBuilder, secrets: &[&str]) -> Result<Delivered, SendError> {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            let msg = format!("{what}: {}", e.without_url());
            return Err(SendError::transient(redact(&msg, secrets)));
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(Delivered { status: Some(status.as_u16() as i64) });
    }
    let wait = retry_after(resp.headers());
    let mut body = resp.text().await.unwrap_or_default();
    body.truncate(body.char_indices().nth(300).map(|(i, _)| i).unwrap_or(body.len()));
    let code = status.as_u16();
    Err(SendError {
        status: Some(code as i64),
        message: redact(&format!("HTTP {status}: {}", body.trim()), secrets),
        retry_after: wait,
        permanent: !(code == 408 || code == 429 || status.is_server_error()),
    })
}

/// Renders with fewer and fewer alerts until `fits` accepts the text (limits such as
/// Telegram's 4,096 characters); the alerts left out are counted in `truncatedAlerts`.
pub(crate) fn render_within(
    n: &Notification,
    fits: impl Fn(&str) -> bool,
    render: impl Fn(&Notification) -> Result<String, TemplateError>,
) -> Result<String, SendError> {
    let mut m = n.clone();
    loop {
        let text = render(&m).map_err(SendError::permanent)?;
        if fits(&text) || m.alerts.len() <= 1 {
            return Ok(text);
        }
        let keep = (m.alerts.len() / 2).max(1);
        m.truncated_alerts += m.alerts.len() - keep;
        m.alerts.truncate(keep);
    }
}
