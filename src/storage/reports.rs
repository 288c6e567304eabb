//! What the report jobs read and record: product *events*, *metric history* (one row per
//! history series per interval), *job runs* (one row per occurrence of a scheduled job; the
//! unique `(job, scheduled_for)` makes exactly one of several sidecars run it) and *report
//! drafts* (one digest per anchor date). Aggregations that SQL does best — daily distinct users
//! per event, distinct active user-days — run in SQL, so reports never decode every event.

use super::status::JobStatus;
use super::{Storage, StorageError, on_pool};
use async_trait::async_trait;
use sqlx::Row;

/// One product event.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// When it happened (ms).
    pub ts: i64,
    /// Event name, e.g. `landing_view`.
    pub name: String,
    /// Who.
    pub user_id: String,
    /// Properties as a JSON object.
    pub props: String,
}

/// Users and events of one event name on one UTC day.
#[derive(Clone, Debug, PartialEq)]
pub struct DailyCount {
    /// Days since 1970-01-01.
    pub(crate) day: i64,
    /// Event name.
    pub(crate) name: String,
    /// Distinct users.
    pub(crate) users: i64,
    /// Events.
    pub(crate) events: i64,
}

/// A retention cohort: the users first seen on one UTC day.
#[derive(Clone, Debug, PartialEq)]
pub struct Cohort {
    /// The first day (days since 1970-01-01).
    pub day: i64,
    /// Users first seen that day.
    pub size: i64,
    /// Of those, users with an event the next day.
    pub d1: i64,
    /// Of those, users with an event seven days later.
    pub d7: i64,
}

/// One metric history row.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    /// Series name (`[[history.series]] name`).
    pub name: String,
    /// Labels as a JSON object.
    pub labels: String,
    /// Time (ms).
    pub ts: i64,
    /// Value.
    pub value: f64,
}

/// One job run.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRun {
    /// Row id.
    pub(crate) id: i64,
    /// Job name.
    pub job: String,
    /// The occurrence (ms).
    pub scheduled_for: i64,
    /// Started (ms).
    pub(crate) started_at: i64,
    /// Ended (ms).
    pub(crate) ended_at: Option<i64>,
    /// `running`, `ok`, `held` (gate or duplicate), `failed`.
    pub status: JobStatus,
    /// Who ran it.
    pub(crate) runner: String,
    /// Paths written, JSON array.
    pub(crate) outputs: String,
    /// Why it failed or was held.
    pub error: Option<String>,
}

