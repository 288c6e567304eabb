//! The *SQLite backend*: one file next to the config, WAL journal, a busy timeout so writers
//! wait instead of failing, foreign keys on. Migrations in `migrations/sqlite/`.

use super::StorageError;
use crate::storage::StorageConfig;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("src/storage/migrations/sqlite");

/// The database file a `sqlite://PATH` or `sqlite:PATH` URL names, resolved against `base_dir`.
pub(crate) fn file_path(url: &str, base_dir: &Path) -> Result<PathBuf, StorageError> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Err(StorageError::Config(format!(
            "sqlite URL {url:?} names no file; use sqlite://PATH (e.g. sqlite://data/sidewatch.db)"
        )));
    }
    let p = Path::new(path);
    Ok(if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) })
}

pub(super) async fn connect(cfg: &StorageConfig, base_dir: &Path) -> Result<sqlx::SqlitePool, StorageError> {
    let path = file_path(cfg.url.expose(), base_dir)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            StorageError::Config(format!("cannot create folder {} for the SQLite file: {e}", parent.display()))
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(cfg.busy_timeout.get())
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.connect_timeout.get())
        .connect_with(options)
        .await
        .map_err(|source| StorageError::Sql { backend: "sqlite", op: "connect", source })
}
