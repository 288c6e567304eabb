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
[digest.evidence]
min_events = 10
min_llm_calls = 1
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
    let loaded = crate::settings::load_from_str(&text, Some(&file), &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = std::sync::Arc::new(loaded.config.clone());
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
    digest(&storage, settings, dir.path(), addr).await?;
    let _ = stop_tx.send(());
    let _ = task.await;
    println!("\nDone. Next: write a sidewatch.toml (README) and run `sidewatch run` next to your service.");
    Ok(())
}

/// Writes the weekly digest over what just happened (with a few product events of the demo's
/// users, so it has something to count) and prints its headline and where it is.
async fn digest(
    storage: &crate::storage::Storage,
    cfg: std::sync::Arc<crate::settings::Config>,
    dir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    use crate::storage::{NewEvent, ReportRepo};
    let now = chrono::Utc::now().timestamp_millis();
    let mut events = Vec::new();
    for u in 0..24 {
        let user = format!("demo-user-{u}");
        events.push(NewEvent {
            ts: now - 60_000 + u,
            name: "landing_view".into(),
            user_id: user.clone(),
            props: "{}".into(),
        });
        if u % 3 != 0 {
            events.push(NewEvent {
                ts: now - 59_000 + u,
                name: "run_start".into(),
                user_id: user.clone(),
                props: "{}".into(),
            });
            events.push(NewEvent { ts: now - 58_000 + u, name: "llm_call".into(), user_id: user, props: "{}".into() });
        }
    }
    storage.insert_events(&events).await?;
    let ctx = crate::reports::Ctx::new(storage.clone(), cfg, dir);
    let args = crate::reports::digest::DigestArgs { lookback_days: 7, anchor: None, allow_duplicate_anchor: true };
    let (out, _, _) = crate::jobs::run_digest(&ctx, &args).await;
    // The demo's folder goes away when it ends: the digest is kept in a folder of its own.
    let keep = std::env::temp_dir().join("sidewatch-demo-digest");
    let _ = std::fs::remove_dir_all(&keep);
    let written = out.paths.iter().find(|p| p.ends_with(".html")).and_then(|html| {
        let src = std::path::Path::new(html).parent()?;
        copy_dir(src, &keep).ok()?;
        Some(keep.join(std::path::Path::new(html).file_name()?).display().to_string())
    });
    match written {
        Some(html) => {
            println!("\nWeekly digest written over what just happened:");
            let headline = std::fs::read_to_string(html.replace(".html", ".json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|d| d["headline"].as_str().map(String::from))
                .unwrap_or_default();
            println!("  {headline}");
            println!(
                "  {html} (and .md, .json); on a running sidewatch it is in the console: http://{addr}/ops#reports"
            );
        }
        None => println!("\nThe digest was not written: {}", out.error.unwrap_or_default()),
    }
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}
