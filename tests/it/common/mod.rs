//! Helpers shared by the integration tests: spawn the whole application, get a PostgreSQL
//! database of one's own, and a TCP proxy that can cut and restore a connection.

#![allow(dead_code)]

pub(crate) mod fake;
mod pg;
pub(crate) mod prometheus;
mod proxy;
pub(crate) mod receivers;
pub(crate) mod storm;
pub(crate) mod webdriver;

pub(crate) use fake::FakeServer;
pub(crate) use pg::pg_test_db;
pub(crate) use proxy::Proxy;

use sidewatch::settings::load_from_str;
use sidewatch::startup::Application;
use sidewatch::storage::Storage;
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running application on 127.0.0.1 with a temporary folder for its files.
pub(crate) struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its database.
    pub storage: Storage,
    /// Its in-memory time-series store.
    pub store: std::sync::Arc<sidewatch::store::Store>,
    /// Its folder (config base, SQLite file).
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends the shutdown signal, waits for a clean stop and hands back the app's folder.
    pub(crate) async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.expect("app task").expect("app stopped cleanly");
        self.dir
    }
}

/// Starts the application with a temporary SQLite database and `extra` TOML appended to a
/// config that listens on port 0.
pub(crate) async fn spawn_app(extra: &str) -> TestApp {
    spawn_app_with_storage("url = \"sqlite://data/test.db\"", extra).await
}

/// Starts the application with the given `[storage]` body and extra TOML.
pub(crate) async fn spawn_app_with_storage(storage: &str, extra: &str) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("tempdir"), storage, extra).await
}

/// Starts the application in `dir` (so a test can restart it on the same files).
pub(crate) async fn spawn_app_in(dir: TempDir, storage: &str, extra: &str) -> TestApp {
    // Keys of an `extra` that opens with `[server]` join the server section (TOML allows one).
    let (server_extra, extra) = match extra.strip_prefix("[server]\n") {
        Some(rest) => rest.split_at(rest.find("\n[").map_or(rest.len(), |i| i + 1)),
        None => ("", extra),
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"5s\"\n{server_extra}\n[storage]\n{storage}\n\n{extra}\n"
    );
    let file = dir.path().join("sidewatch.toml");
    std::fs::write(&file, &text).expect("write config");
    // A configuration whose `rules.files` (default `rules/*.yml`) matches nothing evaluates the
    // built-in packs; the tests ask for the rules they mean with an empty file there.
    let rules = dir.path().join("rules");
    if !rules.exists() {
        std::fs::create_dir_all(&rules).expect("rules folder");
        std::fs::write(rules.join("empty.yml"), "groups: []\n").expect("empty rule file");
    }
    let loaded = load_from_str(&text, Some(&file), &[]).expect("test config is valid");
    let app = Application::build(loaded).await.expect("application builds");
    let addr = app.local_addr();
    let storage = app.storage();
    let store = app.store();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp { addr, storage, store, dir, stop: Some(tx), task }
}

/// A shared HTTP client with a short timeout.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().expect("client")
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with `what` after `secs`.
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {secs}s waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs the `sidewatch` binary in `dir` with `args` (no `SIDEWATCH_*` from the test's
/// environment): exit code, the first stdout line as JSON (the answer), stdout + stderr.
pub(crate) fn cli(dir: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sidewatch"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    let out = cmd.current_dir(dir).args(args).output().expect("run sidewatch");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = stdout.lines().next().and_then(|l| serde_json::from_str(l).ok()).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), first, stdout + &String::from_utf8_lossy(&out.stderr))
}
