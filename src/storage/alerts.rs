//! *Alert state* and *alert history* in the database: the active alerts of each rule group
//! (rewritten as a whole, or changed row by row where they changed, so a restart restores
//! them) and every state change, appended (rule, labels, from, to, value, time) for MTTD/MTTR.

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
    /// Times (ms) of its fire and resolve transitions in the last hour, comma-separated
    /// (flap damping).
    pub flap_times: String,
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
    /// Changes the stored alerts of `group_key` in place: writes `upserts` (new rows, or rows
    /// replacing those of the same rule and fingerprint) and deletes the `(rule, fingerprint)`
    /// rows of `deletes`; the group's other rows stay as they are.
    async fn update_alerts(
        &self,
        group_key: &str,
        upserts: &[StoredAlert],
        deletes: &[(String, String)],
    ) -> Result<(), StorageError>;
    /// Every stored alert.
    async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StorageError>;
    /// Appends state changes.
    async fn append_history(&self, changes: &[AlertChange]) -> Result<(), StorageError>;
    /// State changes at or after `since` (ms), oldest first, at most `limit`.
    async fn list_history(&self, since: i64, limit: i64) -> Result<Vec<AlertChange>, StorageError>;
}

/// Rows per `INSERT` statement: one statement per row cost a round trip to the database (for
/// SQLite, to its worker thread) per alert, which with thousands of active alerts was most of
/// the process's CPU. All keep a statement under 999 bound parameters, the oldest SQLite
/// limit (13 per state row, 7 per history row).
const STATE_ROWS: usize = 75;
/// See [`STATE_ROWS`].
const HISTORY_ROWS: usize = 140;
/// `(rule, fingerprint)` keys per `DELETE` (2 parameters each).
///
/// Only statements of exactly these sizes are kept prepared (one each per connection); the
/// last, shorter one of a write is prepared for that use only, since the driver's statement
/// cache would otherwise keep a large prepared statement of every size it ever saw.
const DELETE_ROWS: usize = 400;

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

impl Storage {
    /// One transaction over `alert_state` of `group_key`: with `deletes` `None` the group's rows
    /// are replaced by `rows`; else the listed `(rule, fingerprint)` rows are deleted and `rows`
    /// inserted or, where the row exists, written over it.
    async fn write_state(
        &self,
        op: &'static str,
        group_key: &str,
        deletes: Option<&[(String, String)]>,
        rows: &[StoredAlert],
    ) -> Result<(), StorageError> {
        // Replicas sharing a database write the same groups: on PostgreSQL a transaction-scoped
        // lock per group makes their writes of one group take turns (no deadlock, no duplicate
        // key), and rows go in one order.
        let postgres = self.backend() == super::Backend::Postgres;
        let mut rows = rows.to_vec();
        rows.sort_by(|a, b| (&a.rule, &a.fingerprint).cmp(&(&b.rule, &b.fingerprint)));
        let mut deletes = deletes.map(<[(String, String)]>::to_vec);
        if let Some(d) = deletes.as_mut() {
            d.sort();
        }
        let (rows, deletes) = (rows.as_slice(), deletes.as_deref());
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                if postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(group_key).execute(&mut *tx).await?;
                }
                match deletes {
                    None => {
                        sqlx::query("DELETE FROM alert_state WHERE group_key = $1").bind(group_key).execute(&mut *tx).await?;
                    }
                    Some(deletes) => {
                        for keys in deletes.chunks(DELETE_ROWS) {
                            let mut q = sqlx::QueryBuilder::new("DELETE FROM alert_state WHERE group_key = ");
                            q.push_bind(group_key).push(" AND (rule, fingerprint) IN (");
                            q.push_values(keys, |mut b, (rule, fp)| {
                                b.push_bind(rule).push_bind(fp);
                            });
                            q.push(")").build().persistent(keys.len() == DELETE_ROWS).execute(&mut *tx).await?;
                        }
                    }
                }
                for rows in rows.chunks(STATE_ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO alert_state (fingerprint, group_key, rule, labels, annotations, state, active_at, \
                         fired_at, resolved_at, keep_firing_since, value, updated_at, flap_times) ",
                    );
                    q.push_values(rows, |mut b, a| {
                        b.push_bind(&a.fingerprint).push_bind(group_key).push_bind(&a.rule).push_bind(&a.labels)
                            .push_bind(&a.annotations).push_bind(&a.state).push_bind(a.active_at).push_bind(a.fired_at)
                            .push_bind(a.resolved_at).push_bind(a.keep_firing_since).push_bind(f(a.value))
                            .push_bind(a.updated_at).push_bind(&a.flap_times);
                    });
                    q.push(
                        " ON CONFLICT (group_key, rule, fingerprint) DO UPDATE SET labels = excluded.labels, \
                         annotations = excluded.annotations, state = excluded.state, active_at = excluded.active_at, \
                         fired_at = excluded.fired_at, resolved_at = excluded.resolved_at, \
                         keep_firing_since = excluded.keep_firing_since, value = excluded.value, \
                         updated_at = excluded.updated_at, flap_times = excluded.flap_times",
                    );
                    q.build().persistent(rows.len() == STATE_ROWS).execute(&mut *tx).await?;
                }
                tx.commit().await
            })
        };
        self.run(op, fut).await
    }
}

#[async_trait]
impl AlertRepo for Storage {
    async fn save_alerts(&self, group_key: &str, alerts: &[StoredAlert]) -> Result<(), StorageError> {
        self.write_state("alerts.save", group_key, None, alerts).await
    }

    async fn update_alerts(
        &self,
        group_key: &str,
        upserts: &[StoredAlert],
        deletes: &[(String, String)],
    ) -> Result<(), StorageError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.write_state("alerts.update", group_key, Some(deletes), upserts).await
    }

    async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StorageError> {
        let sql = "SELECT fingerprint, group_key, rule, labels, annotations, state, active_at, fired_at, resolved_at, \
                   keep_firing_since, value, updated_at, flap_times FROM alert_state ORDER BY group_key, rule, fingerprint";
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
                            flap_times: r.try_get("flap_times")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("alerts.load", fut).await
    }

    async fn append_history(&self, changes: &[AlertChange]) -> Result<(), StorageError> {
        if changes.is_empty() {
            return Ok(());
        }
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                for rows in changes.chunks(HISTORY_ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO alert_history (fingerprint, rule, labels, from_state, to_state, value, at) ",
                    );
                    q.push_values(rows, |mut b, c| {
                        b.push_bind(&c.fingerprint).push_bind(&c.rule).push_bind(&c.labels).push_bind(&c.from)
                            .push_bind(&c.to).push_bind(f(c.value)).push_bind(c.at);
                    });
                    q.build().persistent(rows.len() == HISTORY_ROWS).execute(&mut *tx).await?;
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
