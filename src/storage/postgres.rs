//! The *PostgreSQL backend*: for fleets of sidecars sharing one database. Connections are
//! checked before use so a database that went away and came back is picked up again without
//! a restart. Migrations in `migrations/postgres/` (the migrator takes an advisory lock, so
//! replicas starting together apply them once).

use super::StorageError;
use crate::storage::StorageConfig;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("src/storage/migrations/postgres");

pub(super) async fn connect(cfg: &StorageConfig) -> Result<sqlx::PgPool, StorageError> {
    // The parser's message may quote the URL; say what is wrong without it.
    let options = PgConnectOptions::from_str(cfg.url.expose())
        .map_err(|_| StorageError::Config(format!("cannot parse PostgreSQL URL {}", cfg.url)))?
        .application_name("sidewatch");
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.connect_timeout.get())
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(|source| StorageError::Sql { backend: "postgres", op: "connect", source })
}
