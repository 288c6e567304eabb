//! Reports end to end: event ingestion (token, limits, whole-batch validation), the KPI rollup
//! (funnels, `n/a` retention for young cohorts, a drop giving warning/critical counts and one
//! webhook, not two within the cooldown), the digest's evidence gate and duplicate anchors
//! through the CLI (exit 3, 4, then 0 with the flag, Markdown that parses), bad input, and the
//! job lease: two schedulers on one database run each occurrence once (SQLite and PostgreSQL).

use crate::common::cli;
use crate::common::receivers::Recorder;
use crate::common::{client, eventually, spawn_app};
use serde_json::{Value, json};
use sidewatch::reports::{Ctx, date_of, day_of};
use sidewatch::settings::load_from_str;
use sidewatch::storage::{NewEvent, ReportRepo, Storage};
use std::sync::Arc;

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn events_need_the_token_fit_the_limits_and_are_accepted_whole_or_not_at_all() {
    let app = spawn_app("[ingest]\ntoken = \"ingest-secret\"\nmax_batch_items = 3\nmax_body_bytes = \"2KiB\"\n").await;
    let url = app.url("/api/v1/events");
    let post = |body: Value, token: Option<&str>| {
        let mut r = client().post(&url).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let ok = json!([{"ts": "2026-11-20T10:00:00Z", "name": "landing_view", "user_id": "u1"},
                    {"ts": 1_795_000_000, "name": "run_start", "user_id": 7, "props": {"plan": "pro"}}]);
    assert_eq!(post(ok.clone(), None).await.unwrap().status(), 401);
    assert_eq!(post(ok.clone(), Some("wrong")).await.unwrap().status(), 401);
    let too_many = json!([{"ts": 1, "name": "a", "user_id": "u"}, {"ts": 1, "name": "a", "user_id": "u"},
                          {"ts": 1, "name": "a", "user_id": "u"}, {"ts": 1, "name": "a", "user_id": "u"}]);
    let r = post(too_many, Some("ingest-secret")).await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("ingest.max_batch_items (3)"));
    let big = json!([{"ts": 1, "name": "a", "user_id": "u", "props": {"x": "y".repeat(3000)}}]);
    assert_eq!(post(big, Some("ingest-secret")).await.unwrap().status(), 413);
    let bad = json!([{"ts": 1_795_000_000, "name": "a", "user_id": "u"}, {"name": "b", "user_id": "u"}, {"ts": "soon", "name": "c", "user_id": "u"}]);
    let r = post(bad, Some("ingest-secret")).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let idx: Vec<i64> = body["invalid"].as_array().unwrap().iter().map(|e| e["index"].as_i64().unwrap()).collect();
    assert_eq!(idx, [1, 2], "{body}");
    assert_eq!(app.storage.event_counts(0, i64::MAX).await.unwrap().len(), 0, "nothing stored from a rejected batch");
    // NUL characters (PostgreSQL refuses them) and times outside [ingest.earliest, now +
    // ingest.max_ahead] are refused item by item, on both backends alike.
    let hostile = json!([{"ts": 1_795_000_000, "name": "a\u{0}b", "user_id": "u"},
                         {"ts": 1e300, "name": "a", "user_id": "u"},
                         {"ts": 1, "name": "a", "user_id": "u"}]);
    let r = post(hostile, Some("ingest-secret")).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let reasons: Vec<String> =
        body["invalid"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.len(), 3, "{body}");
    assert!(reasons[0].contains("NUL"), "{reasons:?}");
    assert!(reasons[1].contains("ingest.max_ahead") && reasons[2].contains("ingest.earliest"), "{reasons:?}");
    let nul_props = json!([{"ts": 1_795_000_000, "name": "a", "user_id": "u", "props": {"k": "v\u{0}"}}]);
    let r = post(nul_props, Some("ingest-secret")).await.unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    let r = post(ok, Some("ingest-secret")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["data"]["accepted"], 2);
    let counts = app.storage.event_counts(0, i64::MAX).await.unwrap();
    assert_eq!(counts, vec![("landing_view".to_string(), 1), ("run_start".to_string(), 1)]);
    app.stop().await;
}

