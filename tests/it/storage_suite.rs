//! One storage suite, run against SQLite always and against PostgreSQL when
//! `SIDEWATCH_TEST_POSTGRES_URL` is set (CI sets it; elsewhere the PostgreSQL half says it skipped).

use crate::common::pg_test_db;
use chrono::{Duration, Utc};
use sidewatch::config::SecretUrl;
use sidewatch::storage::StorageConfig;
use sidewatch::storage::{
    AlertChange, AlertRepo, AuditQuery, AuditRepo, Backend, MetaRepo, NewAuditEntry, Storage, StoredAlert,
};
use std::path::Path;

fn cfg(url: &str) -> StorageConfig {
    StorageConfig { url: SecretUrl::new(url), max_connections: 4, ..Default::default() }
}

/// What every backend must do the same way.
async fn suite(storage: &Storage, reopen: impl AsyncFnOnce() -> Storage) {
    // Migrations recorded the schema version.
    let v = storage.get_meta("schema_version").await.unwrap().expect("schema_version set");
    assert!(v.parse::<i64>().unwrap() >= 1, "{v}");
    // Meta values upsert.
    assert_eq!(storage.get_meta("nope").await.unwrap(), None);
    storage.set_meta("k", "one").await.unwrap();
    storage.set_meta("k", "two").await.unwrap();
    assert_eq!(storage.get_meta("k").await.unwrap().as_deref(), Some("two"));
    // Instance id is created once and stays.
    let id = storage.instance_id().await.unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(storage.instance_id().await.unwrap(), id);
    // Audit rows: ids increase, newest first, filters and limits work.
    let before = Utc::now() - Duration::seconds(1);
    let a = storage
        .append_audit(NewAuditEntry {
            actor: "alice",
            action: "silence.add",
            target: "s1",
            detail: "{\"x\":1}",
            request_id: Some("r-1"),
            token_name: "oncall",
            source: "192.0.2.1",
            outcome: "ok",
            status: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    let b = storage.append_audit(NewAuditEntry { actor: "bob", action: "reload", ..Default::default() }).await.unwrap();
    assert!(b > a);
    let all = storage.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, b);
    assert_eq!(all[1].request_id.as_deref(), Some("r-1"));
    assert_eq!(all[1].detail, "{\"x\":1}");
    assert_eq!((all[1].token_name.as_str(), all[1].source.as_str()), ("oncall", "192.0.2.1"));
    assert_eq!((all[1].outcome.as_str(), all[1].status), ("ok", 200));
    let page2 = storage.list_audit(&AuditQuery { limit: 1, offset: 1, ..Default::default() }).await.unwrap();
    assert_eq!(page2.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(storage.count_audit(&AuditQuery::default()).await.unwrap(), 2);
    assert!(all[1].time >= before && all[1].time <= Utc::now());
    let only = storage.list_audit(&AuditQuery { action: Some("reload".into()), ..Default::default() }).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].actor, "bob");
    let limited = storage.list_audit(&AuditQuery { limit: 1, ..Default::default() }).await.unwrap();
    assert_eq!(limited.len(), 1);
    let future = storage
        .list_audit(&AuditQuery { since: Some(Utc::now() + Duration::hours(1)), ..Default::default() })
        .await
        .unwrap();
    assert!(future.is_empty());
    assert!(storage.ping().await.is_ok());
    // Alert state: a group's rows are replaced as a whole; NaN and ±Inf values survive.
    let alert = |fp: &str, state: &str, v: f64| StoredAlert {
        fingerprint: fp.into(),
        group_key: "rules/a.yml;http".into(),
        rule: "High".into(),
        labels: r#"{"alertname":"High","job":"api"}"#.into(),
        annotations: r#"{"summary":"x"}"#.into(),
        state: state.into(),
        active_at: 1_000,
        fired_at: (state == "firing").then_some(2_000),
        resolved_at: None,
        keep_firing_since: None,
        value: v,
        updated_at: 3_000,
        flap_times: "1500,2000".into(),
    };
    storage
        .save_alerts("rules/a.yml;http", &[alert("01", "pending", f64::NAN), alert("02", "firing", f64::INFINITY)])
        .await
        .unwrap();
    storage.save_alerts("rules/a.yml;http", &[alert("02", "firing", 0.25)]).await.unwrap();
    let rows = storage.load_alerts().await.unwrap();
    assert_eq!(rows, vec![alert("02", "firing", 0.25)]);
    storage.save_alerts("rules/a.yml;http", &[alert("03", "pending", f64::NEG_INFINITY)]).await.unwrap();
    assert_eq!(storage.load_alerts().await.unwrap()[0].value, f64::NEG_INFINITY);
    let change = |to: &str, at: i64| AlertChange {
        fingerprint: "02".into(),
        rule: "High".into(),
        labels: "{}".into(),
        from: "pending".into(),
        to: to.into(),
        value: 1.5,
        at,
    };
    storage.append_history(&[change("firing", 10), change("resolved", 20)]).await.unwrap();
    let h = storage.list_history(15, 10).await.unwrap();
    assert_eq!(h, vec![change("resolved", 20)]);
    // Many rows at once are written in several multi-row statements; none is lost or doubled.
    let many: Vec<StoredAlert> = (0..1000).map(|i| alert(&format!("{i:04}"), "firing", f64::from(i))).collect();
    storage.save_alerts("rules/a.yml;http", &many).await.unwrap();
    let mut rows = storage.load_alerts().await.unwrap();
    rows.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    assert_eq!(rows, many);
    // Changed rows only: some written over, some new, some deleted; the others stay.
    let mut changed: Vec<StoredAlert> =
        many[..500].iter().map(|a| StoredAlert { state: "pending".into(), ..a.clone() }).collect();
    changed.push(alert("new", "pending", 1.0));
    let gone: Vec<(String, String)> = many[900..].iter().map(|a| (a.rule.clone(), a.fingerprint.clone())).collect();
    storage.update_alerts("rules/a.yml;http", &changed, &gone).await.unwrap();
    storage.update_alerts("rules/a.yml;http", &[], &[]).await.unwrap();
    let mut want: Vec<StoredAlert> = changed.iter().chain(&many[500..900]).cloned().collect();
    want.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    let mut rows = storage.load_alerts().await.unwrap();
    rows.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    assert_eq!(rows, want);
    storage.save_alerts("rules/a.yml;http", &many[..3]).await.unwrap();
    assert_eq!(storage.load_alerts().await.unwrap().len(), 3);
    let history: Vec<AlertChange> = (0..1000).map(|i| change("firing", 1_000 + i)).collect();
    storage.append_history(&history).await.unwrap();
    storage.append_history(&[]).await.unwrap();
    assert_eq!(storage.list_history(1_000, 5_000).await.unwrap(), history);
    // Reopening runs the migrations again harmlessly and keeps data and instance id.
    let again = reopen().await;
    assert_eq!(again.instance_id().await.unwrap(), id);
    assert_eq!(again.list_audit(&AuditQuery::default()).await.unwrap().len(), 2);
    // After close, calls fail with an error naming the backend and operation.
    storage.close().await;
    let err = storage.ping().await.unwrap_err().to_string();
    assert!(err.contains("storage: ping failed"), "{err}");
}

