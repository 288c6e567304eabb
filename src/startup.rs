//! The *application*: configuration, storage, the store, the scrape loops, self metrics and the
//! HTTP server wired together. [`Application::build`] binds the listener (port 0 in tests) and
//! reports the real address; [`Application::run_until`] serves and scrapes until a shutdown
//! signal, then drains in-flight requests for at most `server.shutdown_timeout`, writes the
//! store checkpoint and closes the database pool.

use crate::http::{AppState, router};
use crate::scrape::{HealthCheckConfig, TargetConfig};
use crate::scrape::{ScrapeManager, ScrapeMetrics};
use crate::settings::LoadedConfig;
use crate::storage::{AuditRepo, MetaRepo, NewAuditEntry, Storage};
use crate::store::Store;
use crate::telemetry::SelfMetrics;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A built, bound, not yet serving sidecar.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    scrape: ScrapeManager,
    scrape_metrics: ScrapeMetrics,
    checkpoint: PathBuf,
    notify: Option<(crate::notify::Plan, crate::notify::metrics::NotifyMetrics)>,
    history_engine: crate::promql::Engine,
    remote: Vec<std::sync::Arc<crate::remote::Shard>>,
}

/// The built-in packs (`builtin:*.yml`) when `rules.files` is left at its default and matches
/// no file (a new folder, a configuration without rules of its own); a warning when files were
/// named and match nothing.
fn use_builtin_packs(config: &mut LoadedConfig) {
    let files = &config.config.rules.files;
    let found = crate::rules::matching_files(&config.base_dir, files).map_or(true, |f| !f.is_empty())
        || crate::rules::builtin_packs(files).is_ok_and(|p| !p.is_empty());
    if found {
        return;
    }
    if config.file.is_some() && *files != crate::rules::config::RulesConfig::default().files {
        tracing::warn!(files = ?files, "rules.files matches no file: no rules are evaluated");
        return;
    }
    // Rule files put in the configured place later join the packs on reload.
    config.config.rules.files.push(format!("{}*.yml", crate::rules::BUILTIN));
    tracing::info!(
        packs = crate::rules::packs::RULES.len(),
        "no rule files where rules.files points: using the built-in rule packs (sidewatch rules export DIR writes them out)"
    );
}

/// Where the store checkpoint lives: `store.checkpoint_path`, else beside the SQLite file
/// (`<db>.store`), else `data/sidewatch.store`.
fn checkpoint_path(loaded: &LoadedConfig) -> PathBuf {
    let cfg = &loaded.config;
    if !cfg.store.checkpoint_path.is_empty() {
        return loaded.resolve(&cfg.store.checkpoint_path);
    }
    let url = cfg.storage.url.expose();
    match url.starts_with("sqlite:").then(|| crate::storage::sqlite_file(url, &loaded.base_dir)) {
        Some(Ok(db)) => db.with_extension("store"),
        _ => loaded.resolve("data/sidewatch.store"),
    }
}

