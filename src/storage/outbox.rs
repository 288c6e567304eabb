//! The *outbox* and *silences* tables. An outbox row is one notification to one receiver
//! channel (its *target*): written before anything is sent, claimed by a delivery worker
//! (`pending` → `sending`), and finished as `sent`, retried (`pending` with a later
//! `next_attempt_at`) or given up (`failed`, with the last error). `suppressed` rows record
//! notifications that were deliberately not sent (silence, inhibition, mute time, cooldown).
//! On PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so several sidecars on one
//! database never send the same row twice; a row left `sending` by a crashed worker is claimed
//! again once its lease has passed.

use super::status::{OutboxStatus, decode};
use super::{Backend, Storage, StorageError, on_pool};
use async_trait::async_trait;
use sqlx::Row;

/// A notification to write to the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutboxRow {
    /// Receiver name.
    pub receiver: String,
    /// Channel kind: `webhook`, `slack`, `telegram`, `email`, `alertmanager`.
    pub channel: String,
    /// `receiver/channel/index`: the unit a slow channel can only delay itself within.
    pub target: String,
    /// The aggregation group's key.
    pub group_key: String,
    /// Alert names, comma-separated, for listing.
    pub alert_names: String,
    /// `firing`, `resolved` or `flapping`.
    pub kind: String,
    /// The notification as JSON.
    pub payload: String,
    /// Hash of receiver, target, alerts and their status (for the cooldown).
    pub payload_hash: String,
    /// `pending` or `suppressed` (`sending` for a test send made at once).
    pub status: OutboxStatus,
    /// Why it is suppressed.
    pub error_text: Option<String>,
    /// Give up after this time (ms).
    pub expires_at: i64,
    /// Created (ms); also the first attempt's due time.
    pub created_at: i64,
}

/// One outbox row as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    /// Row id.
    pub(crate) id: i64,
    /// Receiver name.
    pub(crate) receiver: String,
    /// Channel kind.
    pub channel: String,
    /// `receiver/channel/index`.
    pub target: String,
    /// Aggregation group key.
    pub(crate) group_key: String,
    /// Alert names, comma-separated.
    pub(crate) alert_names: String,
    /// `firing`, `resolved` or `flapping`.
    pub kind: String,
    /// The notification as JSON.
    pub(crate) payload: String,
    /// Cooldown hash.
    pub(crate) payload_hash: String,
    /// Where the row is in its delivery.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (ms).
    pub(crate) next_attempt_at: i64,
    /// Give up after (ms).
    pub(crate) expires_at: i64,
    /// Last HTTP (or SMTP) status code.
    pub last_http_status: Option<i64>,
    /// Last error, secrets redacted.
    pub error_text: Option<String>,
    /// Created (ms).
    pub(crate) created_at: i64,
    /// Delivered (ms).
    pub(crate) sent_at: Option<i64>,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    /// Delivered.
    Sent {
        /// Response status.
        http_status: Option<i64>,
        /// When (ms).
        at: i64,
    },
    /// Failed; try again at `next`.
    Retry {
        /// Response status, if any.
        http_status: Option<i64>,
        /// The error.
        error: String,
        /// Next attempt (ms).
        next: i64,
    },
    /// Failed for good.
    Failed {
        /// Response status, if any.
        http_status: Option<i64>,
        /// The error.
        error: String,
    },
}

/// Which rows to list or retry.
#[derive(Clone, Debug, Default)]
pub struct OutboxFilter {
    /// Only this status.
    pub status: Option<OutboxStatus>,
    /// Only rows created at or after (ms).
    pub since: Option<i64>,
    /// Only this channel kind.
    pub channel: Option<String>,
    /// Only this receiver.
    pub receiver: Option<String>,
    /// At most this many (newest first); 0 = 1000.
    pub limit: i64,
    /// Only rows whose notification names this alert.
    pub alertname: Option<String>,
}

