//! The *Telegram* channel, through teloxide's Bot API client: `sendMessage` to a chat (and
//! optionally a forum topic) in HTML parse mode, the text from the `telegram.firing` /
//! `telegram.resolved` templates with every value HTML-escaped, kept under Telegram's 4,096
//! characters. The Bot API URL is configurable (tests point it at a fake server on loopback);
//! Telegram's `retry_after` is honoured.

use crate::notify::template::TemplateError;
use crate::notify::channel::{Channel, Delivered, SendError, redact, render_within};
use crate::notify::model::{AlertStatus, Notification};
use crate::notify::registry::{BuildContext, ChannelConfig, Preview};
use crate::notify::template::Templates;
use crate::config::{Duration, Secret};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use teloxide_core::payloads::SendMessageSetters;
use teloxide_core::requests::Requester;
use teloxide_core::types::{ChatId, MessageId, ParseMode, Recipient, ThreadId};
use teloxide_core::{ApiError, Bot, RequestError};

/// Telegram's limit on a message's length.
pub(super) const MESSAGE_LIMIT: usize = 4096;

/// `[[notify.receivers]] telegram = [{ … }]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TelegramConfig {
    /// The bot's token (a secret).
    pub(crate) bot_token: Secret,
    /// Chat id (a number, negative for groups) or `@channelname`.
    pub(crate) chat_id: String,
    /// Forum topic to post in.
    pub(crate) message_thread_id: Option<i32>,
    /// Bot API base URL.
    pub(crate) api_url: String,
    /// Also send resolved notifications.
    pub(crate) send_resolved: bool,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            bot_token: Secret::new(""),
            chat_id: String::new(),
            message_thread_id: None,
            api_url: "https://api.telegram.org".into(),
            send_resolved: true,
            timeout: Duration::from_secs(10),
        }
    }
}

impl TelegramConfig {
    fn recipient(&self) -> Option<Recipient> {
        let c = self.chat_id.trim();
        if let Ok(id) = c.parse::<i64>() {
            Some(Recipient::Id(ChatId(id)))
        } else if c.starts_with('@') && c.len() > 1 {
            Some(Recipient::ChannelUsername(c.to_string()))
        } else {
            None
        }
    }
}

impl ChannelConfig for TelegramConfig {
    fn check(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.bot_token.is_empty() {
            e.push("bot_token: is empty".into());
        }
        if self.recipient().is_none() {
            e.push(format!("chat_id: {:?} is neither a number nor @name", self.chat_id));
        }
        if reqwest::Url::parse(&self.api_url).is_err() {
            e.push(format!("api_url: {:?} is not a URL", self.api_url));
        }
        e
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.bot_token.expose().to_string()]
    }

    fn build(&self, _: &mut BuildContext<'_>) -> std::sync::Arc<dyn Channel> {
        std::sync::Arc::new(Telegram::new(self.clone()))
    }

    fn preview(n: &Notification, t: &Templates) -> Result<Preview, TemplateError> {
        let st = if n.status == AlertStatus::Firing { "firing" } else { "resolved" };
        Ok(vec![("telegram (HTML)".into(), t.render(&format!("telegram.{st}"), n)?)])
    }
}

/// Sends to one chat.
pub(super) struct Telegram {
    cfg: TelegramConfig,
    bot: Bot,
}

impl Telegram {
    /// A sender for `cfg` (checked).
    pub(super) fn new(cfg: TelegramConfig) -> Telegram {
        let client = crate::notify::channel::http_client(cfg.timeout.get());
        let mut bot = Bot::with_client(cfg.bot_token.expose(), client);
        if let Ok(u) = reqwest::Url::parse(&cfg.api_url) {
            bot = bot.set_api_url(u);
        }
        Telegram { cfg, bot }
    }
}

fn classify(e: RequestError, token: &str) -> SendError {
    let msg = redact(&e.to_string(), &[token]);
    match e {
        RequestError::RetryAfter(s) => {
            SendError { status: Some(429), message: msg, retry_after: Some(s.duration()), permanent: false }
        }
        RequestError::Network(n) => {
            let what = if n.is_timeout() { "timed out" } else { "network error" };
            SendError::transient(redact(&format!("{what}: {}", n.as_ref()), &[token]))
        }
        // Bad token, unknown chat, bot blocked, malformed HTML: retrying cannot help.
        RequestError::Api(ApiError::Unknown(_)) | RequestError::InvalidJson { .. } => SendError::transient(msg),
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => {
            SendError { status: Some(400), ..SendError::permanent(msg) }
        }
        RequestError::Io(_) => SendError::transient(msg),
    }
}

#[async_trait]
impl Channel for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }
    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }
    fn timeout(&self) -> std::time::Duration {
        self.cfg.timeout.get()
    }
    async fn send(&self, n: &Notification, t: &Templates) -> Result<Delivered, SendError> {
        let name = if n.status == AlertStatus::Firing { "telegram.firing" } else { "telegram.resolved" };
        let text = match &n.report {
            Some(r) => {
                let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                let link = |l: &str| format!("<a href=\"{}\">Open the report</a>", escape(l).replace('"', "&quot;"));
                r.summary(&|s| format!("<b>{s}</b>"), &escape, &link)
            }
            None => render_within(n, |s| s.chars().count() <= MESSAGE_LIMIT, |m| t.render(name, m))?,
        };
        let text: String = if text.chars().count() > MESSAGE_LIMIT {
            // One alert alone is too long: fall back to plain text, cut.
            let plain = text.replace(['<', '>'], "");
            plain.chars().take(MESSAGE_LIMIT - 1).collect::<String>() + "…"
        } else {
            text
        };
        let to = self.cfg.recipient().ok_or_else(|| SendError::permanent("chat_id is invalid"))?;
        let mut req = self.bot.send_message(to, text).parse_mode(ParseMode::Html);
        if let Some(id) = self.cfg.message_thread_id {
            req = req.message_thread_id(ThreadId(MessageId(id)));
        }
        match req.await {
            Ok(_) => Ok(Delivered { status: Some(200) }),
            Err(e) => Err(classify(e, self.cfg.bot_token.expose())),
        }
    }
}