/// Reads and writes events, metric history, job runs and drafts.
#[async_trait]
pub trait ReportRepo: Send + Sync {
    /// Inserts events in one transaction (all or none); returns how many.
    async fn insert_events(&self, events: &[NewEvent]) -> Result<u64, StorageError> {
        self.insert_events_marked(events, None).await
    }
    /// Inserts events and, in the same transaction, sets `meta` key `mark.0` to `mark.1` (an
    /// event source's watermark), so a crash never counts a pulled row twice or loses one.
    async fn insert_events_marked(&self, events: &[NewEvent], mark: Option<(&str, &str)>) -> Result<u64, StorageError>;
    /// Events per name on the days in `[start, end)` (ms, rounded down to whole days).
    async fn event_counts(&self, start: i64, end: i64) -> Result<Vec<(String, i64)>, StorageError>;
    /// Refreshes the planner's statistics of `events` after a bulk load (PostgreSQL: `VACUUM
    /// ANALYZE`, which also sets the visibility map that index-only scans need; SQLite: `ANALYZE`
    /// and a WAL checkpoint, so the load is not copied during some later writer's commit).
    async fn analyze_events(&self) -> Result<(), StorageError>;
    /// Drops (`false`) or creates (`true`) the secondary indexes of `events`, so a bulk load
    /// into an empty table builds each index once, sorted, instead of row by row.
    async fn event_indexes(&self, on: bool) -> Result<(), StorageError>;
    /// Whether any event named `name` was ever recorded.
    async fn event_exists(&self, name: &str) -> Result<bool, StorageError>;
    /// Distinct users and events per UTC day and name for the days in `[start, end)` (ms,
    /// rounded down to whole days).
    async fn daily_counts(&self, start: i64, end: i64) -> Result<Vec<DailyCount>, StorageError>;
    /// Distinct users per UTC day in `[start, end)`.
    async fn daily_active(&self, start: i64, end: i64) -> Result<Vec<(i64, i64)>, StorageError>;
    /// Retention cohorts whose first day is in `[from_day, to_day]` (days since 1970-01-01):
    /// each one's size and how many of its users had an event one and seven days later.
    async fn cohorts(&self, from_day: i64, to_day: i64) -> Result<Vec<Cohort>, StorageError>;
    /// Appends history rows.
    async fn insert_history(&self, rows: &[HistoryRow]) -> Result<(), StorageError>;
    /// History rows of `name` in `[start, end)`, by time.
    async fn history(&self, name: &str, start: i64, end: i64) -> Result<Vec<HistoryRow>, StorageError>;
    /// Deletes history and events older than `before`; returns rows deleted.
    async fn prune_history(&self, before: i64) -> Result<u64, StorageError>;
    /// Claims occurrence `scheduled_for` of `job`; `None` when another runner has it.
    async fn start_run(
        &self,
        job: &str,
        scheduled_for: i64,
        runner: &str,
        now: i64,
    ) -> Result<Option<i64>, StorageError>;
    /// Records how a run ended.
    async fn finish_run(
        &self,
        id: i64,
        status: JobStatus,
        outputs: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError>;
    /// The latest runs of `job` (all jobs when empty), newest first.
    async fn list_runs(&self, job: &str, limit: i64) -> Result<Vec<JobRun>, StorageError>;
    /// Records a draft; `false` when one exists and `replace` is off.
    async fn record_draft(
        &self,
        kind: &str,
        key: &str,
        path: &str,
        now: i64,
        replace: bool,
    ) -> Result<bool, StorageError>;
    /// Whether a draft exists.
    async fn draft_exists(&self, kind: &str, key: &str) -> Result<bool, StorageError>;
}

const DAY: i64 = 86_400_000;

/// `($1, $2), ($3, $4), …`: the values of a multi-row insert of `rows` rows of `cols` columns.
fn placeholders(rows: usize, cols: usize) -> String {
    let row =
        |r: usize| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", "));
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// The secondary indexes of `events`, as the migrations create them.
const EVENT_INDEXES: [(&str, &str); 5] = [
    ("events_name_ts", "name, ts"),
    ("events_ts", "ts"),
    ("events_day_name_user", "day, name, user_id"),
    ("events_day_user", "day, user_id"),
    ("events_user_day", "user_id, day"),
];