/// A silence as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSilence {
    /// Id (UUID).
    pub(crate) id: String,
    /// Matchers as a JSON array of strings.
    pub(crate) matchers: String,
    /// Active from (ms).
    pub(crate) starts_at: i64,
    /// Active until (ms).
    pub(crate) ends_at: i64,
    /// Who created it.
    pub(crate) created_by: String,
    /// Why.
    pub(crate) comment: String,
    /// Created (ms).
    pub(crate) created_at: i64,
    /// Last changed (ms).
    pub(crate) updated_at: i64,
}

impl StoredSilence {
    /// `expired`, `pending` (starts later) or `active` at `now` (ms), as Alertmanager says.
    pub(crate) fn state(&self, now: i64) -> &'static str {
        if self.ends_at <= now {
            "expired"
        } else if self.starts_at > now {
            "pending"
        } else {
            "active"
        }
    }
}

/// Reads and writes the outbox and the silences.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Writes rows; returns the ids of those written (a row already queued, same channel, group,
    /// payload and queue time, is not written again).
    async fn enqueue(&self, rows: &[NewOutboxRow]) -> Result<Vec<i64>, StorageError>;
    /// Claims up to `limit` rows of `target` that are due at `now` (or left `sending` by a
    /// worker whose lease ended before `stale_before`), marking them `sending`.
    async fn claim(
        &self,
        target: &str,
        worker: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StorageError>;
    /// Records an attempt's outcome.
    async fn finish(&self, id: i64, attempt: &Attempt) -> Result<(), StorageError>;
    /// Records several attempts' outcomes at once (one statement on PostgreSQL).
    async fn finish_many(&self, done: &[(i64, Attempt)]) -> Result<(), StorageError>;
    /// Rows matching `filter`, newest first.
    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRow>, StorageError>;
    /// Puts matching rows back to `pending`, due now, expiring at `expires_at`; returns how many.
    async fn requeue(&self, filter: &OutboxFilter, now: i64, expires_at: i64) -> Result<u64, StorageError>;
    /// Row count per status, and the creation time of the oldest `pending`/`sending` row.
    async fn outbox_depth(&self) -> Result<(Vec<(OutboxStatus, i64)>, Option<i64>), StorageError>;
    /// Writes `rows` like [`enqueue`](OutboxRepo::enqueue), each `pending` one only if it is
    /// not the same notification (payload hash) as the last one queued for its channel and
    /// group within its window (ms), by this process or another on the same database: the
    /// check and the write are one atomic upsert of `notify_groups`, so of N replicas queuing
    /// the same group change exactly one row is `pending`; the others are written
    /// `suppressed`, saying so. Returns the ids written and how many were duplicates.
    async fn enqueue_once(&self, rows: &[(NewOutboxRow, i64)]) -> Result<(Vec<i64>, usize), StorageError>;
    /// Deletes finished rows created before `before`; returns how many.
    async fn prune_outbox(&self, before: i64) -> Result<u64, StorageError>;
    /// Stores a silence (insert or replace by id).
    async fn save_silence(&self, s: &StoredSilence) -> Result<(), StorageError>;
    /// Silences whose end is after `ends_after` (ms), newest first.
    async fn list_silences(&self, ends_after: i64) -> Result<Vec<StoredSilence>, StorageError>;
}

const COLUMNS: &str = "id, receiver, channel, target, group_key, alert_names, kind, payload, payload_hash, status, \
                       attempts, next_attempt_at, expires_at, last_http_status, error_text, created_at, sent_at";

/// An attempt as the outbox columns it sets: status, HTTP status, error, next attempt, sent at.
fn outcome_columns(a: &Attempt) -> (OutboxStatus, Option<i64>, Option<&String>, Option<i64>, Option<i64>) {
    match a {
        Attempt::Sent { http_status, at } => (OutboxStatus::Sent, *http_status, None, None, Some(*at)),
        Attempt::Retry { http_status, error, next } => {
            (OutboxStatus::Pending, *http_status, Some(error), Some(*next), None)
        }
        Attempt::Failed { http_status, error } => (OutboxStatus::Failed, *http_status, Some(error), None, None),
    }
}

