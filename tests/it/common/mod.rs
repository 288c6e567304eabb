//! Helpers shared by the integration tests: spawn the whole application, get a PostgreSQL
//! database of one's own, and a TCP proxy that can cut and restore a connection.

#![allow(dead_code)]

mod pg;
mod proxy;

pub use pg::pg_test_db;
pub use proxy::Proxy;

use sidewatch::config::load_from_str;
use sidewatch::startup::Application;
use sidewatch::storage::Storage;
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running application on 127.0.0.1 with a temporary folder for its files.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its database.
    pub storage: Storage,
    /// Its folder (config base, SQLite file).
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends the shutdown signal, waits for a clean stop and hands back the app's folder.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.expect("app task").expect("app stopped cleanly");
        self.dir
    }
}

/// Starts the application with a temporary SQLite database and `extra` TOML appended to a
/// config that listens on port 0.
pub async fn spawn_app(extra: &str) -> TestApp {
    spawn_app_with_storage("url = \"sqlite://data/test.db\"", extra).await
}

/// Starts the application with the given `[storage]` body and extra TOML.
pub async fn spawn_app_with_storage(storage: &str, extra: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        format!("[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"5s\"\n\n[storage]\n{storage}\n\n{extra}\n");
    let file = dir.path().join("sidewatch.toml");
    std::fs::write(&file, &text).expect("write config");
    let loaded = load_from_str(&text, Some(&file), &[]).expect("test config is valid");
    let app = Application::build(loaded).await.expect("application builds");
    let addr = app.local_addr();
    let storage = app.storage();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp { addr, storage, dir, stop: Some(tx), task }
}

/// A shared HTTP client with a short timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().expect("client")
}
