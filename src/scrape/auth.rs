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
    /// The name the server's certificate must carry, when it is not the URL's host (a
    /// target addressed by IP, or behind another name).
    pub(crate) server_name: String,
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
    if let Some(t) = tls.filter(|t| !t.server_name.is_empty() && !t.insecure_skip_verify) {
        return Ok(builder.use_preconfigured_tls(named::client_config(t)?));
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

/// `tls_config.server_name`: a rustls client whose certificate check uses the configured name
/// instead of the URL's host (reqwest has no such setting). The roots are webpki's, as
/// reqwest's own, plus `ca_file`.
mod named {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    struct FixedName {
        inner: Arc<rustls::client::WebPkiServerVerifier>,
        name: ServerName<'static>,
    }

    impl ServerCertVerifier for FixedName {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            _url_host: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    }

    pub(super) fn client_config(t: &super::TlsConfig) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if !t.ca_file.is_empty() {
            for cert in CertificateDer::pem_file_iter(&t.ca_file)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", t.ca_file))?
            {
                roots
                    .add(cert.map_err(|e| format!("tls_config.ca_file: {e}"))?)
                    .map_err(|e| format!("tls_config.ca_file: {e}"))?;
            }
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("tls_config: {e}"))?;
        let name = ServerName::try_from(t.server_name.clone()).map_err(|e| format!("tls_config.server_name: {e}"))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls_config: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FixedName { inner: verifier, name }));
        let mut config = if t.cert_file.is_empty() {
            builder.with_no_client_auth()
        } else {
            let certs = CertificateDer::pem_file_iter(&t.cert_file)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_config.cert_file {}: {e}", t.cert_file))?;
            let key = PrivateKeyDer::from_pem_file(&t.key_file)
                .map_err(|e| format!("tls_config.key_file {}: {e}", t.key_file))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| format!("tls_config: {e}"))?
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}
