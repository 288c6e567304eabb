//! Targets behind TLS, as Prometheus' `tls_config` reaches them: a target on 127.0.0.1 whose
//! certificate (from a CA made here) names `metrics.internal` and that requires a client
//! certificate. With `ca_file`, `cert_file`, `key_file` and `server_name` it is scraped; without
//! `server_name` the name does not match, without a client certificate the handshake is
//! refused — each `up` 0 with the reason in `lastError`. A health check with a `tls_config` of
//! its own is probed with it.

use crate::common::{client, eventually, spawn_app};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    dir: tempfile::TempDir,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let srv = rcgen::CertificateParams::new(vec!["metrics.internal".to_string()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let cli_key = rcgen::KeyPair::generate().unwrap();
    let cli = rcgen::CertificateParams::new(vec!["sidewatch".to_string()])
        .unwrap()
        .signed_by(&cli_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), cli.pem()).unwrap();
    std::fs::write(dir.path().join("client.key"), cli_key.serialize_pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(srv_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![srv.der().clone()], key)
        .unwrap();
    Pki { dir, server }
}

/// An HTTPS server on 127.0.0.1 answering every request with a small exposition.
async fn tls_target(config: rustls::ServerConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "# TYPE tls_metric gauge\ntls_metric 1\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tls_targets_are_scraped_with_their_ca_client_certificate_and_server_name() {
    let pki = pki();
    let addr = tls_target(pki.server.clone()).await;
    let d = pki.dir.path().display();
    let tls = |extra: &str| {
        format!(
            "tls_config = {{ ca_file = \"{d}/ca.pem\", cert_file = \"{d}/client.pem\", key_file = \"{d}/client.key\"{extra} }}"
        )
    };
    let url = format!("https://{addr}/metrics");
    let config = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[targets]]\nname = \"named\"\nmetrics_url = \"{url}\"\n{}\n\
         [[targets]]\nname = \"noname\"\nmetrics_url = \"{url}\"\n{}\n\
         [[targets]]\nname = \"nocert\"\nmetrics_url = \"{url}\"\ntls_config = {{ ca_file = \"{d}/ca.pem\", server_name = \"metrics.internal\" }}\n\
         [[targets]]\nname = \"probed\"\n\
         [[targets.health]]\nname = \"readyz\"\nurl = \"{url}\"\n{}\n",
        tls(", server_name = \"metrics.internal\""),
        tls(""),
        tls(", server_name = \"metrics.internal\""),
    );
    let app = spawn_app(&config).await;
    let v = eventually(30, "the three targets scraped", || async {
        let v: serde_json::Value =
            client().get(app.url("/api/v1/query?query=up")).send().await.ok()?.json().await.ok()?;
        (v["data"]["result"].as_array()?.len() == 3).then_some(v)
    })
    .await;
    let up = |job: &str| {
        v["data"]["result"].as_array().unwrap().iter().find(|s| s["metric"]["job"] == job).unwrap()["value"][1].clone()
    };
    assert_eq!((up("named"), up("noname"), up("nocert")), ("1".into(), "0".into(), "0".into()), "{v}");
    let targets: serde_json::Value =
        client().get(app.url("/api/v1/targets")).send().await.unwrap().json().await.unwrap();
    let err = |job: &str| {
        targets["data"]["activeTargets"].as_array().unwrap().iter().find(|t| t["labels"]["job"] == job).unwrap()["lastError"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(err("named"), "");
    assert!(!err("noname").is_empty() && !err("nocert").is_empty(), "{targets}");
    let q: serde_json::Value =
        client().get(app.url("/api/v1/query?query=tls_metric")).send().await.unwrap().json().await.unwrap();
    assert_eq!(q["data"]["result"][0]["metric"]["job"], "named", "{q}");
    eventually(20, "the TLS health check succeeds", || async {
        let v: serde_json::Value = client()
            .get(app.url("/api/v1/query?query=probe_success{job=\"probed\"}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["data"]["result"][0]["value"][1] == "1").then_some(())
    })
    .await;
    app.stop().await;
}