/// Keys per `notify_groups` upsert (4 parameters each).
const LEASE_ROWS: usize = 500;
/// Rows per outbox `INSERT` (14 parameters each, under SQLite's 32,766).
const OUTBOX_ROWS: usize = 500;

/// What makes a queued row the same row: its channel, group, payload and queue time. An
/// enqueue retried after an error whose first attempt did commit writes nothing again.
fn dedupe_key(r: &NewOutboxRow) -> String {
    format!("{}|{}|{}|{}", r.target, r.group_key, r.payload_hash, r.created_at)
}

/// Decodes an outbox row; a macro so it compiles once per backend's row type.
macro_rules! row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, sqlx::Error>(OutboxRow {
            id: r.try_get("id")?,
            receiver: r.try_get("receiver")?,
            channel: r.try_get("channel")?,
            target: r.try_get("target")?,
            group_key: r.try_get("group_key")?,
            alert_names: r.try_get("alert_names")?,
            kind: r.try_get("kind")?,
            payload: r.try_get("payload")?,
            payload_hash: r.try_get("payload_hash")?,
            status: decode(r.try_get("status")?)?,
            attempts: r.try_get("attempts")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
            expires_at: r.try_get("expires_at")?,
            last_http_status: r.try_get("last_http_status")?,
            error_text: r.try_get("error_text")?,
            created_at: r.try_get("created_at")?,
            sent_at: r.try_get("sent_at")?,
        })
    }};
}

/// `WHERE` clause and its text parameters, numbered from `$first`.
pub(super) fn filter_sql(f: &OutboxFilter, first: usize) -> (String, Vec<String>, Option<i64>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut params = Vec::new();
    let status = f.status.map(|s| s.as_str().to_string());
    for (col, v) in [("status", &status), ("channel", &f.channel), ("receiver", &f.receiver)] {
        if let Some(v) = v {
            params.push(v.clone());
            clauses.push(format!("{col} = ${}", first + params.len() - 1));
        }
    }
    if let Some(name) = &f.alertname {
        // One of the comma-separated names, matched whole; LIKE's wildcards in it are literal.
        let escaped = name.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        params.push(format!("%,{escaped},%"));
        clauses.push(format!("(',' || alert_names || ',') LIKE ${} ESCAPE '\\'", first + params.len() - 1));
    }
    if f.since.is_some() {
        clauses.push(format!("created_at >= ${}", first + params.len()));
    }
    (clauses.join(" AND "), params, f.since)
}

#[async_trait]
impl OutboxRepo for Storage {
    async fn enqueue(&self, rows: &[NewOutboxRow]) -> Result<Vec<i64>, StorageError> {
        let rows: Vec<(NewOutboxRow, Option<i64>)> = rows.iter().map(|r| (r.clone(), None)).collect();
        self.insert_rows(&rows).await.map(|(ids, _)| ids)
    }

    async fn enqueue_once(&self, rows: &[(NewOutboxRow, i64)]) -> Result<(Vec<i64>, usize), StorageError> {
        let rows: Vec<(NewOutboxRow, Option<i64>)> = rows.iter().map(|(r, w)| (r.clone(), Some(*w))).collect();
        self.insert_rows(&rows).await
    }

