//! The *channel registry*: the one list of channel kinds. Each kind is a folder under
//! `src/notify/` whose config type implements [`ChannelConfig`] — everything the rest of the
//! program needs of a channel: its kind name, its config check, its sender, its secrets (so
//! every output can redact them), its preview. `[[notify.receivers]]` gets one field per kind
//! from this list, and the checks, the plan, `notify preview` and the redaction of CLI output
//! all iterate it. Adding a channel is one folder plus one line in [`channels!`] below (which
//! also declares the folder's module).

use super::channel::Channel;
use super::model::Notification;
use super::template::Templates;
use crate::notify::template::TemplateError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A preview: (section title, text) pairs.
pub(crate) type Preview = Vec<(String, String)>;

/// What a channel's sender is built with.
pub(crate) struct BuildContext<'a> {
    /// The receiver's name.
    pub(crate) receiver: &'a str,
    /// The entry's index among the receiver's channels of its kind.
    pub(crate) index: usize,
    /// The folder relative paths in the configuration are resolved against.
    pub(crate) base_dir: &'a Path,
    /// Extra template files the channel registers: (template name, file).
    pub(crate) templates: &'a mut Vec<(String, PathBuf)>,
}

/// One configured channel entry (`[[notify.receivers]] <kind> = [{ … }]`).
pub(crate) trait ChannelConfig: Send + Sync {
    /// Problems with the fields, each `field: message` relative to the entry.
    fn check(&self) -> Vec<String>;
    /// Every secret value of this entry (tokens, webhook URLs, passwords): redacted from
    /// every error text, log line and CLI output.
    fn secrets(&self) -> Vec<String>;
    /// The sender for this entry.
    fn build(&self, ctx: &mut BuildContext<'_>) -> Arc<dyn Channel>;
    /// What `n` looks like on this kind of channel (`sidewatch notify preview`): titled
    /// sections (`slack`, `email subject`, …) and their text.
    fn preview(n: &Notification, t: &Templates) -> Result<Preview, TemplateError>
    where
        Self: Sized;
}

/// A registered kind of channel.
pub(crate) struct Kind {
    /// Its name: the receiver's key, the outbox's `channel` column, its folder.
    pub(crate) name: &'static str,
    /// The receiver's entries of this kind.
    pub(crate) entries: fn(&ReceiverConfig) -> Vec<&dyn ChannelConfig>,
    /// See [`ChannelConfig::preview`].
    pub(crate) preview: fn(&Notification, &Templates) -> Result<Preview, TemplateError>,
}

macro_rules! channels {
    ($($(#[$doc:meta])* $kind:ident in $folder:literal => $config:ident,)*) => {
        $(#[path = $folder] mod $kind;)*


        /// A named receiver and its channels; every channel gets every notification routed here.
        #[derive(Clone, Debug, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub(crate) struct ReceiverConfig {
            /// Name that routes refer to.
            pub(crate) name: String,
            $($(#[$doc])* pub(crate) $kind: Vec<$kind::$config>,)*
        }

        /// Every registered kind, in the order receivers list them.
        pub(crate) const KINDS: &[Kind] = &[$(Kind {
            name: stringify!($kind),
            entries: |r| r.$kind.iter().map(|c| c as &dyn ChannelConfig).collect(),
            preview: <$kind::$config as ChannelConfig>::preview,
        },)*];
    };
}

channels! {
    /// HTTP webhooks (Alertmanager's payload, or a templated body).
    webhook in "webhook/mod.rs" => WebhookConfig,
    /// Slack incoming webhooks.
    slack in "slack/mod.rs" => SlackConfig,
    /// Telegram chats.
    telegram in "telegram/mod.rs" => TelegramConfig,
    /// Email over SMTP.
    email in "email/mod.rs" => EmailConfig,
    /// An existing Alertmanager (`POST /api/v2/alerts`).
    alertmanager in "alertmanager/mod.rs" => AlertmanagerConfig,
}

impl ReceiverConfig {
    /// Every channel entry of this receiver: (kind, index within the kind, entry).
    pub(crate) fn channels(&self) -> impl Iterator<Item = (&'static Kind, usize, &dyn ChannelConfig)> {
        KINDS.iter().flat_map(move |k| (k.entries)(self).into_iter().enumerate().map(move |(i, c)| (k, i, c)))
    }
}

/// Every secret of every channel of `receivers`, for redacting output.
pub(crate) fn secrets(receivers: &[ReceiverConfig]) -> Vec<String> {
    receivers.iter().flat_map(|r| r.channels().flat_map(|(_, _, c)| c.secrets())).filter(|s| !s.is_empty()).collect()
}

/// The webhook channel's body signature (`sha256=<hex>`), for receivers that verify it.
pub use webhook::signature as webhook_signature;

/// The password of a URL (`scheme://user:password@host`), if it has one.
pub(crate) fn url_password(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    u.password().map(str::to_string)
}

#[cfg(test)]
mod tests;