#[tokio::test]
async fn storage_suite_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite://nested/folder/sw.db";
    let storage = Storage::connect(&cfg(url), dir.path()).await.unwrap();
    assert_eq!(storage.backend(), Backend::Sqlite);
    assert!(dir.path().join("nested/folder/sw.db").exists(), "relative path resolved against the base dir");
    let base = dir.path().to_path_buf();
    suite(&storage, async || Storage::connect(&cfg(url), &base).await.unwrap()).await;
}

#[tokio::test]
async fn storage_suite_sqlite_uses_wal_and_foreign_keys() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::connect(&cfg("sqlite://sw.db"), dir.path()).await.unwrap();
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("sw.db").display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    drop(storage);
}

#[tokio::test]
async fn storage_suite_postgres() {
    let Some(db) = pg_test_db("storage_suite_postgres").await else { return };
    let storage = Storage::connect(&cfg(&db.url), Path::new(".")).await.unwrap();
    assert_eq!(storage.backend(), Backend::Postgres);
    let url = db.url.clone();
    suite(&storage, async || Storage::connect(&cfg(&url), Path::new(".")).await.unwrap()).await;
    eprintln!("storage_suite_postgres: ran against {}", db.url);
}

#[tokio::test]
async fn postgres_replicas_migrate_concurrently() {
    let Some(db) = pg_test_db("postgres_replicas_migrate_concurrently").await else { return };
    let c = cfg(&db.url);
    let (a, b) = tokio::join!(Storage::connect(&c, Path::new(".")), Storage::connect(&c, Path::new(".")));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.instance_id().await.unwrap(), b.instance_id().await.unwrap());
}

#[tokio::test]
async fn bad_urls_fail_without_leaking_the_password() {
    let err =
        Storage::connect(&cfg("postgres://u:s3cret@127.0.0.1:1/db"), Path::new(".")).await.unwrap_err().to_string();
    assert!(!err.contains("s3cret"), "{err}");
    let err = Storage::connect(&cfg("sqlite::memory:"), Path::new(".")).await.unwrap_err().to_string();
    assert!(err.contains("names no file"), "{err}");
}
