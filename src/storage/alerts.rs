//! *Alert state* and *alert history* in the database: the active alerts of each rule group
//! (rewritten as a whole whenever the group's alerts change, so a restart restores them) and
//! every state change, appended (rule, labels, from, to, value, time) for MTTD/MTTR.

use super::{Storage, StorageError, on_pool};
use async_trait::async_trait;
use sqlx::Row;

/// One stored alert.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    /// The alert's label fingerprint, hex.
    pub fingerprint: String,
    /// `file;group` of its rule group.
    pub group_key: String,
    /// The alerting rule's name.
    pub rule: String,
    /// Labels as a JSON object.
    pub labels: String,
    /// Annotations as a JSON object.
    pub annotations: String,
    /// `pending`, `firing` or `inactive`.
    pub state: String,
    /// When it became pending (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at: Option<i64>,
    /// Since when `keep_firing_for` holds it (ms).
    pub keep_firing_since: Option<i64>,
    /// Last value.
    pub value: f64,
    /// When this row was written (ms).
    pub updated_at: i64,
}

/// One state change.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChange {
    /// Fingerprint, hex.
    pub fingerprint: String,
    /// The rule.
    pub rule: String,
    /// Labels as JSON.
    pub labels: String,
    /// From state.
    pub from: String,
    /// To state.
    pub to: String,
    /// Value at the change.
    pub value: f64,
    /// When (ms).
    pub at: i64,
}

/// Reads and writes `alert_state` and `alert_history`.
#[async_trait]
pub trait AlertRepo: Send + Sync {
    /// Replaces the stored alerts of `group_key` with `alerts`.
    async fn save_alerts(&self, group_key: &str, alerts: &[StoredAlert]) -> Result<(), StorageError>;
    /// Every stored alert.
    async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StorageError>;
    /// Appends state changes.
    async fn append_history(&self, changes: &[AlertChange]) -> Result<(), StorageError>;
    /// State changes at or after `since` (ms), oldest first, at most `limit`.
    async fn list_history(&self, since: i64, limit: i64) -> Result<Vec<AlertChange>, StorageError>;
}

fn f(v: f64) -> String {
    crate::promql::format_value(v)
}

fn parse_f(s: &str) -> f64 {
    match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

#[async_trait]
impl AlertRepo for Storage {
    async fn save_alerts(&self, group_key: &str, alerts: &[StoredAlert]) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                sqlx::query("DELETE FROM alert_state WHERE group_key = $1").bind(group_key).execute(&mut *tx).await?;
                for a in alerts {
                    sqlx::query(
                        "INSERT INTO alert_state (fingerprint, group_key, rule, labels, annotations, state, active_at, \
                         fired_at, resolved_at, keep_firing_since, value, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(&a.fingerprint).bind(group_key).bind(&a.rule).bind(&a.labels).bind(&a.annotations)
                    .bind(&a.state).bind(a.active_at).bind(a.fired_at).bind(a.resolved_at)
                    .bind(a.keep_firing_since).bind(f(a.value)).bind(a.updated_at)
                    .execute(&mut *tx).await?;
                }
                tx.commit().await
            })
        };
        self.run("alerts.save", fut).await
    }

    async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StorageError> {
        let sql = "SELECT fingerprint, group_key, rule, labels, annotations, state, active_at, fired_at, resolved_at, \
                   keep_firing_since, value, updated_at FROM alert_state ORDER BY group_key, rule, fingerprint";
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredAlert {
                            fingerprint: r.try_get("fingerprint")?,
                            group_key: r.try_get("group_key")?,
                            rule: r.try_get("rule")?,
                            labels: r.try_get("labels")?,
                            annotations: r.try_get("annotations")?,
                            state: r.try_get("state")?,
                            active_at: r.try_get("active_at")?,
                            fired_at: r.try_get("fired_at")?,
                            resolved_at: r.try_get("resolved_at")?,
                            keep_firing_since: r.try_get("keep_firing_since")?,
                            value: parse_f(&r.try_get::<String, _>("value")?),
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("alerts.load", fut).await
    }

    async fn append_history(&self, changes: &[AlertChange]) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                for c in changes {
                    sqlx::query(
                        "INSERT INTO alert_history (fingerprint, rule, labels, from_state, to_state, value, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&c.fingerprint).bind(&c.rule).bind(&c.labels).bind(&c.from).bind(&c.to)
                    .bind(f(c.value)).bind(c.at)
                    .execute(&mut *tx).await?;
                }
                tx.commit().await
            })
        };
        self.run("alerts.history", fut).await
    }

    async fn list_history(&self, since: i64, limit: i64) -> Result<Vec<AlertChange>, StorageError> {
        let sql = "SELECT fingerprint, rule, labels, from_state, to_state, value, at FROM alert_history \
                   WHERE at >= $1 ORDER BY at, id LIMIT $2";
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(since).bind(limit).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(AlertChange {
                            fingerprint: r.try_get("fingerprint")?,
                            rule: r.try_get("rule")?,
                            labels: r.try_get("labels")?,
                            from: r.try_get("from_state")?,
                            to: r.try_get("to_state")?,
                            value: parse_f(&r.try_get::<String, _>("value")?),
                            at: r.try_get("at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("alerts.history_list", fut).await
    }
}
