//! Scraping end to end: fake services on 127.0.0.1 stand in for an API and a worker;
//! sidewatch scrapes and probes them, the store holds their series with the right labels,
//! a target taken down turns `up` to 0 and its series stale, and every kind of bad answer
//! fails the scrape with a clear error while the loop goes on.

use crate::common::{FakeServer, client, eventually, spawn_app, spawn_app_in};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use sidewatch::store::{Matcher, is_stale};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn api_router() -> Router {
    let hits = Arc::new(AtomicU64::new(0));
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    format!(
                        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
                         http_requests_total{{route=\"/users\",status=\"200\"}} {}\n\
                         http_requests_total{{route=\"/users\",status=\"500\"}} 3\n\
                         job:http_errors:rate5m{{job=\"inner\"}} 0.5\n",
                        n * 10
                    )
                }
            }),
        )
        .route("/readyz", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "{\"status\":\"starting\"}") }))
        .route("/healthz", get(|| async { "{\"status\":\"ok\"}" }))
}

fn worker_router() -> Router {
    Router::new()
        .route("/metrics", get(|| async { "queue_depth{type=\"email\"} 5\n" }))
        .route("/healthz", get(|| async { "ok" }))
}

fn targets_toml(api: &FakeServer, worker: &FakeServer) -> String {
    format!(
        r#"
[scrape]
interval = "1s"
timeout = "900ms"

[[targets]]
name = "api"
metrics_url = "{}"
labels = {{ service = "personaworlds" }}

  [[targets.health]]
  name = "readyz"
  url = "{}"

  [[targets.health]]
  name = "healthz"
  url = "{}"
  json_field = "status"
  json_equals = "ok"

[[targets]]
name = "worker"
metrics_url = "{}"
"#,
        api.url("/metrics"),
        api.url("/readyz"),
        api.url("/healthz"),
        worker.url("/metrics")
    )
}

async fn targets_json(url: &str) -> serde_json::Value {
    client().get(url).send().await.unwrap().json().await.unwrap()
}

