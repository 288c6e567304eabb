//! Readiness follows the database: cut the PostgreSQL connection (through a loopback proxy the
//! test controls — never by stopping the shared server) and `/readyz` turns 503; restore it and
//! `/readyz` is 200 again, without restarting sidewatch.

use crate::common::{Proxy, client, pg_test_db, spawn_app_with_storage};
use std::time::{Duration, Instant};

/// The PostgreSQL server's address in `url` (what the proxy forwards to).
async fn upstream(url: &str) -> std::net::SocketAddr {
    let host = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    tokio::net::lookup_host(host).await.unwrap().next().unwrap()
}

async fn wait_for_status(url: &str, want: u16, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let r = client().get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz stayed {status} ({body}), wanted {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readyz_follows_a_postgres_outage_and_recovery() {
    let Some(db) = pg_test_db("readyz_follows_a_postgres_outage_and_recovery").await else { return };
    let upstream = upstream(&db.url).await;
    let mut proxy = Proxy::start(upstream).await;
    let storage = format!("url = \"{}\"\nconnect_timeout = \"1s\"\nmax_connections = 2", db.url_via(proxy.addr));
    let app = spawn_app_with_storage(&storage, "").await;
    let url = app.url("/readyz");
    wait_for_status(&url, 200, Duration::from_secs(10)).await;

    proxy.stop().await;
    let body = wait_for_status(&url, 503, Duration::from_secs(15)).await;
    assert_eq!(body["failed"][0], "storage");
    assert!(body["checks"]["storage"].as_str().unwrap().starts_with("postgres storage: ping"), "{body}");
    assert_eq!(client().get(app.url("/healthz")).send().await.unwrap().status(), 200);

    proxy.restart().await;
    wait_for_status(&url, 200, Duration::from_secs(15)).await;
    app.stop().await;
}

/// An alert that fires while PostgreSQL is cut off: evaluation goes on (the alert fires in
/// `/api/v1/alerts`), nothing can be queued, and once the connection is back the notification
/// is queued and delivered — nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_fires_during_an_outage_is_delivered_after_it() {
    use crate::common::receivers::Recorder;
    use crate::common::{FakeServer, eventually, spawn_app_in};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let Some(db) = pg_test_db("an_alert_that_fires_during_an_outage_is_delivered_after_it").await else { return };
    let upstream = upstream(&db.url).await;
    let mut proxy = Proxy::start(upstream).await;
    let broken = Arc::new(AtomicU64::new(0));
    let b = broken.clone();
    let svc = FakeServer::start(axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let b = b.clone();
            async move { format!("outage_broken {}\n", b.load(Ordering::SeqCst)) }
        }),
    ))
    .await;
    let hook = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: DuringOutage\n        expr: outage_broken > 0\n",
    )
    .unwrap();
    let storage = format!("url = \"{}\"\nconnect_timeout = \"1s\"\nmax_connections = 2", db.url_via(proxy.addr));
    let extra = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[targets]]\nname = \"svc\"\nmetrics_url = \"{}\"\n\
         [rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\n\
         [notify.route]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\n\
         [[notify.receivers]]\nname = \"hook\"\nwebhook = [{{ url = \"{}\" }}]\n",
        svc.url("/metrics"),
        hook.url("/hook")
    );
    let app = spawn_app_in(dir, &storage, &extra).await;
    wait_for_status(&app.url("/readyz"), 200, Duration::from_secs(10)).await;

    proxy.stop().await;
    wait_for_status(&app.url("/readyz"), 503, Duration::from_secs(15)).await;
    broken.store(1, Ordering::SeqCst);
    eventually(20, "the alert fires while the database is away", || async {
        let v: serde_json::Value = client().get(app.url("/api/v1/alerts")).send().await.ok()?.json().await.ok()?;
        (v["data"]["alerts"][0]["state"] == "firing").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(hook.received().is_empty(), "nothing can be queued, so nothing is sent yet");

    proxy.restart().await;
    wait_for_status(&app.url("/readyz"), 200, Duration::from_secs(15)).await;
    eventually(30, "the notification after recovery", || async { (!hook.received().is_empty()).then_some(()) }).await;
    let n = hook.received()[0].json();
    assert_eq!(
        (n["status"].as_str(), n["alerts"][0]["labels"]["alertname"].as_str()),
        (Some("firing"), Some("DuringOutage"))
    );
    app.stop().await;
}
