//! The weekly digest as a lead gets it: an alert that fired and resolved three times is three
//! incidents with numeric MTTR; one firing on 50 series is one group of 50 showing the label
//! that differs; a still-firing one counts with its duration so far; SEV from severity; the
//! one-sentence headline and number formats; the HTML beside the Markdown; delivery through
//! the outbox to a fake SMTP server (HTML with inline PNG charts and a plain part) and a
//! webhook sink (the digest JSON); the notice of a held digest; `report seed` writing exactly N.

use crate::common::cli;
use crate::common::receivers::{Recorder, SmtpSink};
use serde_json::Value;
use sidewatch::storage::{
    AlertChange, AlertRepo, Attempt, NewEvent, NewOutboxRow, OutboxRepo, OutboxStatus, ReportRepo, Storage,
};

const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;

fn config(hook: &str, smtp: u16, notify_held: bool) -> String {
    format!(
        r#"[storage]
url = "sqlite://data/t.db"
[jobs]
baseline = {{ schedule = "" }}
kpi = {{ schedule = "" }}
digest = {{ schedule = "", lookback_days = 7 }}
[kpi]
min_cohort_size = 10
  [[kpi.funnels]]
  name = "Landing -> Run CTR"
  from = "landing_view"
  to = "run_start"
  warn_drop_pct = 20
  crit_drop_pct = 40
[digest]
receivers = ["leads"]
notify_held = {notify_held}
[digest.evidence]
min_events = 25
min_llm_calls = 5
[notify.route]
receiver = "leads"
[[notify.receivers]]
name = "leads"
webhook = [{{ url = "{hook}" }}]
email = [{{ smtp_url = "smtp://127.0.0.1:{smtp}", from = "sidewatch@example.com", to = ["lead@example.com"] }}]
"#
    )
}

