//! Notification delivery through the durable outbox (run with `cargo bench --bench notify`):
//! alerts are handed to a running notifier (as the rules do), routed, written to the outbox,
//! claimed by the delivery worker and POSTed to a webhook receiver on loopback. Two figures per
//! storage backend: throughput (a burst of alerts, each its own group, until the receiver has
//! them all) and latency from an alert turning firing to the receiver getting it (alerts one
//! by one, p50/p99), with `group_wait = 0s` — the goal is p99 < 50 ms plus `group_wait`.
//! PostgreSQL runs when `SIDEWATCH_TEST_POSTGRES_URL` is set (a fresh database is made).

use axum::Router;
use axum::extract::State;
use sidewatch::notify::metrics::NotifyMetrics;
use sidewatch::notify::model::ActiveAlert;
use sidewatch::notify::{Notifier, Plan};
use sidewatch::storage::Storage;
use sidewatch::storage::StorageConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let app = Router::new()
        .fallback(|State(s): State<Seen>, body: axum::body::Bytes| async move {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            for a in v["alerts"].as_array().into_iter().flatten() {
                let name = a["labels"]["alertname"].as_str().unwrap_or("").to_string();
                s.lock().unwrap().entry(name).or_insert_with(Instant::now);
            }
            "ok"
        })
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

fn alert(name: &str) -> ActiveAlert {
    ActiveAlert {
        labels: [("alertname".to_string(), name.to_string()), ("severity".to_string(), "critical".to_string())].into(),
        annotations: [("summary".to_string(), format!("{name} fired"))].into(),
        starts_at: chrono::Utc::now().timestamp_millis(),
        ends_at: None,
        value: 42.0,
        flaps: 0,
        generator_url: String::new(),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(label: &str, storage: Storage, dir: &std::path::Path, full: bool) {
    let (url, seen) = receiver().await;
    let text = format!(
        "[notify]\nrate_limit_per_minute = 0\ncooldown = \"0s\"\n[notify.route]\nreceiver = \"r\"\ngroup_wait = \"0s\"\ngroup_interval = \"1m\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{url}\" }}]\n"
    );
    let cfg = sidewatch::settings::load_from_str(&text, None, &[]).unwrap().config;
    let plan = Plan::build(&cfg.notify, dir, "http://bench").unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(plan, storage, NotifyMetrics::unregistered(), rx);

    // Throughput: a burst of N alerts, each its own group.
    let n_burst = if full { 2000 } else { 50 };
    let t0 = Instant::now();
    let alerts: Vec<ActiveAlert> = (0..n_burst).map(|i| alert(&format!("Burst{i}"))).collect();
    n.update("burst".into(), alerts);
    while seen.lock().unwrap().len() < n_burst {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(t0.elapsed() < Duration::from_secs(300), "burst not delivered");
    }
    let burst_s = t0.elapsed().as_secs_f64();

    // Latency: one alert at a time.
    let mut lat = Vec::new();
    let singles = if full { 200 } else { 20 };
    for i in 0..singles {
        let name = format!("Single{i}");
        let sent = Instant::now();
        n.update(format!("single{i}"), vec![alert(&name)]);
        loop {
            if let Some(t) = seen.lock().unwrap().get(&name) {
                lat.push(t.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{label:<10} burst of {n_burst}: {burst_s:>6.2} s = {:>6.0} notifications/s | firing → webhook latency over {singles}: p50 {:>5.1} ms, p99 {:>5.1} ms, max {:>5.1} ms",
        n_burst as f64 / burst_s,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

fn main() {
    // Under `cargo test --all-targets` (no --bench) a small run checks that it works.
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let cfg: StorageConfig = toml::from_str("url = \"sqlite://bench.db\"").unwrap();
        run("sqlite", Storage::connect(&cfg, dir.path()).await.unwrap(), dir.path(), full).await;
        match std::env::var("SIDEWATCH_TEST_POSTGRES_URL") {
            Ok(admin) => {
                use sqlx::Connection;
                let name = format!("sw_bench_{}", uuid::Uuid::new_v4().simple());
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.unwrap();
                let base = admin.rsplit_once('/').unwrap().0;
                let cfg: StorageConfig = toml::from_str(&format!("url = \"{base}/{name}\"")).unwrap();
                let st = Storage::connect(&cfg, dir.path()).await.unwrap();
                run("postgres", st.clone(), dir.path(), full).await;
                st.close().await;
                let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
            }
            Err(_) => println!("postgres   SKIPPED: set SIDEWATCH_TEST_POSTGRES_URL"),
        }
    });
}
