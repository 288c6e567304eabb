//! The *application*: configuration, storage, self metrics and the HTTP server wired together.
//! [`Application::build`] binds the listener (port 0 in tests) and reports the real address;
//! [`Application::run_until`] serves until a shutdown signal, then drains in-flight requests
//! for at most `server.shutdown_timeout` and closes the database pool.

use crate::config::LoadedConfig;
use crate::http::{AppState, router};
use crate::storage::{AuditRepo, MetaRepo, NewAuditEntry, Storage};
use crate::telemetry::SelfMetrics;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built, bound, not yet serving sidecar.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Connects storage (applying migrations), registers self metrics and binds the listen
    /// address. Fails with a message naming what could not be set up.
    pub async fn build(config: LoadedConfig) -> anyhow::Result<Self> {
        let cfg = &config.config;
        let storage = Storage::connect(&cfg.storage, &config.base_dir)
            .await
            .with_context(|| format!("cannot open storage {}", cfg.storage.url))?;
        let metrics = SelfMetrics::new(storage.backend().as_str());
        let storage = storage.with_error_counter(metrics.storage_errors.clone());
        let listener = TcpListener::bind(&cfg.server.listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.listen)", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState { storage, metrics, config: Arc::new(config) };
        Ok(Application { listener, addr, state })
    }

    /// The address the server is bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The storage handle (tests use it to inspect or break the database).
    pub fn storage(&self) -> Storage {
        self.state.storage.clone()
    }

    /// Serves until `shutdown` completes, then stops gracefully within the configured time.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, addr, state } = self;
        let storage = state.storage.clone();
        let grace = state.config.config.server.shutdown_timeout.get();
        let instance = storage.instance_id().await.unwrap_or_default();
        audit(&storage, "start", &addr.to_string()).await;
        tracing::info!(
            listen = %addr,
            storage = storage.backend().as_str(),
            instance_id = %instance,
            config = %state.config.file.as_ref().map_or("built-in defaults".into(), |f| f.display().to_string()),
            "sidewatch started"
        );
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let app = router(state);
        let mut server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await
        });
        tokio::select! {
            res = &mut server => {
                res.context("server task panicked")?.context("server failed")?;
            }
            () = shutdown => {
                tracing::info!(grace_secs = grace.as_secs_f64(), "shutting down: finishing in-flight requests");
                let _ = stop_tx.send(true);
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(res) => { res.context("server task panicked")?.context("server failed")?; }
                    Err(_) => {
                        tracing::warn!("in-flight requests still running after the shutdown timeout; stopping anyway");
                        server.abort();
                    }
                }
            }
        }
        audit(&storage, "stop", &addr.to_string()).await;
        storage.close().await;
        tracing::info!("sidewatch stopped");
        Ok(())
    }
}

async fn audit(storage: &Storage, action: &str, target: &str) {
    let entry = NewAuditEntry { actor: "system", action, target, detail: env!("CARGO_PKG_VERSION"), request_id: None };
    if let Err(e) = storage.append_audit(entry).await {
        tracing::warn!(error = %e, action, "cannot write the audit log");
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "signal received"),
        () = term => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}
