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
    /// For a channel that forwards alerts to something that groups and repeats by itself (an
    /// Alertmanager): how often its alerts are sent again while they last. Such a channel gets
    /// alerts from the forwarder, not from the dispatcher (no grouping, no cooldown).
    fn forwards(&self) -> Option<Duration> {
        None
    }
    /// Sends `n`, rendered with `t`.
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError>;
}

/// Receivers' response bodies are cut to this many bytes in error text.
pub(crate) const ERROR_BODY_BYTES: usize = 512;

/// The forms a secret can take in text a receiver echoes back: itself and URL-encoded; for a
/// URL, its password (plain, URL-encoded, and in the `Basic` base64 of `user:password` that
/// the HTTP client sends), its path and every query value (Slack's webhook path, `?token=`).
/// Parts shorter than 4 bytes are left (they would erase ordinary words).
pub(crate) fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut forms = vec![secret.to_string(), enc(secret)];
    if let Ok(u) = reqwest::Url::parse(secret)
        && u.has_host()
    {
        if let Some(p) = u.password() {
            let p = form_urlencoded::parse(format!("x={p}").as_bytes()).next().map_or(p.to_string(), |(_, v)| v.into());
            forms.push(base64::engine::general_purpose::STANDARD.encode(format!("{}:{p}", u.username())));
            forms.push(enc(&p));
            forms.push(p);
        }
        if u.path().len() > 1 {
            forms.push(u.path().to_string());
            forms.push(u.path().trim_start_matches('/').to_string());
        }
        for (_, v) in u.query_pairs() {
            forms.push(enc(&v));
            forms.push(v.into_owned());
        }
    }
    forms.retain(|f| f.len() >= 4);
    forms
}

/// Replaces every secret in `text`, in every form of [`secret_forms`], by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    Redactor::new(secrets).apply(text)
}

/// The forms of a set of secrets, worked out once, for redacting many texts.
pub(crate) struct Redactor {
    /// Longest first, so a whole URL is replaced before its parts.
    forms: Vec<String>,
}

impl Redactor {
    /// The redactor of `secrets`.
    pub(crate) fn new(secrets: &[&str]) -> Redactor {
        let mut forms: Vec<String> = secrets.iter().flat_map(|s| secret_forms(s)).collect();
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Redactor { forms }
    }

    /// `text` with every form of every secret replaced by `***`.
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), "***");
            }
        }
        out
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
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
    let body = resp.text().await.unwrap_or_default();
    let code = status.as_u16();
    // Redacted whole, then cut: a cut could split a secret and leave half of it.
    let body = truncate(redact(body.trim(), secrets), ERROR_BODY_BYTES);
    Err(SendError {
        status: Some(code as i64),
        message: redact(&format!("HTTP {status}: {body}"), secrets),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What receivers echo back in error bodies: the Slack webhook's path, a `?token=`, the
    /// `Basic` header the client made from a URL's credentials. None of it survives.
    #[test]
    fn echoed_secrets_are_redacted_in_every_form() {
        let slack = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX";
        let hook = "https://user:p%40ss-word@example.com/hook?token=abc123secret&x=1";
        let echo = "400 bad request for POST /services/T000/B000/XXXXXXXXXXXX?token=abc123secret \
                    Authorization: Basic dXNlcjpwQHNzLXdvcmQ= password=p@ss-word enc=p%40ss-word";
        let out = redact(echo, &[slack, hook]);
        for leaked in ["XXXXXXXXXXXX", "abc123secret", "dXNlcjpwQHNzLXdvcmQ=", "p@ss-word", "p%40ss-word"] {
            assert!(!out.contains(leaked), "{leaked} leaked: {out}");
        }
        assert!(out.contains("400 bad request"), "{out}");
    }

    #[test]
    fn truncation_keeps_character_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("short".into(), 512), "short");
    }
}
