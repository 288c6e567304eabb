//! The *audit log*: an append-only record of who did what and when — start-up and shutdown,
//! and (with the admin API) every change an operator makes — with the request id that did it.

use super::{Storage, StorageError, on_pool};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::Row;

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id, increasing with time of insertion.
    pub id: i64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Who did it (`system`, a token name, a CLI user).
    pub actor: String,
    /// What was done (`start`, `stop`, `silence.add`, …).
    pub action: String,
    /// What it was done to.
    pub(crate) target: String,
    /// Free text or JSON with the particulars.
    pub detail: String,
    /// The `X-Request-Id` of the HTTP request that did it, if any.
    pub request_id: Option<String>,
    /// The admin token's name (never the token), or empty.
    pub token_name: String,
    /// The source address, or empty.
    pub source: String,
    /// The HTTP method, or empty.
    pub method: String,
    /// The route pattern, or empty.
    pub route: String,
    /// `ok`, `failed` or `refused` (empty for system rows).
    pub outcome: String,
    /// The HTTP status answered (0 for system rows).
    pub status: i64,
}

/// A row to append.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry<'a> {
    /// Who did it.
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// What it was done to.
    pub target: &'a str,
    /// Particulars.
    pub detail: &'a str,
    /// The request id, if any.
    pub request_id: Option<&'a str>,
    /// The admin token's name.
    pub token_name: &'a str,
    /// The source address.
    pub source: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The route pattern.
    pub route: &'a str,
    /// `ok`, `failed`, `refused`.
    pub outcome: &'a str,
    /// The HTTP status answered.
    pub status: i64,
}

/// A filter for [`AuditRepo::list_audit`].
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows with this action.
    pub action: Option<String>,
    /// At most this many rows (newest first); 0 means 100.
    pub limit: u32,
    /// Skip this many rows first (paging).
    pub offset: u32,
}

/// Appends to and reads the `audit_log` table.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends `entry` stamped with the current time; returns its id.
    async fn append_audit(&self, entry: NewAuditEntry<'_>) -> Result<i64, StorageError>;
    /// Rows matching `query`, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StorageError>;
    /// How many rows match `query` (its limit and offset aside).
    async fn count_audit(&self, query: &AuditQuery) -> Result<i64, StorageError>;
}

#[async_trait]
impl AuditRepo for Storage {
    async fn append_audit(&self, e: NewAuditEntry<'_>) -> Result<i64, StorageError> {
        let sql = "INSERT INTO audit_log (ts_ms, actor, action, target, detail, request_id, token_name, source, \
                   method, route, outcome, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        let now = Utc::now().timestamp_millis();
        let fut = async {
            on_pool!(self.db(), p => sqlx::query_scalar::<_, i64>(sql)
                .bind(now).bind(e.actor).bind(e.action).bind(e.target).bind(e.detail).bind(e.request_id)
                .bind(e.token_name).bind(e.source).bind(e.method).bind(e.route).bind(e.outcome).bind(e.status)
                .fetch_one(p).await)
        };
        self.run("audit.append", fut).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StorageError> {
        let sql = "SELECT id, ts_ms, actor, action, target, detail, request_id, token_name, source, method, route, \
                   outcome, status FROM audit_log WHERE ts_ms >= $1 AND ($2 IS NULL OR action = $2) \
                   ORDER BY id DESC LIMIT $3 OFFSET $4";
        let since = q.since.map_or(i64::MIN, |t| t.timestamp_millis());
        let limit = i64::from(if q.limit == 0 { 100 } else { q.limit });
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(since).bind(q.action.as_deref()).bind(limit)
                    .bind(i64::from(q.offset)).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        let ms: i64 = r.try_get("ts_ms")?;
                        Ok(AuditEntry {
                            id: r.try_get("id")?,
                            time: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target: r.try_get("target")?,
                            detail: r.try_get("detail")?,
                            request_id: r.try_get("request_id")?,
                            token_name: r.try_get("token_name")?,
                            source: r.try_get("source")?,
                            method: r.try_get("method")?,
                            route: r.try_get("route")?,
                            outcome: r.try_get("outcome")?,
                            status: r.try_get::<i64, _>("status")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("audit.list", fut).await
    }

    async fn count_audit(&self, q: &AuditQuery) -> Result<i64, StorageError> {
        let sql = "SELECT COUNT(*) FROM audit_log WHERE ts_ms >= $1 AND ($2 IS NULL OR action = $2)";
        let since = q.since.map_or(i64::MIN, |t| t.timestamp_millis());
        let fut = async {
            on_pool!(self.db(), p => sqlx::query_scalar::<_, i64>(sql).bind(since).bind(q.action.as_deref()).fetch_one(p).await)
        };
        self.run("audit.count", fut).await
    }
}