/// Events for a funnel: `users` landings and `runs` run starts on `day`, plus LLM calls.
fn day_events(day: i64, users: u32, runs: u32) -> Vec<NewEvent> {
    let mut v = Vec::new();
    for u in 0..users {
        let ts = day * DAY + 3_600_000 + u as i64 * 1000;
        v.push(NewEvent { ts, name: "landing_view".into(), user_id: format!("u{u}"), props: "{}".into() });
        if u < runs {
            v.push(NewEvent { ts: ts + 10, name: "run_start".into(), user_id: format!("u{u}"), props: "{}".into() });
            v.push(NewEvent { ts: ts + 20, name: "llm_call".into(), user_id: format!("u{u}"), props: "{}".into() });
        }
    }
    v
}

fn config_text(hook: &str) -> String {
    format!(
        r#"[storage]
url = "sqlite://data/t.db"

[jobs]
baseline = {{ schedule = "" }}
kpi = {{ schedule = "" }}
digest = {{ schedule = "", lookback_days = 7 }}

[kpi]
min_cohort_size = 10
receiver = "pm"
  [[kpi.funnels]]
  name = "Landing -> Run CTR"
  from = "landing_view"
  to = "run_start"
  warn_drop_pct = 20
  crit_drop_pct = 40

[digest.evidence]
min_events = 25
min_llm_calls = 5

[notify.route]
receiver = "pm"
[[notify.receivers]]
name = "pm"
webhook = [{{ url = "{hook}" }}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_drop_digest_gate_duplicates_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Recorder::start().await;
    let text = config_text(&hook.url("/kpi"));
    std::fs::write(dir.path().join("sidewatch.toml"), &text).unwrap();
    let loaded = load_from_str(&text, Some(&dir.path().join("sidewatch.toml")), &[]).unwrap();
    let storage = Storage::connect(&loaded.config.storage, dir.path()).await.unwrap();
    let today = day_of(chrono::Utc::now().timestamp_millis());
    let yesterday = today - 1;

    // A thin week: the gate holds the digest back, says why, writes nothing.
    storage.insert_events(&day_events(yesterday - 20, 5, 1)).await.unwrap();
    let (code, ans, out) = cli(dir.path(), &["report", "digest", "--anchor-date", &date_of(yesterday - 20)]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(ans["status"], "insufficient_evidence");
    assert_eq!(ans["observed"], json!({"events": 7, "llm_calls": 1}));
    assert_eq!(ans["required"], json!({"events": 25, "llm_calls": 5}));
    assert!(!dir.path().join("reports/digests").exists(), "no draft written");

    // Eight steady days (rate 0.5), then a collapse on the latest day (0.1).
    for d in yesterday - 8..yesterday {
        storage.insert_events(&day_events(d, 40, 20)).await.unwrap();
    }
    storage.insert_events(&day_events(yesterday, 40, 4)).await.unwrap();
    // Fifteen new users on the latest day: a cohort too young for D1 and D7.
    let newcomers: Vec<NewEvent> = (0..15)
        .map(|i| NewEvent {
            ts: yesterday * DAY + 7_200_000 + i,
            name: "landing_view".into(),
            user_id: format!("n{i}"),
            props: "{}".into(),
        })
        .collect();
    storage.insert_events(&newcomers).await.unwrap();
    let (code, ans, out) = cli(dir.path(), &["report", "kpi"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(ans["alerts"], json!({"warning": 0, "critical": 1}), "{out}");
    let kpi: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("reports/kpi/{}.json", date_of(yesterday)))).unwrap(),
    )
    .unwrap();
    assert!(kpi["funnels"][0]["latest"].as_f64().unwrap() < 0.1, "{}", kpi["funnels"][0]);
    assert_eq!(kpi["funnels"][0]["avg7"], 0.5);
    assert_eq!(kpi["funnels"][0]["severity"], "critical");
    let cohorts = kpi["retention"]["cohorts"].as_array().unwrap();
    let young = cohorts.iter().find(|c| c["cohort"] == date_of(yesterday)).expect("cohort of the latest day");
    assert_eq!(
        (young["size"].as_i64(), &young["d1"], &young["d7"]),
        (Some(15), &json!("n/a"), &json!("n/a")),
        "{young}"
    );
    let mature = cohorts.iter().find(|c| c["cohort"] == date_of(yesterday - 8)).expect("a mature cohort");
    assert_eq!((&mature["d1"], &mature["d7"]), (&json!(1.0), &json!(1.0)), "{mature}");
    assert!(hook.received().len() == 1, "one KPI webhook");
    assert!(
        hook.received()[0].json()["alerts"][0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("Landing -> Run CTR")
    );
    // Again within the cooldown: counted, but no second webhook.
    let (code, ans, _) = cli(dir.path(), &["report", "kpi"]);
    assert_eq!((code, ans["alerts"]["critical"].as_i64()), (0, Some(1)));
    assert_eq!(hook.received().len(), 1, "identical KPI alert suppressed by the cooldown");

    // A full week: written, Markdown parses; the same anchor again is refused, then allowed.
    let (code, ans, out) = cli(dir.path(), &["report", "digest", "--print-markdown"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(ans["status"], "written");
    let md = std::fs::read_to_string(dir.path().join(format!("reports/digests/{}.md", date_of(today)))).unwrap();
    assert!(out.contains("# Weekly digest"), "--print-markdown prints it");
    let mut headings = 0;
    let mut tables = 0;
    for ev in pulldown_cmark::Parser::new_ext(&md, pulldown_cmark::Options::ENABLE_TABLES) {
        match ev {
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Heading { .. }) => headings += 1,
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Table(_)) => tables += 1,
            _ => {}
        }
    }
    assert!(headings >= 8 && tables >= 3, "headings {headings}, tables {tables}:\n{md}");
    assert!(!md.contains("{{") && !md.contains("[object"), "{md}");
    assert!(dir.path().join(format!("reports/digests/{}/daily_active_users.svg", date_of(today))).exists());
    let (code, ans, _) = cli(dir.path(), &["report", "digest"]);
    assert_eq!((code, ans["status"].as_str()), (4, Some("duplicate_anchor")));
    let (code, _, _) = cli(dir.path(), &["report", "digest", "--allow-duplicate-anchor"]);
    assert_eq!(code, 0);

    // Bad input: clear errors, recorded as failed runs, nothing written.
    let (code, _, out) = cli(dir.path(), &["report", "digest", "--anchor-date", &date_of(today + 3)]);
    assert_eq!(code, 1);
    assert!(out.contains("is in the future"), "{out}");
    let (code, _, out) = cli(dir.path(), &["report", "digest", "--lookback-days", "0"]);
    assert!(code == 1 && out.contains("--lookback-days must be at least 1"), "{out}");
    let runs = storage.list_runs("digest", 50).await.unwrap();
    assert!(runs.iter().any(|r| r.status == "failed" && r.error.as_deref().unwrap_or("").contains("future")));
    assert!(runs.iter().any(|r| r.status == "held" && r.error.as_deref() == Some("insufficient_evidence")));
}

async fn two_schedulers_one_database(storage_toml: &str, a: Storage, b: Storage) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\n{storage_toml}\n[jobs]\nbaseline = {{ schedule = \"* * * * * *\", windows = 2, window_minutes = 1 }}\nkpi = {{ schedule = \"*/2 * * * * *\" }}\ndigest = {{ schedule = \"*/2 * * * * *\" }}\n"
    );
    let cfg = Arc::new(load_from_str(&text, None, &[]).unwrap().config);
    let (tx, rx) = tokio::sync::watch::channel(false);
    for (i, st) in [a.clone(), b].into_iter().enumerate() {
        let s = sidewatch::jobs::Scheduler {
            storage: st,
            cfg: cfg.clone(),
            base_dir: dir.path().to_path_buf(),
            runner: format!("replica-{i}"),
        };
        tokio::spawn(s.run(rx.clone()));
    }
    let runs = eventually(20, "four occurrences ran", || async {
        let r = a.list_runs("baseline", 100).await.unwrap();
        (r.iter().filter(|r| r.status == "ok").count() >= 4).then_some(r)
    })
    .await;
    let _ = tx.send(true);
    let mut seen = std::collections::HashSet::new();
    for r in &runs {
        assert!(seen.insert(r.scheduled_for), "occurrence {} ran twice", r.scheduled_for);
        assert_eq!(r.scheduled_for % 1000, 0, "occurrences are whole cron seconds");
    }
    assert!(dir.path().join("reports/baseline/baseline_latest.json").exists());
    // The KPI rollup and the digest ran from cron too (the digest held back: no evidence).
    let all = a.list_runs("", 200).await.unwrap();
    assert!(all.iter().any(|r| r.job == "kpi" && r.status == "ok"), "{all:?}");
    assert!(
        all.iter()
            .any(|r| r.job == "digest" && r.status == "held" && r.error.as_deref() == Some("insufficient_evidence"))
    );
    let _ = Ctx::new(a, cfg, dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_sqlite_run_each_occurrence_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg: sidewatch::storage::StorageConfig = toml::from_str("url = \"sqlite://data/j.db\"").unwrap();
    let (a, b) = (Storage::connect(&cfg, dir.path()).await.unwrap(), Storage::connect(&cfg, dir.path()).await.unwrap());
    two_schedulers_one_database("url = \"sqlite://data/j.db\"", a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_postgres_run_each_occurrence_once() {
    let Some(db) = crate::common::pg_test_db("two_schedulers_on_postgres_run_each_occurrence_once").await else {
        return;
    };
    let cfg: sidewatch::storage::StorageConfig = toml::from_str(&format!("url = \"{}\"", db.url)).unwrap();
    let a = Storage::connect(&cfg, std::path::Path::new(".")).await.unwrap();
    let b = Storage::connect(&cfg, std::path::Path::new(".")).await.unwrap();
    two_schedulers_one_database(&format!("url = \"{}\"", db.url), a, b).await;
}

#[tokio::test]
async fn the_history_writer_records_series_for_reports() {
    let app =
        spawn_app("[history]\ninterval = \"1s\"\n[[history.series]]\nname = \"answer\"\nexpr = \"vector(42)\"\n").await;
    let rows = eventually(10, "history rows", || async {
        let r = app.storage.history("answer", 0, i64::MAX).await.unwrap();
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_eq!(rows[0].value, 42.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_note_recovery_check_and_an_unknown_funnel_event() {
    use sidewatch::storage::{AlertRepo, HistoryRow, StoredAlert};
    let dir = tempfile::tempdir().unwrap();
    let text = "[storage]\nurl = \"sqlite://data/t.db\"\n[jobs]\nbaseline = { schedule = \"\" }\nkpi = { schedule = \"\" }\ndigest = { schedule = \"\" }\n[recovery]\nstable_for = \"15m\"\np95_target_seconds = 0.5\n";
    std::fs::write(dir.path().join("sidewatch.toml"), text).unwrap();
    std::fs::create_dir_all(dir.path().join("docs/runbooks")).unwrap();
    std::fs::write(
        dir.path().join("docs/runbooks/QueueStuck.md"),
        "# QueueStuck\n\n## Check first\n\n1. look\n\n## Mitigate\n\n- Restart the consumer.\n- Scale out.\n",
    )
    .unwrap();
    let loaded = load_from_str(text, Some(&dir.path().join("sidewatch.toml")), &[]).unwrap();
    let st = Storage::connect(&loaded.config.storage, dir.path()).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    st.save_alerts(
        "r.yml;g",
        &[StoredAlert {
            fingerprint: "00000000000000aa".into(),
            group_key: "r.yml;g".into(),
            rule: "QueueStuck".into(),
            labels: r#"{"alertname":"QueueStuck","queue":"jobs"}"#.into(),
            annotations: r#"{"summary":"queue jobs not draining","description":"jobs wait; users see stale results"}"#
                .into(),
            state: "firing".into(),
            active_at: now - 600_000,
            fired_at: Some(now - 300_000),
            resolved_at: None,
            keep_firing_since: None,
            value: 812.0,
            updated_at: now,
            flap_times: String::new(),
        }],
    )
    .await
    .unwrap();
    let (code, ans, out) = cli(dir.path(), &["report", "incident", "--alert", "QueueStuck"]);
    assert_eq!(code, 0, "{out}");
    let note = &ans["incident"];
    assert_eq!(note["impact"], "jobs wait; users see stale results");
    assert_eq!(note["symptom"], "queue jobs not draining (value 812)");
    assert_eq!(note["mitigation"], json!(["Restart the consumer.", "Scale out."]));
    for k in ["time_utc", "next_update_eta"] {
        assert!(note[k].as_str().unwrap().ends_with('Z'), "{k}");
    }
    let (code, _, out) = cli(dir.path(), &["report", "incident", "--alert", "Nope"]);
    assert!(code == 1 && out.contains("no alert named"), "{out}");

    // Recovery: ready for 20 minutes, errors back to baseline, p95 fine, but the queue still grows.
    let mut rows = Vec::new();
    for m in 0..20 * 60 {
        let ts = now - m * 60_000;
        rows.push(HistoryRow { name: "error_ratio".into(), labels: "{}".into(), ts, value: 0.01 });
        if m < 20 {
            rows.push(HistoryRow { name: "ready".into(), labels: "{}".into(), ts, value: 1.0 });
            rows.push(HistoryRow { name: "latency_p95".into(), labels: "{}".into(), ts, value: 0.2 });
            rows.push(HistoryRow {
                name: "queue_depth".into(),
                labels: "{}".into(),
                ts,
                value: 1000.0 - m as f64 * 10.0,
            });
        }
    }
    st.insert_history(&rows).await.unwrap();
    let (code, ans, out) = cli(dir.path(), &["report", "recovery"]);
    assert_eq!(code, 3, "{out}");
    let status =
        |name: &str| ans["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).unwrap()["status"].clone();
    assert_eq!(status("readiness stable"), "pass");
    assert_eq!(status("5xx ratio back to baseline"), "pass");
    assert_eq!(status("p95 under target"), "pass");
    assert_eq!(status("queue depth not rising"), "fail");
    assert_eq!(status("retries normal"), "n/a");

    // A funnel naming an event nobody sends is a clear error, and the run is recorded failed.
    std::fs::write(
        dir.path().join("bad.toml"),
        format!("{text}[[kpi.funnels]]\nname = \"x\"\nfrom = \"landing_view\"\nto = \"nope\"\n"),
    )
    .unwrap();
    st.insert_events(&day_events(day_of(now) - 1, 3, 1)).await.unwrap();
    let (code, _, out) = cli(dir.path(), &["--config", "bad.toml", "report", "kpi"]);
    assert!(code == 1 && out.contains("no event named \"nope\""), "{out}");
    assert_eq!(st.list_runs("kpi", 5).await.unwrap()[0].status, "failed");
}

#[tokio::test]
async fn a_pull_source_is_read_with_a_watermark_and_never_counted_twice() {
    use sidewatch::jobs::events_pull;
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("app.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", src_path.display())).await.unwrap();
    sqlx::query("CREATE TABLE product_events (created_ms INTEGER, event TEXT, uid INTEGER)")
        .execute(&mut c)
        .await
        .unwrap();
    for i in 0..5 {
        sqlx::query("INSERT INTO product_events VALUES ($1, 'landing_view', $2)")
            .bind(1_000 + i)
            .bind(i)
            .execute(&mut c)
            .await
            .unwrap();
    }
    let st = crate::notify_delivery::sqlite(dir.path()).await;
    let src: sidewatch::reports::EventSource = toml::from_str(&format!(
        "name = \"app\"\nurl = \"sqlite://{}\"\nquery = \"SELECT created_ms AS ts, event AS name, uid AS user_id FROM product_events WHERE created_ms > $1 ORDER BY created_ms LIMIT 3\"\n",
        src_path.display()
    ))
    .unwrap();
    let db = events_pull::connect(&src).await.unwrap();
    assert_eq!(events_pull::pull_once(&st, &db, &src).await.unwrap(), 3, "a limited batch");
    assert_eq!(events_pull::pull_once(&st, &db, &src).await.unwrap(), 2, "the rest, from the watermark");
    assert_eq!(events_pull::pull_once(&st, &db, &src).await.unwrap(), 0, "nothing twice");
    sqlx::query("INSERT INTO product_events VALUES (2000, 'run_start', 3)").execute(&mut c).await.unwrap();
    assert_eq!(events_pull::pull_once(&st, &db, &src).await.unwrap(), 1);
    let counts = st.event_counts(0, i64::MAX).await.unwrap();
    assert_eq!(counts, vec![("landing_view".to_string(), 5), ("run_start".to_string(), 1)]);
    // The source is opened read-only.
    if let events_pull::SourceDb::Sqlite(p) = &db {
        assert!(sqlx::query("DELETE FROM product_events").execute(p).await.is_err());
    }
}

/// Cohorts come from each user's first day, kept at ingest — also when an earlier event
/// arrives late and moves a user to an older cohort.
async fn cohorts_follow_first_days(st: Storage) {
    let ev = |user: &str, day: i64| NewEvent {
        ts: day * DAY + 3_600_000,
        name: "landing_view".into(),
        user_id: user.into(),
        props: "{}".into(),
    };
    st.insert_events(&[ev("a", 10), ev("b", 10), ev("a", 11), ev("c", 11), ev("b", 17)]).await.unwrap();
    let c: Vec<(i64, i64, i64, i64)> =
        st.cohorts(0, 100).await.unwrap().iter().map(|c| (c.day, c.size, c.d1, c.d7)).collect();
    assert_eq!(c, vec![(10, 2, 1, 1), (11, 1, 0, 0)]);
    // c's event of day 9 arrives late: c now belongs to day 9's cohort and was back on day 10.
    st.insert_events(&[ev("c", 9), ev("c", 10)]).await.unwrap();
    let c: Vec<(i64, i64, i64, i64)> =
        st.cohorts(0, 100).await.unwrap().iter().map(|c| (c.day, c.size, c.d1, c.d7)).collect();
    assert_eq!(c, vec![(9, 1, 1, 0), (10, 2, 1, 1)]);
    assert_eq!(st.cohorts(10, 10).await.unwrap().len(), 1, "only cohorts in the range");
}

#[tokio::test]
async fn cohorts_follow_first_days_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    cohorts_follow_first_days(crate::notify_delivery::sqlite(dir.path()).await).await;
}

#[tokio::test]
async fn cohorts_follow_first_days_on_postgres() {
    let Some(db) = crate::common::pg_test_db("cohorts_follow_first_days_on_postgres").await else {
        return;
    };
    let cfg: sidewatch::storage::StorageConfig = toml::from_str(&format!("url = \"{}\"", db.url)).unwrap();
    cohorts_follow_first_days(Storage::connect(&cfg, std::path::Path::new(".")).await.unwrap()).await;
}

#[tokio::test]
async fn the_generator_rebuilds_the_event_indexes_after_a_bulk_load() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let st = crate::notify_delivery::sqlite(dir.path()).await;
    let end_day = day_of(chrono::Utc::now().timestamp_millis()) - 1;
    let spec = sidewatch::reports::seed::SeedSpec { events: 3_000, users: 200, days: 10, end_day, seed: 1 };
    let n = sidewatch::reports::seed::seed(&st, &spec, |_| {}).await.unwrap();
    assert!(n >= 3_000);
    let url = format!("sqlite://{}", dir.path().join("data/t.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(names, ["events_day_name_user", "events_day_user", "events_name_ts", "events_ts", "events_user_day"]);
    let cohorts = st.cohorts(end_day - 30, end_day).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT user_id) FROM events").fetch_one(&mut c).await.unwrap();
    assert!(users > 150);
    assert_eq!(cohorts.iter().map(|c| c.size).sum::<i64>(), users, "every generated user is in a cohort");
}
