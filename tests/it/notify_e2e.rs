//! Notifications end to end: a rule fires in a running sidewatch and reaches all five
//! channels' fake servers (webhook, Slack, Telegram Bot API, SMTP, Alertmanager API) with the
//! right content, resolves with the value at resolution, and is listed by `sidewatch alerts
//! history`; a broken channel's rows show `failed` with the error text, and `sidewatch alerts
//! retry` delivers them once the channel is back.

use crate::common::receivers::{FakeTelegram, Recorder, SmtpSink};
use crate::common::{FakeServer, eventually};
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");

const RULES: &str = r#"groups:
  - name: demo
    interval: 1s
    rules:
      - alert: DemoQueueStuck
        expr: demo_queue_depth > 100
        labels:
          severity: critical
        annotations:
          summary: "queue depth {{ $value }} on {{ $labels.job }}"
          runbook_url: docs/runbooks/DemoQueueStuck.md
"#;

const RUNBOOK: &str = "# DemoQueueStuck\n\n## Check first\n\n1. Is the consumer running?\n2. Look at `demo_queue_depth` of $job.\n\n## Mitigate\n\n- restart\n";

/// A target whose queue depth is 250 while `stuck`, else 3.
async fn target(stuck: Arc<AtomicBool>) -> FakeServer {
    FakeServer::start(Router::new().route(
        "/metrics",
        get(move || {
            let v = if stuck.load(Ordering::SeqCst) { 250 } else { 3 };
            async move { format!("# TYPE demo_queue_depth gauge\ndemo_queue_depth {v}\n") }
        }),
    ))
    .await
}

fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    let out = cmd.arg("--config").arg(dir.join("sidewatch.toml")).args(args).output().expect("run sidewatch");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_firing_rule_reaches_all_five_channels_then_resolves() {
    let stuck = Arc::new(AtomicBool::new(true));
    let svc = target(stuck.clone()).await;
    let (hook, slack, am, broken) =
        (Recorder::start().await, Recorder::start().await, Recorder::start().await, Recorder::start().await);
    broken.behaviour.status.store(500, Ordering::SeqCst);
    let tg = FakeTelegram::start().await;
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::create_dir_all(dir.path().join("docs/runbooks")).unwrap();
    std::fs::write(dir.path().join("rules/demo.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("docs/runbooks/DemoQueueStuck.md"), RUNBOOK).unwrap();
    let extra = format!(
        r#"
[[targets]]
name = "demo"
metrics_url = "{metrics}"
interval = "1s"

[rules]
files = ["rules/*.yml"]
external_labels = {{ cluster = "test" }}

[notify]
max_delivery_age = "4s"

[notify.route]
receiver = "oncall"
group_by = ["alertname"]
group_wait = "1s"
group_interval = "1s"
repeat_interval = "1h"

[[notify.receivers]]
name = "oncall"
webhook = [{{ url = "{hook}", hmac_secret = "s3cret-key", headers = {{ Authorization = "Bearer tok-123456" }} }},
           {{ url = "{broken}" }}]
slack = [{{ webhook_url = "{slack}" }}]
telegram = [{{ bot_token = "123:SECRET-TOKEN", chat_id = "-1001", message_thread_id = 9, api_url = "{tg}" }}]
email = [{{ smtp_url = "smtp://127.0.0.1:{smtp}", from = "sidewatch <alerts@example.com>", to = ["a@example.com", "b@example.com"] }}]
alertmanager = [{{ url = "{am}" }}]
"#,
        metrics = svc.url("/metrics"),
        hook = hook.url("/hook"),
        broken = broken.url("/broken"),
        slack = slack.url("/services/T0/B0/XYZ"),
        tg = tg.server.url(""),
        smtp = smtp.port,
        am = am.url(""),
    );
    let extra = extra + &crate::admin_api::admin("");
    let dir_path = dir.path().to_path_buf();
    let app = crate::common::spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;

    // Firing: every channel gets it.
    eventually(20, "webhook, slack, alertmanager, telegram and email got the alert", || async {
        let ok = !hook.received().is_empty()
            && !slack.received().is_empty()
            && !am.received().is_empty()
            && !tg.calls.lock().unwrap().is_empty()
            && !smtp.messages.lock().unwrap().is_empty();
        ok.then_some(())
    })
    .await;
    let w = &hook.received()[0];
    let body = w.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "oncall");
    assert_eq!(body["groupKey"], r#"{}:{alertname="DemoQueueStuck"}"#);
    assert_eq!(body["alerts"][0]["labels"]["cluster"], "test", "external labels");
    assert_eq!(body["alerts"][0]["annotations"]["summary"], "queue depth 250 on demo");
    assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(body["alerts"][0].get("sidewatch").is_none(), "pure Alertmanager payload");
    assert_eq!(body["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(w.headers["authorization"], "Bearer tok-123456");
    let sig = w.headers["x-sidewatch-signature"].to_str().unwrap();
    assert_eq!(sig, sidewatch::notify::registry::webhook_signature(b"s3cret-key", &w.body));

    let s = slack.received()[0].json();
    assert_eq!(s["attachments"][0]["color"], "#c0392b");
    let text = s["attachments"][0]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(text.contains("queue depth 250 on demo") && text.contains("Is the consumer running?"), "{text}");
    // The runbook link is absolute (sidewatch serves it) and `$job` in its steps is the alert's.
    assert!(text.contains("Runbook: http://127.0.0.1:") && text.contains("/runbooks/DemoQueueStuck\n"), "{text}");
    assert!(text.contains("of demo."), "{text}");

    let (path, t) = tg.calls.lock().unwrap()[0].clone();
    assert!(
        path.ends_with("/bot123:SECRET-TOKEN/SendMessage") || path.to_lowercase().ends_with("/sendmessage"),
        "{path}"
    );
    assert_eq!(t["chat_id"], -1001);
    assert_eq!(t["message_thread_id"], 9);
    assert_eq!(t["parse_mode"], "HTML");
    let tt = t["text"].as_str().unwrap();
    assert!(tt.contains("<b>FIRING</b>") && tt.contains("<code>250</code>"), "{tt}");

    let (rcpt, mail) = smtp.messages.lock().unwrap()[0].clone();
    assert_eq!(rcpt.len(), 2);
    assert!(mail.contains("Subject: [FIRING:1] DemoQueueStuck"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");

    let a = am.received()[0].clone();
    assert_eq!(a.path, "/api/v2/alerts");
    let a = a.json();
    assert_eq!(a[0]["labels"]["alertname"], "DemoQueueStuck");
    // Forwarded like Prometheus does: a firing alert expires ahead (now + 4 × max(resend
    // delay, evaluation interval)) and is sent again before then.
    let ends = chrono::DateTime::parse_from_rfc3339(a[0]["endsAt"].as_str().unwrap()).unwrap();
    assert!(ends.timestamp_millis() > chrono::Utc::now().timestamp_millis() + 60_000, "{a}");

    // Resolve: resolved messages carry the value at resolution.
    stuck.store(false, Ordering::SeqCst);
    eventually(20, "resolved notifications", || async {
        let r = hook.received();
        (r.len() >= 2 && !am.received().is_empty() && slack.received().len() >= 2).then_some(())
    })
    .await;
    let body = hook.received()[1].json();
    assert_eq!(body["status"], "resolved");
    assert_ne!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let s = slack.received()[1].json();
    assert_eq!(s["attachments"][0]["color"], "#27ae60");
    assert!(s["attachments"][0]["blocks"][0]["text"]["text"].as_str().unwrap().contains("value at resolution 250"));

    // The broken channel gives up after max_delivery_age with the error text.
    eventually(20, "broken channel rows failed", || async {
        let out = cli(&dir_path, &["alerts", "history", "--status", "failed", "--channel", "webhook"]);
        out.contains("HTTP 500").then_some(())
    })
    .await;
    assert!(broken.seen.load(Ordering::SeqCst) >= 2, "retried before giving up");
    let hist = cli(&dir_path, &["alerts", "history"]);
    assert!(hist.contains("DemoQueueStuck (firing)") && hist.contains("sent"), "{hist}");
    // Paging: page 2 of one row is the second row, as --offset 1 gives it.
    let rows: Vec<&str> = hist.lines().skip(1).collect();
    assert!(rows.len() >= 3, "{hist}");
    let page2 = cli(&dir_path, &["alerts", "history", "--limit", "1", "--page", "2"]);
    assert_eq!(page2.lines().skip(1).collect::<Vec<_>>(), vec![rows[1]], "{page2}");
    let off1 = cli(&dir_path, &["alerts", "history", "--limit", "1", "--offset", "1"]);
    assert_eq!(off1, page2);
    for secret in ["SECRET-TOKEN", "tok-123456", "s3cret-key", "XYZ"] {
        assert!(!hist.contains(secret), "history leaks {secret}: {hist}");
    }

    // The channel comes back; retry delivers what failed, once.
    broken.behaviour.status.store(0, Ordering::SeqCst);
    let out = cli(&dir_path, &["alerts", "retry", "--status", "failed", "--since", "1h"]);
    assert!(out.contains("queued 2 notification(s)") || out.contains("queued 1 notification(s)"), "{out}");
    eventually(10, "retried rows delivered", || async { (!broken.received().is_empty()).then_some(()) }).await;
    eventually(10, "no failed rows left", || async {
        let out = cli(&dir_path, &["alerts", "history", "--status", "failed"]);
        (out.lines().count() == 1).then_some(())
    })
    .await;
    let csv = cli(&dir_path, &["alerts", "export", "--format", "csv", "--since", "1h"]);
    assert!(csv.starts_with("time,alertname,labels,from,to,value,fingerprint\n"));
    assert!(csv.contains("DemoQueueStuck") && csv.contains(",firing,"), "{csv}");
    let api: serde_json::Value = crate::common::client()
        .get(app.url("/api/v1/notifications?status=sent&since=1h"))
        .bearer_auth(crate::admin_api::READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = api["data"]["notifications"].as_array().unwrap();
    assert!(items.iter().any(|n| n["channel"] == "telegram" && n["alerts"] == "DemoQueueStuck"), "{api}");
    assert!(!api.to_string().contains("SECRET-TOKEN"));
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("sidewatch_notifications_total{channel=\"slack\",outcome=\"sent\",receiver=\"oncall\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("sidewatch_notifications_failed_total{channel=\"webhook\"}"));
    app.stop().await;
}
