//! The sidecar's own HTTP surface: liveness, readiness (also with storage gone), self
//! metrics, request ids, 404 and 413.

use crate::common::{client, spawn_app};
use std::collections::HashMap;

/// Parses text-format samples into `series → value` (enough to check our own output).
fn parse_samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line has a value");
            (series.to_string(), value.parse::<f64>().expect("numeric value"))
        })
        .collect()
}

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app("").await;
    let c = client();
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["storage"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_503_naming_storage_when_the_database_is_gone() {
    let app = spawn_app("").await;
    app.storage.close().await;
    let r = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["failed"][0], "storage");
    assert!(body["checks"]["storage"].as_str().unwrap().contains("sqlite storage: ping failed"), "{body}");
    // Liveness is unaffected.
    assert_eq!(client().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let m = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(parse_samples(&m)["sidewatch_storage_errors_total{op=\"ping\"}"], 1.0);
}

#[tokio::test]
async fn metrics_parse_back_and_count_requests() {
    let app = spawn_app("").await;
    let c = client();
    for _ in 0..3 {
        c.get(app.url("/healthz")).send().await.unwrap();
    }
    c.get(app.url("/nope")).send().await.unwrap();
    let r = c.get(app.url("/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let samples = parse_samples(&r.text().await.unwrap());
    assert_eq!(samples["sidewatch_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"], 3.0);
    assert_eq!(samples["sidewatch_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"], 1.0);
    assert_eq!(samples["sidewatch_http_request_duration_seconds_count{route=\"/healthz\"}"], 3.0);
    let build = samples.keys().find(|k| k.starts_with("sidewatch_build_info{")).expect("build info");
    assert!(build.contains("storage=\"sqlite\""), "{build}");
    assert!(samples["sidewatch_uptime_seconds"] >= 0.0);
    assert!(samples["process_resident_memory_bytes"] > 0.0);
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_or_generated() {
    let app = spawn_app("").await;
    let c = client();
    let r = c.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // An id with spaces or control characters is replaced, not echoed.
    let r = c.get(app.url("/healthz")).header("x-request-id", "a b").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b");
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let app = spawn_app("").await; // default limit: 1MiB
    let c = client();
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = c.post(app.url("/healthz")).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorType"], "payload_too_large");
    assert!(body["error"].as_str().unwrap().contains("1048576 bytes"), "{body}");
    // A body under the limit passes the guard (and meets the route's own answer).
    let r = c.post(app.url("/healthz")).body(vec![b'x'; 10]).send().await.unwrap();
    assert_eq!(r.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_404_json() {
    let app = spawn_app("").await;
    let r = client().get(app.url("/no/such")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    app.stop().await;
}

#[tokio::test]
async fn startup_and_shutdown_are_audited() {
    use sidewatch::storage::StorageConfig;
    use sidewatch::storage::{AuditQuery, AuditRepo, Storage};
    let app = spawn_app("").await;
    client().get(app.url("/healthz")).send().await.unwrap();
    let dir = app.stop().await;
    // The pool closed at shutdown; open the same file again to read the log.
    let cfg = StorageConfig { url: sidewatch::config::SecretUrl::new("sqlite://data/test.db"), ..Default::default() };
    let storage = Storage::connect(&cfg, dir.path()).await.unwrap();
    let rows = storage.list_audit(&AuditQuery::default()).await.unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["stop", "start"], "newest first");
    assert!(rows.iter().all(|r| r.actor == "system"));
}
