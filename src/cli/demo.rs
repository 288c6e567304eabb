//! `sidewatch demo`: the whole pipeline in a minute, on loopback, for a newcomer. A fake
//! service exposes request counters; after a calm start it fails 40 % of requests for a while,
//! then recovers. sidewatch scrapes it, a rule turns pending then firing, the notification
//! goes through the outbox to a webhook (a receiver inside the demo that prints what it gets),
//! and the alert resolves and is delivered as resolved. Everything lives in a temporary folder.

use crate::storage::{OutboxFilter, OutboxRepo};
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const RULES: &str = r#"groups:
  - name: demo
    interval: 2s
    rules:
      - alert: DemoHighErrorRate
        expr: sum(rate(demo_requests_total{status="500"}[10s])) / sum(rate(demo_requests_total[10s])) > 0.1
        for: 4s
        labels:
          severity: critical
        annotations:
          summary: "demo service: {{ $value | humanizePercentage }} of requests fail"
"#;

struct Service {
    ok: AtomicU64,
    failed: AtomicU64,
    broken: AtomicBool,
}

fn say(start: Instant, what: &str) {
    println!("[{:>5.1}s] {what}", start.elapsed().as_secs_f64());
}

async fn serve(router: Router) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, router).await });
    addr
}

/// Runs the demo; returns when the resolved notification arrived (or after two minutes).
pub(super) async fn run() -> anyhow::Result<()> {
    let start = Instant::now();
    let svc = Arc::new(Service { ok: AtomicU64::new(0), failed: AtomicU64::new(0), broken: AtomicBool::new(false) });
    let s = svc.clone();
    let metrics = serve(Router::new().route(
        "/metrics",
        get(move || {
            let s = s.clone();
            async move {
                let ok = s.ok.fetch_add(60, Ordering::SeqCst) + 60;
                let failed = if s.broken.load(Ordering::SeqCst) { s.failed.fetch_add(40, Ordering::SeqCst) + 40 } else { s.failed.load(Ordering::SeqCst) };
                format!("# TYPE demo_requests_total counter\ndemo_requests_total{{status=\"200\"}} {ok}\ndemo_requests_total{{status=\"500\"}} {failed}\n")
            }
        }),
    ))
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let hook = serve(Router::new().route(
        "/hook",
        post(move |body: axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.0);
                "ok"
            }
        }),
    ))
    .await;
    // A token for this run only: the admin API is off without one.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("rules"))?;
    std::fs::write(dir.path().join("rules/demo.yml"), RULES)?;
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
[storage]
url = "sqlite://demo.db"
[log]
level = "warn"
format = "pretty"
[[targets]]
name = "demo"
metrics_url = "http://{metrics}/metrics"
interval = "1s"
[rules]
files = ["rules/*.yml"]
[jobs]
baseline = {{ schedule = "" }}
kpi = {{ schedule = "" }}
digest = {{ schedule = "" }}
[notify.route]
receiver = "demo"
group_wait = "1s"
group_interval = "2s"
[[notify.receivers]]
name = "demo"
webhook = [{{ url = "http://{hook}/hook" }}]
[admin]
environment = "DEMO"
write_enabled = true
[[admin.tokens]]
name = "demo"
token = "{token}"
role = "write"
"#
    );
    let file = dir.path().join("sidewatch.toml");
    std::fs::write(&file, &text)?;
    let loaded = crate::config::load_from_str(&text, Some(&file), &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = crate::startup::Application::build(loaded).await?;
    let addr = app.local_addr();
    let storage = app.storage();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));
    say(start, &format!("sidewatch is up on http://{addr} (try /api/v1/alerts, /api/v1/targets, /metrics)"));
    say(start, &format!("it scrapes a demo service at http://{metrics}/metrics every second"));
    say(start, "rule DemoHighErrorRate: 5xx ratio over 10s > 10 % for 4s → webhook receiver 'demo'");
    say(
        start,
        &format!(
            "ops console: http://{addr}/ops (Admin token {token}); API: curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/admin/ops"
        ),
    );
    let client = reqwest::Client::new();
    let mut last_state = String::new();
    let mut broke_at = None;
    let mut healed = false;
    let deadline = start + Duration::from_secs(120);
    loop {
        if broke_at.is_none() && start.elapsed() > Duration::from_secs(8) {
            svc.broken.store(true, Ordering::SeqCst);
            broke_at = Some(Instant::now());
            say(start, "💥 the demo service starts failing 40 % of its requests");
        }
        if let Some(b) = broke_at
            && !healed
            && b.elapsed() > Duration::from_secs(25)
        {
            svc.broken.store(false, Ordering::SeqCst);
            healed = true;
            say(start, "🩹 the demo service recovers");
        }
        let v: serde_json::Value = match client.get(format!("http://{addr}/api/v1/alerts")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let state = v["data"]["alerts"]
            .as_array()
            .and_then(|a| a.first())
            .map(|a| a["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default();
        if state != last_state {
            let shown = match (state.as_str(), last_state.as_str()) {
                ("", "firing") => "resolved",
                ("", _) => "none",
                (s, _) => s,
            };
            say(start, &format!("alert state: {shown}"));
            last_state = state;
        }
        let mut done = false;
        while let Ok(n) = rx.try_recv() {
            let a = &n["alerts"][0];
            say(
                start,
                &format!(
                    "📨 webhook got {} {}: {}",
                    n["status"].as_str().unwrap_or("").to_uppercase(),
                    a["labels"]["alertname"].as_str().unwrap_or(""),
                    a["annotations"]["summary"].as_str().unwrap_or("")
                ),
            );
            done |= n["status"] == "resolved";
        }
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("\nDelivery history (what `sidewatch alerts history` shows):");
    for r in storage.list_outbox(&OutboxFilter::default()).await?.into_iter().rev() {
        println!(
            "  #{} {} ({}) → {}/{}: {} after {} attempt(s)",
            r.id, r.alert_names, r.kind, r.receiver, r.channel, r.status, r.attempts
        );
    }
    let ops: serde_json::Value = client
        .get(format!("http://{addr}/api/v1/admin/alerts?pageSize=5"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await
        .unwrap_or_default();
    println!("The admin API's Alert History (GET /api/v1/admin/alerts) holds {} notification(s).", ops["total"]);
    let _ = stop_tx.send(());
    let _ = task.await;
    println!("\nDone. Next: write a sidewatch.toml (README) and run `sidewatch run` next to your service.");
    Ok(())
}
