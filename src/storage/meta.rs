//! The *meta* table: key/value facts about the database itself — `schema_version` (the last
//! migration applied) and `instance_id` (a UUID made the first time this database was set up;
//! sidecars sharing one PostgreSQL database share it).

use super::{Storage, StorageError, on_pool};
use async_trait::async_trait;

/// Reads and writes the `meta` table.
#[async_trait]
pub trait MetaRepo: Send + Sync {
    /// The value stored under `key`, or `None`.
    async fn get_meta(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Stores `value` under `key`, replacing any earlier value.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// This database's instance id, created on first call and stable afterwards.
    async fn instance_id(&self) -> Result<String, StorageError>;
}

#[async_trait]
impl MetaRepo for Storage {
    async fn get_meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        let sql = "SELECT value FROM meta WHERE key = $1";
        let fut =
            async { on_pool!(self.db(), p => sqlx::query_scalar::<_, String>(sql).bind(key).fetch_optional(p).await) };
        self.run("meta.get", fut).await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let sql =
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        let fut =
            async { on_pool!(self.db(), p => sqlx::query(sql).bind(key).bind(value).execute(p).await.map(|_| ())) };
        self.run("meta.set", fut).await
    }

    async fn instance_id(&self) -> Result<String, StorageError> {
        let fresh = uuid::Uuid::new_v4().to_string();
        let sql = "INSERT INTO meta (key, value) VALUES ('instance_id', $1) ON CONFLICT (key) DO NOTHING";
        let fut = async { on_pool!(self.db(), p => sqlx::query(sql).bind(&fresh).execute(p).await.map(|_| ())) };
        self.run("meta.instance_id", fut).await?;
        Ok(self.get_meta("instance_id").await?.unwrap_or(fresh))
    }
}
