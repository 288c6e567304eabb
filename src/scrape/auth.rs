//! *HTTP client credentials* as Prometheus names them — `authorization`, `basic_auth`,
//! `tls_config` — for scrape targets and remote-write receivers, and the client they make.

use crate::config::Secret;
use serde::{Deserialize, Serialize};

/// `authorization`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Authorization {
    /// The scheme, `Bearer` by default.
    #[serde(rename = "type", default = "bearer")]
    pub(crate) kind: String,
    /// The credentials (a secret; `credentials_file` reads them from a file).
    pub(crate) credentials: Secret,
}

pub(crate) fn bearer() -> String {
    "Bearer".into()
}

/// `basic_auth`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BasicAuth {
    /// User name.
    pub(crate) username: String,
    /// Password (a secret; `password_file` reads it from a file).
    pub(crate) password: Secret,
}

/// `tls_config`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsConfig {
    /// A PEM file of CA certificates to trust besides the system's.
    pub(crate) ca_file: String,
    /// A PEM client certificate (with `key_file`) for mutual TLS.
    pub(crate) cert_file: String,
    /// The client certificate's PEM private key.
    pub(crate) key_file: String,
    /// Accept any server certificate (testing only).
    pub(crate) insecure_skip_verify: bool,
}

/// Adds `authorization` or `basic_auth` as a default (sensitive) header and `tls` to `builder`.
pub(crate) fn apply(
    mut builder: reqwest::ClientBuilder,
    authorization: Option<&Authorization>,
    basic_auth: Option<&BasicAuth>,
    tls: Option<&TlsConfig>,
) -> Result<reqwest::ClientBuilder, String> {
    use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
    let value = match (authorization, basic_auth) {
        (Some(a), _) => Some(format!("{} {}", a.kind, a.credentials.expose())),
        (None, Some(b)) => {
            use base64::Engine as _;
            let raw = format!("{}:{}", b.username, b.password.expose());
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
        }
        _ => None,
    };
    if let Some(v) = value {
        let mut v = HeaderValue::from_str(&v).map_err(|_| "authorization: not a header value".to_string())?;
        v.set_sensitive(true);
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, v);
        builder = builder.default_headers(h);
    }
    if let Some(t) = tls {
        if !t.ca_file.is_empty() {
            let pem = std::fs::read(&t.ca_file).map_err(|e| format!("tls_config.ca_file {}: {e}", t.ca_file))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("tls_config.ca_file: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if !t.cert_file.is_empty() {
            let mut pem =
                std::fs::read(&t.cert_file).map_err(|e| format!("tls_config.cert_file {}: {e}", t.cert_file))?;
            pem.extend(std::fs::read(&t.key_file).map_err(|e| format!("tls_config.key_file {}: {e}", t.key_file))?);
            builder = builder.identity(reqwest::Identity::from_pem(&pem).map_err(|e| format!("tls_config: {e}"))?);
        }
        builder = builder.danger_accept_invalid_certs(t.insecure_skip_verify);
    }
    Ok(builder)
}