    async fn claim(
        &self,
        target: &str,
        worker: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StorageError> {
        // PostgreSQL: concurrent claimers skip each other's locked rows. SQLite serialises
        // writers, so the plain sub-select is already exclusive.
        let lock = if self.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE outbox SET status = 'sending', claimed_by = $1, claimed_at = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE target = $3 AND \
             ((status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND claimed_at < $4)) \
             ORDER BY id LIMIT $5{lock}) RETURNING {COLUMNS}"
        );
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(&sql).bind(worker).bind(now).bind(target).bind(stale_before).bind(limit)
                    .fetch_all(p).await?;
                let mut out = rows.iter().map(|r| row!(r)).collect::<Result<Vec<_>, sqlx::Error>>()?;
                out.sort_by_key(|r| r.id);
                Ok(out)
            })
        };
        self.run("outbox.claim", fut).await
    }

    async fn finish_many(&self, done: &[(i64, Attempt)]) -> Result<(), StorageError> {
        if done.is_empty() {
            return Ok(());
        }
        if self.backend() != super::Backend::Postgres {
            // SQLite: statements are cheap (no network); one at a time.
            for (id, a) in done {
                self.finish(*id, a).await?;
            }
            return Ok(());
        }
        let fut = async {
            on_pool!(self.db(), p => {
                for chunk in done.chunks(OUTBOX_ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "UPDATE outbox AS o SET status = v.status, last_http_status = v.http, \
                         error_text = CASE WHEN v.status = 'sent' THEN NULL ELSE COALESCE(v.error, o.error_text) END, \
                         next_attempt_at = COALESCE(v.next, o.next_attempt_at), sent_at = v.sent, claimed_by = NULL, \
                         claimed_at = NULL FROM (",
                    );
                    q.push_values(chunk, |mut b, (id, a)| {
                        let (status, http, error, next, sent) = outcome_columns(a);
                        b.push_bind(*id).push_unseparated("::BIGINT")
                            .push_bind(status.as_str()).push_unseparated("::TEXT")
                            .push_bind(http).push_unseparated("::BIGINT")
                            .push_bind(error.cloned()).push_unseparated("::TEXT")
                            .push_bind(next).push_unseparated("::BIGINT")
                            .push_bind(sent).push_unseparated("::BIGINT");
                    });
                    q.push(") AS v(id, status, http, error, next, sent) WHERE o.id = v.id");
                    q.build().execute(p).await?;
                }
                Ok::<_, sqlx::Error>(())
            })
        };
        self.run("outbox.finish", fut).await
    }

    async fn finish(&self, id: i64, attempt: &Attempt) -> Result<(), StorageError> {
        let (status, http, error, next, sent) = outcome_columns(attempt);
        let fut = async {
            on_pool!(self.db(), p => sqlx::query(
                "UPDATE outbox SET status = $1, last_http_status = $2, error_text = CASE WHEN $1 = 'sent' THEN NULL ELSE COALESCE($3, error_text) END, \
                 next_attempt_at = COALESCE($4, next_attempt_at), sent_at = $5, claimed_by = NULL, \
                 claimed_at = NULL WHERE id = $6",
            )
            .bind(status.as_str()).bind(http).bind(error).bind(next).bind(sent).bind(id)
            .execute(p).await.map(|_| ()))
        };
        self.run("outbox.finish", fut).await
    }

    async fn list_outbox(&self, f: &OutboxFilter) -> Result<Vec<OutboxRow>, StorageError> {
        self.list_outbox_from(f, 0).await
    }

    async fn requeue(&self, f: &OutboxFilter, now: i64, expires_at: i64) -> Result<u64, StorageError> {
        let (clause, params, since) = filter_sql(f, 3);
        let sql = format!(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, expires_at = $2, claimed_by = NULL, \
             claimed_at = NULL WHERE status IN ('failed', 'pending') AND {clause}"
        );
        let fut = async {
            on_pool!(self.db(), p => {
                let mut q = sqlx::query(&sql).bind(now).bind(expires_at);
                for v in &params {
                    q = q.bind(v);
                }
                if let Some(s) = since {
                    q = q.bind(s);
                }
                q.execute(p).await.map(|r| r.rows_affected())
            })
        };
        self.run("outbox.requeue", fut).await
    }

    async fn outbox_depth(&self) -> Result<(Vec<(OutboxStatus, i64)>, Option<i64>), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status").fetch_all(p).await?;
                let counts = rows.iter()
                    .map(|r| Ok((decode(r.try_get::<String, _>("status")?)?, r.try_get::<i64, _>("n")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let oldest: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending')",
                )
                .fetch_one(p).await?;
                Ok((counts, oldest))
            })
        };
        self.run("outbox.depth", fut).await
    }

    async fn prune_outbox(&self, before: i64) -> Result<u64, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query(
                "DELETE FROM outbox WHERE created_at < $1 AND status IN ('sent', 'failed', 'suppressed')",
            )
            .bind(before).execute(p).await.map(|r| r.rows_affected()))
        };
        self.run("outbox.prune", fut).await
    }

    async fn save_silence(&self, s: &StoredSilence) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET matchers = $2, \
                 starts_at = $3, ends_at = $4, created_by = $5, comment = $6, updated_at = $8",
            )
            .bind(&s.id).bind(&s.matchers).bind(s.starts_at).bind(s.ends_at).bind(&s.created_by)
            .bind(&s.comment).bind(s.created_at).bind(s.updated_at)
            .execute(p).await.map(|_| ()))
        };
        self.run("silences.save", fut).await
    }

    async fn list_silences(&self, ends_after: i64) -> Result<Vec<StoredSilence>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(
                    "SELECT id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at \
                     FROM silences WHERE ends_at > $1 ORDER BY created_at DESC, id",
                )
                .bind(ends_after).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredSilence {
                            id: r.try_get("id")?,
                            matchers: r.try_get("matchers")?,
                            starts_at: r.try_get("starts_at")?,
                            ends_at: r.try_get("ends_at")?,
                            created_by: r.try_get("created_by")?,
                            comment: r.try_get("comment")?,
                            created_at: r.try_get("created_at")?,
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("silences.list", fut).await
    }
}