/// With no targets configured, sidewatch watches itself: its `/metrics` and `/readyz`.
fn self_target(addr: SocketAddr) -> TargetConfig {
    TargetConfig {
        name: "sidewatch".into(),
        metrics_url: Some(format!("http://{addr}/metrics")),
        health: vec![HealthCheckConfig {
            name: "readyz".into(),
            url: format!("http://{addr}/readyz"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl Application {
    /// Connects storage (applying migrations), restores the store checkpoint, registers self
    /// metrics and binds the listen address. Fails with a message naming what could not be set up.
    pub async fn build(mut config: LoadedConfig) -> anyhow::Result<Self> {
        use_builtin_packs(&mut config);
        let cfg = &config.config;
        let storage = Storage::connect(&cfg.storage, &config.base_dir)
            .await
            .with_context(|| format!("cannot open storage {}", cfg.storage.url))?;
        let metrics = SelfMetrics::new(storage.backend().as_str());
        let storage = storage.with_error_counter(metrics.storage_errors.clone());
        let store = Arc::new(Store::new(cfg.store.max_series, cfg.store.retention.get().as_millis() as i64));
        let checkpoint = checkpoint_path(&config);
        if cfg.store.sealed_chunks == crate::store::SealedChunks::Files {
            let dir = checkpoint.with_extension("chunks");
            if let Err(e) = store.use_chunk_dir(&dir) {
                tracing::warn!(error = %e, path = %dir.display(), "cannot use the chunk directory; keeping sealed chunks in memory");
            }
        }
        match store.restore_from(&checkpoint) {
            Ok(st) if st.series > 0 => {
                tracing::info!(series = st.series, samples = st.samples, path = %checkpoint.display(), "store restored from checkpoint")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, path = %checkpoint.display(), "store checkpoint unreadable; starting empty")
            }
        }
        crate::telemetry::release_free_memory(); // the restore's decode buffers
        let listener = TcpListener::bind(&cfg.server.listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.listen)", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let targets = if cfg.targets.is_empty() { vec![self_target(addr)] } else { cfg.targets.clone() };
        let scrape = ScrapeManager::new(&targets, &cfg.scrape);
        let scrape_metrics = ScrapeMetrics::register(metrics.registry());
        let (sm, st) = (scrape_metrics.clone(), store.clone());
        metrics.on_render(move || sm.observe_store(&st));
        let q = &cfg.query;
        let engine = crate::promql::Engine::new(
            store.clone(),
            q.engine_options(cfg.rules.evaluation_interval.get().as_millis() as i64),
        );
        let ctx = crate::rules::Context {
            external_labels: cfg.alert_external_labels(),
            external_url: cfg.external_url(),
            concurrency: cfg.rules.threads(),
            parallel_after_s: crate::rules::PARALLEL_AFTER_S,
        };
        let history_engine = engine.clone();
        let rule_metrics = crate::rules::manager::RuleMetrics::register(metrics.registry());
        let rules = crate::rules::manager::RuleManager::new(
            cfg.rules.files.clone(),
            config.base_dir.clone(),
            cfg.rules.evaluation_interval.get().as_millis() as i64,
            ctx,
            engine,
            rule_metrics,
        );
        // As Prometheus: rule files that do not load stop the start (a hot reload keeps the
        // last good rules instead).
        let status = rules.status();
        if !status.success {
            anyhow::bail!(
                "rule files do not load (rules.files); fix them or `sidewatch check rules` them:\n{}",
                status.error.unwrap_or_default()
            );
        }
        let notify_metrics = crate::notify::metrics::NotifyMetrics::register(metrics.registry());
        let notify = if cfg.notify.receivers.is_empty() {
            None
        } else {
            let plan = crate::notify::Plan::build(&cfg.notify, &config.base_dir, &cfg.external_url())
                .map_err(|e| anyhow::anyhow!("[notify]: {e}"))?
                .with_eval_interval(cfg.rules.evaluation_interval.get().as_millis() as i64);
            Some((plan, notify_metrics))
        };
        let observed = rules.clone();
        metrics.on_render(move || observed.observe());
        let remote = crate::remote::build(&cfg.remote_write, &cfg.series_external_labels(), &store, metrics.registry())
            .map_err(|e| anyhow::anyhow!("[[remote_write]]: {e}"))?;
        let query_slots = Arc::new(tokio::sync::Semaphore::new(cfg.query.max_concurrency));
        let admin = crate::http::admin::guard::Guard::build(&cfg.admin);
        if !admin.enabled() {
            tracing::info!("no [[admin.tokens]] configured: the admin API answers 403");
        }
        // The runbooks are read once, as notifications read them: the notify plan's when there
        // is one; `/runbooks/` serves the same texts the messages quote.
        let runbooks = match &notify {
            Some((plan, _)) => plan.runbooks.clone(),
            None => Arc::new(crate::notify::template::Runbooks::load(&config.resolve(&cfg.notify.runbooks_dir))),
        };
        let state = AppState {
            runbooks,
            storage,
            metrics,
            config: Arc::new(config),
            store,
            targets: scrape.targets.clone(),
            rules: Some(rules),
            query_slots,
            admin: Arc::new(admin),
        };
        Ok(Application { listener, addr, state, scrape, scrape_metrics, checkpoint, notify, history_engine, remote })
    }

    /// The address the server is bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The storage handle (tests use it to inspect or break the database).
    pub fn storage(&self) -> Storage {
        self.state.storage.clone()
    }

    /// The in-memory time-series store.
    pub fn store(&self) -> Arc<Store> {
        self.state.store.clone()
    }

    /// Serves and scrapes until `shutdown` completes, then stops gracefully within the configured time.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, addr, state, scrape, scrape_metrics, checkpoint, notify, history_engine, remote } =
            self;
        let storage = state.storage.clone();
        let store = state.store.clone();
        let grace = state.config.config.server.shutdown_timeout.get();
        let checkpoint_every = state.config.config.store.checkpoint_interval.get();
        let instance = storage.instance_id().await.unwrap_or_default();
        audit(&storage, "start", &addr.to_string()).await;
        tracing::info!(
            listen = %addr,
            storage = storage.backend().as_str(),
            instance_id = %instance,
            targets = scrape.targets.len(),
            config = %state.config.file.as_ref().map_or("built-in defaults".into(), |f| f.display().to_string()),
            "sidewatch started"
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut background = scrape.start(store.clone(), scrape_metrics, stop_rx.clone());
        background.extend(crate::remote::start(&remote, &stop_rx));
        let trim_every = state.config.config.server.code_trim_interval.get();
        if !trim_every.is_zero() {
            background.push(tokio::spawn(crate::telemetry::trim_code_task(trim_every, stop_rx.clone())));
        }
        background.push(tokio::spawn(crate::store::maintenance::run(
            store,
            checkpoint,
            checkpoint_every,
            stop_rx.clone(),
        )));
        if let Some(rules) = state.rules.clone() {
            let rules_cfg = &state.config.config.rules;
            let tolerance = rules_cfg.for_outage_tolerance.get().as_millis() as i64;
            background.extend(crate::rules::persist::start(&rules, storage.clone(), tolerance, stop_rx.clone()).await);
            match notify {
                Some((plan, m)) => {
                    let (notifier, tasks) = crate::notify::Notifier::start(plan, storage.clone(), m, stop_rx.clone());
                    notifier.subscribe(rules.stream());
                    background.extend(tasks);
                }
                None => tracing::info!("no [[notify.receivers]] configured: alerts are evaluated but not delivered"),
            }
            background.extend(rules.start(rules_cfg.watch_interval.get(), stop_rx.clone()));
        }
        let runner = format!("{}-{}", instance, std::process::id());
        background.extend(crate::jobs::start(history_engine, &storage, &state.config, runner, stop_rx.clone()));
        let server_cfg = &state.config.config.server;
        let limits = crate::http::server::Limits {
            header_read_timeout: server_cfg.header_read_timeout.get(),
            max_connections: server_cfg.max_connections,
            grace,
        };
        let app = router(state);
        let mut server = tokio::spawn(crate::http::server::serve(listener, app, limits, stop_rx));
        tokio::select! {
            res = &mut server => {
                let _ = stop_tx.send(true);
                res.context("server task panicked")?;
            }
            () = shutdown => {
                tracing::info!(grace_secs = grace.as_secs_f64(), "shutting down: finishing in-flight requests");
                let _ = stop_tx.send(true);
                if !server.await.context("server task panicked")? {
                    tracing::warn!("in-flight requests still running after the shutdown timeout; stopping anyway");
                }
            }
        }
        // Scrape loops stop at once; the maintenance task writes the final checkpoint.
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        audit(&storage, "stop", &addr.to_string()).await;
        storage.close().await;
        tracing::info!("sidewatch stopped");
        Ok(())
    }
}

async fn audit(storage: &Storage, action: &str, target: &str) {
    let entry =
        NewAuditEntry { actor: "system", action, target, detail: env!("CARGO_PKG_VERSION"), ..Default::default() };
    if let Err(e) = storage.append_audit(entry).await {
        tracing::warn!(error = %e, action, "cannot write the audit log");
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
