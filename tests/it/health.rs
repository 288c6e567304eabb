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
    let text = r.text().await.unwrap();
    // Types as Prometheus' process collector gives them: a `_total` is a counter.
    assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
    let samples = parse_samples(&text);
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
    assert_eq!(body["errorType"], "PAYLOAD_TOO_LARGE", "one shape for every 413, as the runbook names it");
    assert!(body["error"].as_str().unwrap().contains("1048576 bytes"), "{body}");
    // A body under the limit passes the guard (and meets the route's own answer).
    let r = c.post(app.url("/healthz")).body(vec![b'x'; 10]).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.expect("405 answers JSON too");
    assert_eq!(body["errorType"], "method_not_allowed");
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

/// Half-sent requests (headers never finished) are closed after `server.header_read_timeout`
/// instead of holding their sockets, and the server keeps answering meanwhile.
#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app("[server]\nheader_read_timeout = \"1s\"\n").await;
    let mut socks = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        socks.push(s);
    }
    let r = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "answering while 200 half-sent requests wait");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mut closed = 0;
    for s in &mut socks {
        let mut buf = [0u8; 512];
        // Closed: EOF (perhaps after a 408), or a reset.
        let done = tokio::time::timeout(std::time::Duration::from_millis(200), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .unwrap_or(false);
        closed += usize::from(done);
    }
    assert_eq!(closed, socks.len(), "every half-sent request was closed");
    app.stop().await;
}
