//! Readiness follows the database: cut the PostgreSQL connection (through a loopback proxy the
//! test controls — never by stopping the shared server) and `/readyz` turns 503; restore it and
//! `/readyz` is 200 again, without restarting sidewatch.

use crate::common::{Proxy, client, pg_test_db, spawn_app_with_storage};
use std::time::{Duration, Instant};

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
    let upstream = tokio::net::lookup_host(db.url.split('@').nth(1).unwrap().split('/').next().unwrap())
        .await
        .unwrap()
        .next()
        .unwrap();
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
