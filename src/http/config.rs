//! The *server settings*: `[server]`, the sidecar's own HTTP surface (listen address, external
//! URL, body limit, graceful shutdown).

use crate::config::{ByteSize, Duration, Invalid};
use serde::{Deserialize, Serialize};

/// `[server]`: the sidecar's own HTTP surface.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Address and port to listen on, `host:port`. Port 0 picks a free port.
    pub(crate) listen: String,
    /// The URL users reach this sidecar at; base of alert `generatorURL`s and report links.
    /// Empty means `http://<listen>`.
    pub(crate) external_url: String,
    /// Request bodies larger than this are refused with 413 and a JSON error.
    pub(crate) max_body_bytes: ByteSize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take before the server stops anyway.
    pub(crate) shutdown_timeout: Duration,
    /// How often the pages of sidewatch's own code and read-only data that nothing ran lately
    /// are handed back to the kernel (`MADV_PAGEOUT`, Linux 5.4+): most of the code resident
    /// after start-up (configuration, migrations, TLS set-up) never runs again. The first time
    /// is a minute after start (or this, when shorter); "0s" turns it off.
    pub(crate) code_trim_interval: Duration,
    /// One INFO log line per request (method, route, status, duration, request id); off:
    /// DEBUG. Server errors (5xx) are logged at WARN either way.
    pub(crate) access_log: bool,
    /// A client must send a request's headers within this, else its connection is closed; also
    /// the longest an idle keep-alive connection stays open.
    pub(crate) header_read_timeout: Duration,
    /// Most connections served at once; more wait to be accepted.
    pub(crate) max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9465".into(),
            external_url: String::new(),
            max_body_bytes: ByteSize::mib(1),
            shutdown_timeout: Duration::from_secs(10),
            code_trim_interval: Duration::from_secs(600),
            access_log: true,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Checks `[server]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(config: &ServerConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    let s = &config;
    if !is_host_port(&s.listen) {
        errors.push(invalid(
            &["server", "listen"],
            &format!("{:?} is not host:port; expected e.g. \"127.0.0.1:9465\"", s.listen),
        ));
    }
    let url_ok = |u: &str| u.is_empty() || u.starts_with("http://") || u.starts_with("https://");
    if !url_ok(&s.external_url) {
        errors.push(invalid(&["server", "external_url"], "expected an http:// or https:// URL"));
    }
    if s.max_connections == 0 {
        errors.push(invalid(&["server", "max_connections"], "must be at least 1"));
    }
    if s.header_read_timeout.get().is_zero() {
        errors.push(invalid(&["server", "header_read_timeout"], "must be longer than 0s"));
    }
    if s.max_body_bytes.bytes() == 0 {
        errors.push(invalid(&["server", "max_body_bytes"], "must be larger than 0"));
    }
    errors
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}