fn change(fp: &str, labels: &str, from: &str, to: &str, at: i64) -> AlertChange {
    let rule = serde_json::from_str::<Value>(labels).unwrap()["alertname"].as_str().unwrap().to_string();
    AlertChange {
        fingerprint: fp.into(),
        rule,
        labels: labels.into(),
        from: from.into(),
        to: to.into(),
        value: 1.0,
        at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_incidents_reads_right_and_reaches_the_leads() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Recorder::start().await;
    let smtp = SmtpSink::start().await;
    let text = config(&hook.url("/digest"), smtp.port, false);
    std::fs::write(dir.path().join("sidewatch.toml"), &text).unwrap();
    let loaded = sidewatch::settings::load_from_str(&text, Some(&dir.path().join("sidewatch.toml")), &[]).unwrap();
    let storage = Storage::connect(&loaded.config.storage, dir.path()).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = now - 3 * DAY;

    // Three cycles of one alert; 50 series of another, once; one still firing.
    let a = r#"{"alertname":"CheckoutErrors","severity":"critical","job":"api"}"#;
    let mut changes = Vec::new();
    for k in 0..3 {
        let at = t0 + k * 6 * 3_600_000;
        changes.push(change("a1", a, "inactive", "pending", at));
        changes.push(change("a1", a, "pending", "firing", at + 2 * MIN));
        changes.push(change("a1", a, "firing", "resolved", at + (12 + k) * MIN));
    }
    for i in 0..50 {
        let l = format!(r#"{{"alertname":"DiskFull","severity":"warning","instance":"db-{i}"}}"#);
        changes.push(change(&format!("d{i}"), &l, "inactive", "firing", t0 + DAY + i));
        changes.push(change(&format!("d{i}"), &l, "firing", "resolved", t0 + DAY + 30 * MIN + i));
    }
    let q = r#"{"alertname":"QueueStuck","severity":"page-me"}"#;
    changes.push(change("q1", q, "inactive", "pending", now - 2 * 3_600_000));
    changes.push(change("q1", q, "pending", "firing", now - 2 * 3_600_000 + MIN));
    changes.sort_by_key(|c| c.at);
    storage.append_history(&changes).await.unwrap();
    // Each CheckoutErrors cycle reached the on-call 3 minutes after it went pending.
    for k in 0..3 {
        let at = t0 + k * 6 * 3_600_000 + 3 * MIN;
        let row = NewOutboxRow {
            receiver: "oncall".into(),
            channel: "slack".into(),
            target: "oncall/slack/0".into(),
            group_key: "g".into(),
            alert_names: "CheckoutErrors".into(),
            kind: "firing".into(),
            payload: "{}".into(),
            payload_hash: format!("h{k}"),
            status: OutboxStatus::Pending,
            error_text: None,
            expires_at: at + DAY,
            created_at: at,
        };
        let id = storage.enqueue(&[row]).await.unwrap()[0];
        storage.finish(id, &Attempt::Sent { http_status: Some(200), at }).await.unwrap();
    }
    // A week of product events: ~1,500 users a day, the funnel and LLM calls.
    let mut events = Vec::new();
    for d in 0..14 {
        let day = (now / DAY - 13 + d) * DAY + 3_600_000;
        let users = if d < 7 { 1_300 } else { 1_500 };
        for u in 0..users {
            let user = format!("u{u}");
            events.push(NewEvent {
                ts: day + u,
                name: "landing_view".into(),
                user_id: user.clone(),
                props: "{}".into(),
            });
            if u % 2 == 0 {
                events.push(NewEvent {
                    ts: day + u + 1,
                    name: "run_start".into(),
                    user_id: user.clone(),
                    props: "{}".into(),
                });
            }
            if u % 100 == 0 {
                events.push(NewEvent { ts: day + u + 2, name: "llm_call".into(), user_id: user, props: "{}".into() });
            }
        }
    }
    storage.insert_events(&events).await.unwrap();

    let (code, ans, out) = cli(dir.path(), &["report", "digest"]);
    assert_eq!(code, 0, "{out}");
    let json_path = ans["paths"][0].as_str().unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let incidents = doc["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 54, "3 cycles + 50 series + 1 still firing");
    let checkout: Vec<&Value> = incidents.iter().filter(|i| i["alert"] == "CheckoutErrors").collect();
    assert_eq!(checkout.len(), 3);
    let mttrs: Vec<i64> = checkout.iter().map(|i| i["mttr_seconds"].as_i64().expect("numeric MTTR")).collect();
    assert_eq!(mttrs, vec![600, 660, 720]);
    assert!(checkout.iter().all(|i| i["sev"] == "SEV-1" && i["resolved_at"].is_string()));
    assert!(checkout.iter().all(|i| i["mttd_seconds"] == 180), "pending → first delivered notification");
    assert_eq!(doc["mttd_median_seconds"], 180);
    let stuck = incidents.iter().find(|i| i["alert"] == "QueueStuck").unwrap();
    assert_eq!((stuck["still_firing"].as_bool(), stuck["mttr_seconds"].is_null()), (Some(true), true));
    assert!(stuck["duration_seconds"].as_i64().unwrap() >= 7_000, "{stuck}");
    assert_eq!(stuck["sev"], "SEV-3", "an unmapped severity takes digest.sev_default");
    let groups = doc["incident_groups"].as_array().unwrap();
    assert_eq!(groups[0]["alert"], "CheckoutErrors", "SEV-1 first");
    let disk = groups.iter().find(|g| g["alert"] == "DiskFull").unwrap();
    assert_eq!((disk["count"].as_u64(), disk["sev"].as_str()), (Some(50), Some("SEV-3")));
    assert_eq!(disk["labels"], serde_json::json!(["instance"]), "only the label that differs");
    assert_eq!(doc["noisiest_alerts"][0], serde_json::json!({"alert": "DiskFull", "fired": 50}));
    assert_eq!(doc["mttr_median_seconds"], 1800);

    // The headline and the Markdown read as a lead expects.
    let headline = doc["headline"].as_str().unwrap();
    assert!(headline.starts_with("54 incidents (3 SEV-1, 51 SEV-3), median MTTR 30m 0s"), "{headline}");
    assert!(headline.contains("DAU 1,500 (▲ 15.4% week over week)"), "{headline}");
    assert!(!headline.contains("worst KPI move"), "no KPI moved: {headline}");
    let md = std::fs::read_to_string(ans["paths"][1].as_str().unwrap()).unwrap();
    assert!(md.contains("| 1,500 |") && md.contains("50.0%"), "{md}");
    assert!(md.contains("### DiskFull — SEV-3, 50 incident(s), median MTTR 30m 0s") && md.contains("| db-7 |"), "{md}");
    assert!(md.contains("…and 40 more") && !md.contains("| db-49 |"), "a group lists 10 rows: {md}");
    assert!(md.contains("| 3m 0s | 10m 0s |"), "MTTD and MTTR: {md}");
    assert!(md.contains("still firing ("), "{md}");
    assert!(md.contains("not shown: no `error_ratio` history series"), "{md}");
    assert!(!md.contains("n/a%") && !md.contains("-1.0") && !md.contains("0.5000"), "{md}");
    eprintln!("{md}");
    let html = std::fs::read_to_string(ans["paths"][2].as_str().unwrap()).unwrap();
    if let Ok(keep) = std::env::var("SIDEWATCH_KEEP_DIGEST") {
        // For docs/REPORTS.md: the test week's digest, its HTML and charts.
        let src = std::path::Path::new(json_path).parent().unwrap();
        let _ = std::process::Command::new("cp").arg("-r").arg(src).arg(&keep).status();
    }
    assert!(html.contains("<h1>Weekly digest") && html.contains("<img src=\"") && html.contains(".svg\""), "{html}");

    // Delivered: the webhook got the digest JSON, the lead an HTML mail with the charts inline.
    let got = hook.received();
    assert_eq!(got.len(), 1, "one webhook delivery");
    assert_eq!(got[0].json()["headline"], headline);
    let mails = smtp.messages.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0].1;
    assert!(mail.contains("Subject: Weekly digest"), "{mail}");
    assert!(mail.contains("multipart/alternative") && mail.contains("multipart/related"), "{mail}");
    assert!(
        mail.contains("Content-Type: image/png") && mail.contains("Content-ID: <chart-daily_active_users>"),
        "{mail}"
    );
    assert!(mail.contains("cid:chart-daily_active_users"));
    // The post-incident pack for the alert that fired three times.
    let (code, ans, out) = cli(dir.path(), &["report", "postmortem", "--alert", "CheckoutErrors", "--since", "7d"]);
    assert_eq!(code, 0, "{out}");
    let pm = std::fs::read_to_string(ans["paths"][1].as_str().unwrap()).unwrap();
    assert!(pm.starts_with("# Incident report — CheckoutErrors (SEV-1)"), "{pm}");
    assert!(pm.contains("## Impact") && pm.contains("## Root cause") && pm.contains("## Preventive actions"), "{pm}");
    assert!(pm.contains("pending → firing") && pm.contains("firing → resolved"), "{pm}");
    assert!(pm.contains("firing notification sent via oncall/slack"), "{pm}");
    assert!(pm.contains("| 10m 0s |") && pm.contains("| 3m 0s |"), "{pm}");
    let csv = std::fs::read_to_string(ans["paths"][2].as_str().unwrap()).unwrap();
    assert_eq!(csv.lines().count(), 1 + 9 + 3, "header, 9 state changes, 3 deliveries:\n{csv}");
    assert!(std::path::Path::new(ans["paths"][3].as_str().unwrap()).exists(), "the trend chart");
    let (code, _, out) = cli(dir.path(), &["report", "postmortem", "--alert", "NeverFired"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not fire in the last 7d"), "{out}");
    let history = cli(dir.path(), &["alerts", "history", "--since", "1h"]).2;
    assert!(
        history.contains("WeeklyDigest (digest)") && history.contains("sent"),
        "recorded like any notification: {history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_digest_is_announced_and_seed_writes_exactly_n() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Recorder::start().await;
    let smtp = SmtpSink::start().await;
    std::fs::write(dir.path().join("sidewatch.toml"), config(&hook.url("/digest"), smtp.port, true)).unwrap();
    let (code, ans, out) = cli(dir.path(), &["report", "digest"]);
    assert_eq!((code, ans["status"].as_str()), (3, Some("insufficient_evidence")), "{out}");
    let got = hook.received();
    assert_eq!(got.len(), 1, "the held notice went out");
    assert_eq!(got[0].json()["observed"]["events"], 0);
    assert_eq!(got[0].json()["required"]["events"], 25);
    let mails = smtp.messages.lock().unwrap().clone();
    assert!(mails[0].1.contains("held") && mails[0].1.contains("25 and 5 required"), "{}", mails[0].1);

    let (code, _, out) = cli(dir.path(), &["report", "seed", "--events", "20000", "--users", "500", "--days", "7"]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(dir.path().join("sidewatch.toml")).unwrap();
    let loaded = sidewatch::settings::load_from_str(&text, Some(&dir.path().join("sidewatch.toml")), &[]).unwrap();
    let storage = Storage::connect(&loaded.config.storage, dir.path()).await.unwrap();
    let total: i64 = storage.event_counts(0, i64::MAX).await.unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(total, 20_000);
}