#[async_trait]
impl ReportRepo for Storage {
    async fn insert_events_marked(&self, events: &[NewEvent], mark: Option<(&str, &str)>) -> Result<u64, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                let now = chrono::Utc::now().timestamp_millis();
                // Multi-row inserts: 200 rows × 6 parameters per statement.
                for chunk in events.chunks(200) {
                    let sql = format!(
                        "INSERT INTO events (ts, name, user_id, props, received_at, day) VALUES {}",
                        placeholders(chunk.len(), 6)
                    );
                    let mut q = sqlx::query(&sql);
                    for e in chunk {
                        q = q.bind(e.ts).bind(&e.name).bind(&e.user_id).bind(&e.props).bind(now).bind(e.ts.div_euclid(DAY));
                    }
                    q.execute(&mut *tx).await?;
                }
                // Each user's first day, kept at ingest (users in order, so concurrent batches
                // on PostgreSQL lock rows in the same order).
                let mut first: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
                for e in events {
                    let d = e.ts.div_euclid(DAY);
                    first.entry(e.user_id.as_str()).and_modify(|f| *f = (*f).min(d)).or_insert(d);
                }
                let first: Vec<(&str, i64)> = first.into_iter().collect();
                for chunk in first.chunks(400) {
                    let sql = format!(
                        "INSERT INTO event_users (user_id, first_day) VALUES {} ON CONFLICT (user_id) \
                         DO UPDATE SET first_day = excluded.first_day WHERE excluded.first_day < event_users.first_day",
                        placeholders(chunk.len(), 2)
                    );
                    let mut q = sqlx::query(&sql);
                    for (u, d) in chunk {
                        q = q.bind(*u).bind(*d);
                    }
                    q.execute(&mut *tx).await?;
                }
                if let Some((k, v)) = mark {
                    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
                        .bind(k).bind(v).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(events.len() as u64)
            })
        };
        self.run("events.insert", fut).await
    }

    async fn event_counts(&self, start: i64, end: i64) -> Result<Vec<(String, i64)>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(
                    // Grouped in the covering index's order (day, name) first, so no plan sorts
                    // or revisits the rows of the window.
                    "SELECT name, CAST(SUM(n) AS BIGINT) AS n FROM (SELECT day, name, COUNT(*) AS n FROM events WHERE day >= $1 AND day < $2 \
                     GROUP BY day, name) AS d GROUP BY name ORDER BY name",
                )
                    .bind(start.div_euclid(DAY)).bind(end.div_euclid(DAY)).fetch_all(p).await?;
                rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("n")?))).collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("events.counts", fut).await
    }

    async fn analyze_events(&self) -> Result<(), StorageError> {
        let fut = async {
            match self.db() {
                super::Db::Sqlite(p) => {
                    sqlx::query("ANALYZE events").execute(p).await?;
                    // Copy the load out of the WAL now, not during the next writer's commit.
                    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(p).await.map(|_| ())
                }
                super::Db::Postgres(p) => sqlx::query("VACUUM ANALYZE events").execute(p).await.map(|_| ()),
            }
        };
        self.run("events.analyze", fut).await
    }

    async fn event_indexes(&self, on: bool) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                for (name, cols) in EVENT_INDEXES {
                    let sql = if on {
                        format!("CREATE INDEX IF NOT EXISTS {name} ON events ({cols})")
                    } else {
                        format!("DROP INDEX IF EXISTS {name}")
                    };
                    sqlx::query(&sql).execute(p).await?;
                }
                Ok(())
            })
        };
        self.run("events.indexes", fut).await
    }

    async fn event_exists(&self, name: &str) -> Result<bool, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE name = $1 LIMIT 1) AS x")
                .bind(name).fetch_one(p).await.map(|n| n > 0))
        };
        self.run("events.exists", fut).await
    }

    async fn daily_counts(&self, start: i64, end: i64) -> Result<Vec<DailyCount>, StorageError> {
        // Whole days only: the covering index (day, name, user_id) answers it in order.
        let sql = "SELECT day, name, COUNT(DISTINCT user_id) AS users, COUNT(*) AS n FROM events \
                   WHERE day >= $1 AND day < $2 GROUP BY day, name ORDER BY day, name";
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(start.div_euclid(DAY)).bind(end.div_euclid(DAY)).fetch_all(p).await?;
                rows.iter()
                    .map(|r| Ok(DailyCount { day: r.try_get("day")?, name: r.try_get("name")?, users: r.try_get("users")?, events: r.try_get("n")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("events.daily", fut).await
    }

    async fn daily_active(&self, start: i64, end: i64) -> Result<Vec<(i64, i64)>, StorageError> {
        let sql = "SELECT day, COUNT(DISTINCT user_id) AS users FROM events WHERE day >= $1 AND day < $2 \
                   GROUP BY day ORDER BY day";
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(start.div_euclid(DAY)).bind(end.div_euclid(DAY)).fetch_all(p).await?;
                rows.iter().map(|r| Ok((r.try_get("day")?, r.try_get("users")?))).collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("events.dau", fut).await
    }

    async fn cohorts(&self, from_day: i64, to_day: i64) -> Result<Vec<Cohort>, StorageError> {
        // One row per cohort: its users (from event_users) and how many of them were active
        // one and seven days later (index probes into (user_id, day), two per user).
        let sql = "SELECT u.first_day AS day, COUNT(*) AS size, \
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id AND e.day = u.first_day + 1) THEN 1 ELSE 0 END) AS d1, \
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id AND e.day = u.first_day + 7) THEN 1 ELSE 0 END) AS d7 \
                   FROM event_users u WHERE u.first_day >= $1 AND u.first_day <= $2 GROUP BY u.first_day ORDER BY u.first_day";
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(sql).bind(from_day).bind(to_day).fetch_all(p).await?;
                rows.iter()
                    .map(|r| Ok(Cohort { day: r.try_get("day")?, size: r.try_get("size")?, d1: r.try_get("d1")?, d7: r.try_get("d7")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("events.cohorts", fut).await
    }

    async fn insert_history(&self, rows: &[HistoryRow]) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let mut tx = p.begin().await?;
                for r in rows {
                    sqlx::query("INSERT INTO metric_history (name, labels, ts, value) VALUES ($1, $2, $3, $4)")
                        .bind(&r.name).bind(&r.labels).bind(r.ts).bind(r.value).execute(&mut *tx).await?;
                }
                tx.commit().await
            })
        };
        self.run("history.insert", fut).await
    }

    async fn history(&self, name: &str, start: i64, end: i64) -> Result<Vec<HistoryRow>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(
                    "SELECT name, labels, ts, value FROM metric_history WHERE name = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
                )
                .bind(name).bind(start).bind(end).fetch_all(p).await?;
                rows.iter()
                    .map(|r| Ok(HistoryRow { name: r.try_get("name")?, labels: r.try_get("labels")?, ts: r.try_get("ts")?, value: r.try_get("value")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("history.read", fut).await
    }

    async fn prune_history(&self, before: i64) -> Result<u64, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let a = sqlx::query("DELETE FROM metric_history WHERE ts < $1").bind(before).execute(p).await?.rows_affected();
                let b = sqlx::query("DELETE FROM events WHERE ts < $1").bind(before).execute(p).await?.rows_affected();
                Ok(a + b)
            })
        };
        self.run("history.prune", fut).await
    }

    async fn start_run(
        &self,
        job: &str,
        scheduled_for: i64,
        runner: &str,
        now: i64,
    ) -> Result<Option<i64>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query_scalar(
                "INSERT INTO job_runs (job, scheduled_for, started_at, status, runner) VALUES ($1, $2, $3, $5, $4) \
                 ON CONFLICT (job, scheduled_for) DO NOTHING RETURNING id",
            )
            .bind(job).bind(scheduled_for).bind(now).bind(runner).bind(JobStatus::Running.as_str())
            .fetch_optional(p).await)
        };
        self.run("jobs.start", fut).await
    }

    async fn finish_run(
        &self,
        id: i64,
        status: JobStatus,
        outputs: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query(
                "UPDATE job_runs SET status = $1, outputs = $2, error = $3, ended_at = $4 WHERE id = $5",
            )
            .bind(status.as_str()).bind(outputs).bind(error).bind(now).bind(id)
            .execute(p).await.map(|_| ()))
        };
        self.run("jobs.finish", fut).await
    }

    async fn list_runs(&self, job: &str, limit: i64) -> Result<Vec<JobRun>, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => {
                let rows = sqlx::query(
                    "SELECT id, job, scheduled_for, started_at, ended_at, status, runner, outputs, error FROM job_runs \
                     WHERE ($1 = '' OR job = $1) ORDER BY scheduled_for DESC, id DESC LIMIT $2",
                )
                .bind(job).bind(limit).fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(JobRun {
                            id: r.try_get("id")?,
                            job: r.try_get("job")?,
                            scheduled_for: r.try_get("scheduled_for")?,
                            started_at: r.try_get("started_at")?,
                            ended_at: r.try_get("ended_at")?,
                            status: super::status::decode(r.try_get("status")?)?,
                            runner: r.try_get("runner")?,
                            outputs: r.try_get("outputs")?,
                            error: r.try_get("error")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        };
        self.run("jobs.list", fut).await
    }

    async fn record_draft(
        &self,
        kind: &str,
        key: &str,
        path: &str,
        now: i64,
        replace: bool,
    ) -> Result<bool, StorageError> {
        let sql = if replace {
            "INSERT INTO report_drafts (kind, draft_key, created_at, path) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, draft_key) DO UPDATE SET created_at = $3, path = $4"
        } else {
            "INSERT INTO report_drafts (kind, draft_key, created_at, path) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, draft_key) DO NOTHING"
        };
        let fut = async {
            on_pool!(self.db(), p => sqlx::query(sql).bind(kind).bind(key).bind(now).bind(path)
                .execute(p).await.map(|r| r.rows_affected() > 0))
        };
        self.run("drafts.record", fut).await
    }

    async fn draft_exists(&self, kind: &str, key: &str) -> Result<bool, StorageError> {
        let fut = async {
            on_pool!(self.db(), p => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM report_drafts WHERE kind = $1 AND draft_key = $2",
            )
            .bind(kind).bind(key).fetch_one(p).await.map(|n| n > 0))
        };
        self.run("drafts.exists", fut).await
    }
}