impl Storage {
    /// Writes `rows`; a `pending` one with a window goes through the `notify_groups` lease
    /// ([`OutboxRepo::enqueue_once`]). Ids written, and how many were duplicates. A few
    /// multi-row statements per call, not two per row: a storm of thousands of groups is a
    /// handful of round trips to PostgreSQL.
    async fn insert_rows(&self, rows: &[(NewOutboxRow, Option<i64>)]) -> Result<(Vec<i64>, usize), StorageError> {
        // One lock order for every replica: by channel, then group.
        let mut rows: Vec<(NewOutboxRow, Option<i64>)> = rows.to_vec();
        if rows.iter().any(|r| r.1.is_some()) {
            rows.sort_by(|a, b| (&a.0.target, &a.0.group_key).cmp(&(&b.0.target, &b.0.group_key)));
        }
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                // The lease: one upsert per chunk of rows with the same window and distinct
                // (channel, group) keys; the keys it returns won, the others are duplicates.
                let mut chunks: Vec<(i64, Vec<usize>)> = Vec::new();
                for (i, (r, window)) in rows.iter().enumerate() {
                    let (OutboxStatus::Pending, Some(w)) = (r.status, window) else { continue };
                    let key = (&r.target, &r.group_key);
                    let fits = |c: &(i64, Vec<usize>)| {
                        c.0 == *w && c.1.len() < LEASE_ROWS && !c.1.iter().any(|&j| (&rows[j].0.target, &rows[j].0.group_key) == key)
                    };
                    match chunks.iter_mut().find(|c| fits(c)) {
                        Some(c) => c.1.push(i),
                        None => chunks.push((*w, vec![i])),
                    }
                }
                let mut lost: Vec<usize> = Vec::new();
                for (window, idx) in &chunks {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO notify_groups (target, group_key, last_hash, last_at) ");
                    q.push_values(idx, |mut b, &i| {
                        let r = &rows[i].0;
                        b.push_bind(&r.target).push_bind(&r.group_key).push_bind(&r.payload_hash).push_bind(r.created_at);
                    });
                    // The window is a number the code computed, not input: written in place.
                    q.push(format!(
                        " ON CONFLICT (target, group_key) DO UPDATE SET last_hash = excluded.last_hash, \
                         last_at = excluded.last_at WHERE notify_groups.last_hash <> excluded.last_hash \
                         OR notify_groups.last_at <= excluded.last_at - {window} RETURNING target, group_key"
                    ));
                    let won: std::collections::HashSet<(String, String)> = q
                        .build_query_as::<(String, String)>()
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .collect();
                    lost.extend(idx.iter().copied().filter(|&i| !won.contains(&(rows[i].0.target.clone(), rows[i].0.group_key.clone()))));
                }
                let duplicates = lost.len();
                if !lost.is_empty() {
                    // Say when the notification they duplicate was queued.
                    let mut at = std::collections::HashMap::new();
                    for keys in lost.chunks(LEASE_ROWS) {
                        let mut q = sqlx::QueryBuilder::new("SELECT target, group_key, last_at FROM notify_groups WHERE (target, group_key) IN (");
                        let mut sep = q.separated(", ");
                        for &i in keys {
                            sep.push("(").push_bind_unseparated(&rows[i].0.target).push_unseparated(", ")
                                .push_bind_unseparated(&rows[i].0.group_key).push_unseparated(")");
                        }
                        q.push(")");
                        for (t, g, a) in q.build_query_as::<(String, String, i64)>().fetch_all(&mut *tx).await? {
                            at.insert((t, g), a);
                        }
                    }
                    for &i in &lost {
                        let r = &mut rows[i].0;
                        let when = at
                            .get(&(r.target.clone(), r.group_key.clone()))
                            .and_then(|ms| chrono::DateTime::from_timestamp_millis(*ms))
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                            .unwrap_or_default();
                        r.status = OutboxStatus::Suppressed;
                        r.error_text = Some(format!(
                            "cooldown: identical notification queued at {when} (the last one for this channel \
                             and group, by this or another replica)"
                        ));
                    }
                }
                let mut ids = Vec::with_capacity(rows.len());
                for chunk in rows.chunks(OUTBOX_ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO outbox (receiver, channel, target, group_key, alert_names, kind, payload, \
                         payload_hash, status, error_text, next_attempt_at, expires_at, created_at, dedupe_key) ",
                    );
                    q.push_values(chunk, |mut b, (r, _)| {
                        b.push_bind(&r.receiver).push_bind(&r.channel).push_bind(&r.target).push_bind(&r.group_key)
                            .push_bind(&r.alert_names).push_bind(&r.kind).push_bind(&r.payload).push_bind(&r.payload_hash)
                            .push_bind(r.status.as_str()).push_bind(&r.error_text).push_bind(r.created_at)
                            .push_bind(r.expires_at).push_bind(r.created_at).push_bind(dedupe_key(r));
                    });
                    q.push(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING id");
                    ids.extend(q.build_query_scalar::<i64>().fetch_all(&mut *tx).await?);
                }
                tx.commit().await?;
                Ok((ids, duplicates))
            })
        };
        self.run("outbox.enqueue", fut).await
    }

    /// Rows matching `f`, newest first, skipping `offset`, at most `f.limit` (0 = 1000).
    pub(crate) async fn list_outbox_from(&self, f: &OutboxFilter, offset: i64) -> Result<Vec<OutboxRow>, StorageError> {
        let (clause, params, since) = filter_sql(f, 1);
        let limit = if f.limit > 0 { f.limit } else { 1000 };
        let offset = offset.max(0);
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE {clause} ORDER BY id DESC LIMIT {limit} OFFSET {offset}");
        let fut = async {
            on_pool!(self.db(), p => {
                let mut q = sqlx::query(&sql);
                for v in &params {
                    q = q.bind(v);
                }
                if let Some(s) = since {
                    q = q.bind(s);
                }
                let rows = q.fetch_all(p).await?;
                rows.iter().map(|r| row!(r)).collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("outbox.list", fut).await
    }
}
