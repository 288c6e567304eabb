//! *Event pull sources*: every `interval`, each `[[events.sources]]` query runs read-only
//! against the service's own database with `$1` = the source's watermark (the largest `ts`
//! pulled so far, kept in `meta` as `events_source:<name>`); the rows become events, and the
//! new watermark is stored in the same transaction as the events, so nothing is counted twice
//! and nothing is skipped after a crash.

use crate::reports::EventSource;
use crate::storage::{MetaRepo, NewEvent, ReportRepo, Storage};
use sqlx::Row;
use tokio::sync::watch;

crate::error::message_error! {
    /// Why an event source could not be read.
    pub PullError
}

/// A connection to a source.
pub enum SourceDb {
    /// Read-only SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL (queries run in read-only transactions).
    Postgres(sqlx::PgPool),
}

/// Connects to a source.
pub async fn connect(src: &EventSource) -> Result<SourceDb, PullError> {
    let url = src.url.expose();
    let fail = |e: sqlx::Error| format!("events source {}: cannot connect to {}: {e}", src.name, src.url);
    if let Some(path) = url.strip_prefix("sqlite://") {
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
        Ok(SourceDb::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(fail)?,
        ))
    } else {
        Ok(SourceDb::Postgres(
            sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.map_err(fail)?,
        ))
    }
}

macro_rules! rows_to_events {
    ($rows:expr) => {{
        (|| -> Result<Vec<NewEvent>, sqlx::Error> {
            let mut out = Vec::with_capacity($rows.len());
            for r in &$rows {
                let user_id = match r.try_get::<String, _>("user_id") {
                    Ok(s) => s,
                    Err(_) => r.try_get::<i64, _>("user_id")?.to_string(),
                };
                out.push(NewEvent {
                    ts: r.try_get("ts")?,
                    name: r.try_get("name")?,
                    user_id,
                    props: r.try_get::<Option<String>, _>("props").ok().flatten().unwrap_or_else(|| "{}".into()),
                });
            }
            Ok(out)
        })()
    }};
}

/// Pulls new rows once; returns how many events were added.
pub async fn pull_once(storage: &Storage, db: &SourceDb, src: &EventSource) -> Result<u64, PullError> {
    let key = format!("events_source:{}", src.name);
    let mark: i64 = storage.get_meta(&key).await.map_err(|e| e.to_string())?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let fail = |e: sqlx::Error| format!("events source {}: query failed: {e}", src.name);
    let events = match db {
        SourceDb::Sqlite(p) => {
            let rows = sqlx::query(&src.query).bind(mark).fetch_all(p).await.map_err(fail)?;
            rows_to_events!(rows).map_err(fail)?
        }
        SourceDb::Postgres(p) => {
            let mut tx = p.begin().await.map_err(fail)?;
            sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await.map_err(fail)?;
            let rows = sqlx::query(&src.query).bind(mark).fetch_all(&mut *tx).await.map_err(fail)?;
            tx.rollback().await.map_err(fail)?;
            rows_to_events!(rows).map_err(fail)?
        }
    };
    let Some(max) = events.iter().map(|e| e.ts).max() else { return Ok(0) };
    let v = max.to_string();
    storage.insert_events_marked(&events, Some((&key, &v))).await.map_err(|e| PullError(e.to_string()))
}

/// Polls `src` until `stop`.
pub(crate) async fn run(storage: Storage, src: EventSource, mut stop: watch::Receiver<bool>) {
    let mut db = None;
    loop {
        if db.is_none() {
            match connect(&src).await {
                Ok(d) => db = Some(d),
                Err(e) => tracing::warn!(error = %e, "events source unavailable; retrying"),
            }
        }
        if let Some(d) = &db {
            match pull_once(&storage, d, &src).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(source = %src.name, events = n, "events pulled"),
                Err(e) => tracing::warn!(source = %src.name, error = %e, "events pull failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(src.interval.get()) => {}
            _ = stop.changed() => if *stop.borrow() { return },
        }
    }
}
