//! The *admin queries*: what the admin API reads beyond plain listings — a page of the
//! delivery history with its total, and day-by-day counts of alert transitions and
//! deliveries for the trend (`GET /api/v1/admin/analytics`).

use super::outbox::{OutboxFilter, OutboxRow, filter_sql};
use super::{Storage, StorageError, on_pool};
use async_trait::async_trait;
use sqlx::Row;

/// One day's count of something (day = UTC day number since the epoch).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DayCount {
    /// UTC day number (ms / 86,400,000).
    pub(crate) day: i64,
    /// The alert (or comma-separated alert names, for deliveries).
    pub(crate) name: String,
    /// What happened: a delivery status, or `fired` / `resolved`.
    pub(crate) what: String,
    /// How many times.
    pub(crate) count: i64,
}

/// Reads for the admin API.
#[async_trait]
pub(crate) trait AdminRepo: Send + Sync {
    /// Rows matching `filter` (newest first), `offset` skipped, at most `filter.limit`; and
    /// how many match in all.
    async fn page_outbox(&self, filter: &OutboxFilter, offset: i64) -> Result<(Vec<OutboxRow>, i64), StorageError>;
    /// Deliveries created at or after `since` (ms), per day, status and alert names.
    async fn deliveries_per_day(&self, since: i64) -> Result<Vec<DayCount>, StorageError>;
    /// Alerts that turned firing (`fired`) or stopped firing (`resolved`) at or after `since`,
    /// per day and rule.
    async fn transitions_per_day(&self, since: i64) -> Result<Vec<DayCount>, StorageError>;
}

#[async_trait]
impl AdminRepo for Storage {
    async fn page_outbox(&self, f: &OutboxFilter, offset: i64) -> Result<(Vec<OutboxRow>, i64), StorageError> {
        let (clause, params, since) = filter_sql(f, 1);
        let sql = format!("SELECT COUNT(*) FROM outbox WHERE {clause}");
        let fut = async {
            on_pool!(self.db(), p => {
                let mut q = sqlx::query_scalar::<_, i64>(&sql);
                for v in &params {
                    q = q.bind(v);
                }
                if let Some(s) = since {
                    q = q.bind(s);
                }
                q.fetch_one(p).await
            })
        };
        let total = self.run("outbox.count", fut).await?;
        let rows = if offset >= total { Vec::new() } else { self.list_outbox_from(f, offset).await? };
        Ok((rows, total))
    }

    async fn deliveries_per_day(&self, since: i64) -> Result<Vec<DayCount>, StorageError> {
        let sql = "SELECT created_at / 86400000 AS day, alert_names AS name, status AS what, COUNT(*) AS n \
                   FROM outbox WHERE created_at >= $1 GROUP BY created_at / 86400000, alert_names, status";
        self.day_counts("outbox.per_day", sql, since).await
    }

    async fn transitions_per_day(&self, since: i64) -> Result<Vec<DayCount>, StorageError> {
        let sql = "SELECT at / 86400000 AS day, rule AS name, \
                   CASE WHEN to_state = 'firing' THEN 'fired' ELSE 'resolved' END AS what, COUNT(*) AS n \
                   FROM alert_history WHERE at >= $1 AND (to_state = 'firing' OR from_state = 'firing') \
                   GROUP BY at / 86400000, rule, CASE WHEN to_state = 'firing' THEN 'fired' ELSE 'resolved' END";
        self.day_counts("alerts.per_day", sql, since).await
    }
}

impl Storage {
    async fn day_counts(
        &self,
        what: &'static str,
        sql: &'static str,
        since: i64,
    ) -> Result<Vec<DayCount>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(since).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(DayCount {
                            day: r.try_get("day")?,
                            name: r.try_get("name")?,
                            what: r.try_get("what")?,
                            count: r.try_get("n")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run(what, fut).await
    }
}
