//! *Storage*: the SQL database that keeps what must outlive the process (alert state, history,
//! the outbox, silences, audit). Two backends behind one API: SQLite (embedded default, WAL,
//! busy timeout, foreign keys) and PostgreSQL (for several sidecars sharing one database).
//! Each backend has its own migrations folder, applied at start-up. Each table group has a
//! repository trait ([`MetaRepo`], [`AuditRepo`]); [`Storage`] implements them all. SQL that
//! both dialects accept (numbered `$1` parameters, `ON CONFLICT`, `RETURNING`) is written once;
//! what differs per backend lives in `sqlite.rs` and `postgres.rs`.

mod admin;
mod alerts;
mod audit;
pub(crate) mod config;
mod meta;
mod outbox;
mod postgres;
mod reports;
mod sqlite;
mod status;
pub use config::StorageConfig;

pub(crate) use admin::AdminRepo;
pub use alerts::{AlertChange, AlertRepo, StoredAlert};
pub use audit::{AuditEntry, AuditQuery, AuditRepo, NewAuditEntry};
pub use meta::MetaRepo;
pub use outbox::{Attempt, NewOutboxRow, OutboxFilter, OutboxRepo, OutboxRow, StoredSilence};
pub use reports::{Cohort, DailyCount, HistoryRow, JobRun, NewEvent, ReportRepo};
pub(crate) use sqlite::file_path as sqlite_file;
pub use status::{JobStatus, OutboxStatus, UnknownStatus};

use prometheus::IntCounterVec;
use std::path::Path;
use std::time::Duration;

/// Which database a [`Storage`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `"sqlite"` or `"postgres"`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A storage failure. Messages never contain the connection URL or its password.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A query or connection failed.
    #[error("{backend} storage: {op} failed: {source}")]
    Sql {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What we were doing (`connect`, `migrate`, `audit.append`, …).
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database did not answer in time.
    #[error("{backend} storage: {op} timed out after {secs:.1}s")]
    Timeout {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What we were doing.
        op: &'static str,
        /// The limit that passed.
        secs: f64,
    },
    /// Applying migrations failed.
    #[error("{backend} storage: migration failed: {source}")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// The URL or file path is unusable.
    #[error("storage: {0}")]
    Config(String),
}

/// The two connection pools; repository methods match on it (see [`on_pool!`]).
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds; the body is written once and
/// compiled for both backends.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($pool) => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A handle to the database: cheap to clone, shared by every stage.
#[derive(Clone, Debug)]
pub struct Storage {
    db: Db,
    timeout: Duration,
    errors: Option<IntCounterVec>,
}

impl Storage {
    /// Connects to `cfg.url` (relative SQLite paths resolved against `base_dir`, parent folders
    /// created), applies the backend's migrations, and records the schema version and instance
    /// id in `meta`. Fails when the database cannot be reached or migrated.
    pub async fn connect(cfg: &StorageConfig, base_dir: &Path) -> Result<Self, StorageError> {
        let url = cfg.url.expose();
        let db = if url.starts_with("sqlite:") {
            Db::Sqlite(sqlite::connect(cfg, base_dir).await?)
        } else {
            Db::Postgres(postgres::connect(cfg).await?)
        };
        let storage = Storage { db, timeout: cfg.connect_timeout.get(), errors: None };
        storage.migrate().await?;
        Ok(storage)
    }

    /// The same database with another limit per operation (report queries over millions of
    /// events take longer than the interactive default, `storage.connect_timeout`).
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Counts failed operations in `counter` (label `op`) from now on.
    pub(crate) fn with_error_counter(mut self, counter: IntCounterVec) -> Self {
        self.errors = Some(counter);
        self
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let backend = self.backend().as_str();
        let version = match &self.db {
            Db::Sqlite(p) => sqlite::MIGRATOR.run(p).await.map(|_| sqlite::MIGRATOR.iter().map(|m| m.version).max()),
            Db::Postgres(p) => {
                postgres::MIGRATOR.run(p).await.map(|_| postgres::MIGRATOR.iter().map(|m| m.version).max())
            }
        }
        .map_err(|source| StorageError::Migrate { backend, source })?;
        self.set_meta("schema_version", &version.unwrap_or(0).to_string()).await?;
        self.instance_id().await?;
        // A bulk load (`report seed` into an empty table) drops the event indexes and builds
        // them at its end; if it was interrupted, they are built here.
        self.clone().with_timeout(Duration::from_secs(3600)).event_indexes(true).await?;
        Ok(())
    }

    /// Answers whether the database responds to `SELECT 1` within the connect timeout.
    pub async fn ping(&self) -> Result<(), StorageError> {
        let fut = async { on_pool!(&self.db, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ())) };
        self.run("ping", fut).await
    }

    /// Closes every connection; later calls fail. Used at shutdown.
    pub async fn close(&self) {
        on_pool!(&self.db, p => p.close().await)
    }

    /// Runs a query future with the storage timeout, mapping and counting its error.
    pub(crate) async fn run<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StorageError> {
        let backend = self.backend().as_str();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(source)) => StorageError::Sql { backend, op, source },
            Err(_) => StorageError::Timeout { backend, op, secs: self.timeout.as_secs_f64() },
        };
        if let Some(c) = &self.errors {
            c.with_label_values(&[op]).inc();
        }
        Err(result)
    }
}