fn value(app: &crate::common::TestApp, matchers: &[Matcher]) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = app
        .store
        .query(matchers, 0, i64::MAX)
        .into_iter()
        .map(|(l, s)| (l.to_string(), s.last().map_or(f64::NAN, |x| x.1)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test]
async fn two_targets_are_scraped_probed_and_a_dead_one_goes_down_and_stale() {
    let api = FakeServer::start(api_router()).await;
    let mut worker = FakeServer::start(worker_router()).await;
    let app = spawn_app(&targets_toml(&api, &worker)).await;
    let url = app.url("/api/v1/targets");
    let body = eventually(10, "both targets up", || async {
        let b = targets_json(&url).await;
        let all_up = b["data"]["activeTargets"].as_array().unwrap().iter().all(|t| t["health"] == "up");
        all_up.then_some(b)
    })
    .await;
    let active = body["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 2);
    let api_t = active.iter().find(|t| t["scrapePool"] == "api").unwrap();
    assert_eq!(api_t["labels"]["job"], "api");
    assert_eq!(api_t["labels"]["instance"], api.addr.to_string());
    assert_eq!(api_t["labels"]["service"], "personaworlds");
    assert_eq!(api_t["scrapeUrl"], api.url("/metrics"));
    assert_eq!(api_t["lastError"], "");
    assert!(api_t["lastScrape"].as_str().unwrap().ends_with('Z'));
    assert!(api_t["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    assert_eq!(api_t["scrapeInterval"], "1s");

    // The store holds the series with target labels; a colliding scraped `job` is exported_job.
    let reqs = value(&app, &[Matcher::eq("__name__", "http_requests_total"), Matcher::eq("status", "500")]);
    assert_eq!(
        reqs,
        [(
            format!(
                "http_requests_total{{instance=\"{}\", job=\"api\", route=\"/users\", service=\"personaworlds\", status=\"500\"}}",
                api.addr
            ),
            3.0
        )]
    );
    let rec = value(&app, &[Matcher::eq("__name__", "job:http_errors:rate5m")]);
    assert!(rec[0].0.contains("exported_job=\"inner\"") && rec[0].0.contains("job=\"api\""), "{rec:?}");
    assert_eq!(value(&app, &[Matcher::eq("__name__", "queue_depth")])[0].1, 5.0);
    let up = value(&app, &[Matcher::eq("__name__", "up")]);
    assert_eq!(up.len(), 2);
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    let scraped = value(&app, &[Matcher::eq("__name__", "scrape_samples_scraped"), Matcher::eq("job", "api")]);
    assert_eq!(scraped[0].1, 3.0);

    // Health checks: readyz answers 503 → probe_success 0; healthz JSON ok → 1.
    let probes = eventually(10, "both probes ran", || async {
        let v = value(&app, &[Matcher::eq("__name__", "probe_success")]);
        (v.len() == 2).then_some(v)
    })
    .await;
    assert!(
        probes.iter().any(|(l, v)| l.contains("check=\"readyz\"") && l.contains("target=\"api\"") && *v == 0.0),
        "{probes:?}"
    );
    assert!(probes.iter().any(|(l, v)| l.contains("check=\"healthz\"") && *v == 1.0), "{probes:?}");
    let codes = value(&app, &[Matcher::eq("__name__", "probe_http_status_code"), Matcher::eq("check", "readyz")]);
    assert_eq!(codes[0].1, 503.0);
    let health: serde_json::Value = client().get(app.url("/api/v1/health")).send().await.unwrap().json().await.unwrap();
    let checks = &health["data"][0]["checks"];
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "readyz" && c["health"] == "down" && c["lastStatus"] == 503)
    );

    // Take the worker down: up → 0, its series stale, the error on the target.
    worker.stop().await;
    let body = eventually(10, "worker down", || async {
        let b = targets_json(&url).await;
        let w = b["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["scrapePool"] == "worker")
            .cloned()
            .unwrap();
        (w["health"] == "down").then_some(w)
    })
    .await;
    assert!(!body["lastError"].as_str().unwrap().is_empty());
    assert_eq!(value(&app, &[Matcher::eq("__name__", "up"), Matcher::eq("job", "worker")])[0].1, 0.0);
    let q = app.store.query(&[Matcher::eq("__name__", "queue_depth")], 0, i64::MAX);
    assert!(is_stale(q[0].1.last().unwrap().1), "queue_depth ends with a staleness marker");
    // The API target stays up meanwhile.
    assert_eq!(value(&app, &[Matcher::eq("__name__", "up"), Matcher::eq("job", "api")])[0].1, 1.0);
    // Back up: up → 1 again.
    worker.restart().await;
    eventually(10, "worker up again", || async {
        let v = value(&app, &[Matcher::eq("__name__", "up"), Matcher::eq("job", "worker")]);
        (v[0].1 == 1.0).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn with_no_targets_sidewatch_scrapes_itself() {
    let app = spawn_app("[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n").await;
    eventually(10, "own build info scraped", || async {
        let v = value(&app, &[Matcher::eq("__name__", "sidewatch_build_info"), Matcher::eq("job", "sidewatch")]);
        (!v.is_empty()).then_some(())
    })
    .await;
    let m = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("sidewatch_scrapes_total{target=\"sidewatch\"}"), "{m}");
    assert!(m.lines().any(|l| l.starts_with("sidewatch_store_series ") && !l.ends_with(" 0")), "{m}");
    app.stop().await;
}

#[tokio::test]
async fn the_store_survives_a_restart() {
    let api = FakeServer::start(api_router()).await;
    let worker = FakeServer::start(worker_router()).await;
    let extra = targets_toml(&api, &worker);
    let app = spawn_app(&extra).await;
    let m = [Matcher::eq("__name__", "http_requests_total"), Matcher::eq("status", "200")];
    eventually(10, "two scrapes stored", || async {
        let q = app.store.query(&m, 0, i64::MAX);
        (q.first().is_some_and(|s| s.1.len() >= 2)).then_some(())
    })
    .await;
    let dir = app.stop().await;
    let before = sidewatch::store::Store::new(10_000, 3_600_000);
    before.restore_from(&dir.path().join("data/test.store")).unwrap();
    let n_before = before.query(&m, 0, i64::MAX)[0].1.len();
    let again = spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let restored = again.store.query(&m, 0, i64::MAX);
    assert!(restored[0].1.len() >= n_before, "history is there at once after the restart");
    again.stop().await;
}

/// A target behind a bearer token (and one behind basic auth) is scraped with its
/// credentials; a wrong one makes `up` 0 with the receiver's 401 as the error.
#[tokio::test]
async fn targets_behind_credentials_are_scraped_with_them() {
    use axum::http::{HeaderMap, StatusCode};
    let protected = |want: &'static str| {
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |h: HeaderMap| async move {
                if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want) {
                    (StatusCode::OK, "guarded_metric 7\n")
                } else {
                    (StatusCode::UNAUTHORIZED, "no")
                }
            }),
        )
    };
    let bearer = crate::common::FakeServer::start(protected("Bearer s3cret-token")).await;
    let basic = crate::common::FakeServer::start(protected("Basic dTpw")).await; // u:p
    let app = crate::common::spawn_app(&format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[targets]]\nname = \"bearer\"\nmetrics_url = \"{}\"\nauthorization = {{ credentials = \"s3cret-token\" }}\n\
         [[targets]]\nname = \"basic\"\nmetrics_url = \"{}\"\nbasic_auth = {{ username = \"u\", password = \"p\" }}\n\
         [[targets]]\nname = \"wrong\"\nmetrics_url = \"{}\"\nauthorization = {{ credentials = \"nope\" }}\n",
        bearer.url("/metrics"),
        basic.url("/metrics"),
        bearer.url("/metrics"),
    ))
    .await;
    let v = crate::common::eventually(20, "all three scraped once", || async {
        let v: serde_json::Value =
            crate::common::client().get(app.url("/api/v1/query?query=up")).send().await.ok()?.json().await.ok()?;
        (v["data"]["result"].as_array()?.len() == 3).then_some(v)
    })
    .await;
    let up = |job: &str| {
        v["data"]["result"].as_array().unwrap().iter().find(|s| s["metric"]["job"] == job).unwrap()["value"][1].clone()
    };
    assert_eq!((up("bearer"), up("basic"), up("wrong")), ("1".into(), "1".into(), "0".into()), "{v}");
    let targets: serde_json::Value =
        crate::common::client().get(app.url("/api/v1/targets")).send().await.unwrap().json().await.unwrap();
    assert!(!targets.to_string().contains("s3cret-token"), "credentials never shown");
    app.stop().await;
}
