//! The *storage settings*: `[storage]`, the SQL database that keeps alert state, history and
//! the outbox.

use crate::config::{Duration, Invalid, SecretUrl};
use serde::{Deserialize, Serialize};

/// `[storage]`: the SQL database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` (embedded; a relative path is resolved against the config file's folder)
    /// or `postgres://user[:password]@host:port/db`. The password never appears in output.
    pub url: SecretUrl,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection (also the readiness probe's limit).
    pub connect_timeout: Duration,
    /// SQLite only: how long a writer waits for a lock before failing.
    pub busy_timeout: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: SecretUrl::new("sqlite://data/sidewatch.db"),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Checks `[storage]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(config: &StorageConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    let st = &config;
    let url = st.url.expose();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        errors.push(invalid(
            &["storage", "url"],
            &format!("{} is not supported; expected sqlite://PATH or postgres://user@host:port/db", st.url),
        ));
    }
    if st.max_connections == 0 {
        errors.push(invalid(&["storage", "max_connections"], "must be at least 1"));
    }
    if st.connect_timeout.get().is_zero() {
        errors.push(invalid(&["storage", "connect_timeout"], "must be longer than 0s"));
    }
    errors
}
