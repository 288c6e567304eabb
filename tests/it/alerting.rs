//! Alerting end to end: a target serves normal traffic, then a 5xx burst; `sidewatch run`
//! evaluates a rule file and `/api/v1/alerts` shows the alert pending, then firing, then gone
//! after the burst. A bad rule file on reload keeps the running rules and reports the error.

use crate::common::{FakeServer, client, eventually, spawn_app_in};
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const RULES: &str = r#"groups:
  - name: http
    interval: 1s
    rules:
      - record: job:errors:ratio
        expr: sum by (job) (rate(http_requests_total{status="500"}[3s])) / sum by (job) (rate(http_requests_total[3s]))
      - alert: High5xxRatio
        expr: job:errors:ratio > 0.05
        for: 2s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.job }}: 5xx ratio {{ $value | humanizePercentage }}"
"#;

struct Traffic {
    ok: AtomicU64,
    errors: AtomicU64,
    burst: AtomicBool,
}

fn target(t: Arc<Traffic>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let t = t.clone();
            async move {
                let ok = t.ok.fetch_add(100, Ordering::SeqCst) + 100;
                let errors = if t.burst.load(Ordering::SeqCst) {
                    t.errors.fetch_add(50, Ordering::SeqCst) + 50
                } else {
                    t.errors.load(Ordering::SeqCst)
                };
                format!(
                    "# TYPE http_requests_total counter\nhttp_requests_total{{status=\"200\"}} {ok}\nhttp_requests_total{{status=\"500\"}} {errors}\n"
                )
            }
        }),
    )
}

/// `POST /-/reload` with a write token.
async fn reload(app: &crate::common::TestApp) -> reqwest::Response {
    client()
        .post(app.url("/-/reload"))
        .bearer_auth(crate::admin_api::WRITE)
        .header("X-Actor", "test")
        .send()
        .await
        .unwrap()
}

async fn alerts(url: &str) -> Vec<Value> {
    let b: Value = client().get(url).send().await.unwrap().json().await.unwrap();
    b["data"]["alerts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_5xx_burst_goes_pending_firing_and_resolves() {
    let traffic = Arc::new(Traffic { ok: AtomicU64::new(0), errors: AtomicU64::new(0), burst: AtomicBool::new(false) });
    let server = FakeServer::start(target(traffic.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/http.yml"), RULES).unwrap();
    let extra = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[rules]\nevaluation_interval = \"1s\"\nwatch_interval = \"0s\"\n\n[[targets]]\nname = \"api\"\nmetrics_url = \"{}\"\n{}",
        server.url("/metrics"),
        crate::admin_api::admin("write_enabled = true")
    );
    let app = spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let url = app.url("/api/v1/alerts");

    // Normal traffic: the recording rule runs, no alert.
    let rules_url = app.url("/api/v1/rules");
    eventually(10, "recording rule evaluated", || async {
        let b: Value = client().get(&rules_url).send().await.unwrap().json().await.unwrap();
        let r = &b["data"]["groups"][0]["rules"][0];
        (r["health"] == "ok" && r["type"] == "recording").then_some(())
    })
    .await;
    assert!(alerts(&url).await.is_empty());

    traffic.burst.store(true, Ordering::SeqCst);
    let pending =
        eventually(10, "alert pending", || async { alerts(&url).await.into_iter().find(|a| a["state"] == "pending") })
            .await;
    assert_eq!(pending["labels"]["alertname"], "High5xxRatio");
    assert_eq!(pending["labels"]["severity"], "critical");
    assert_eq!(pending["labels"]["job"], "api");
    let firing =
        eventually(10, "alert firing", || async { alerts(&url).await.into_iter().find(|a| a["state"] == "firing") })
            .await;
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("api: 5xx ratio ") && summary.ends_with('%'), "{summary}");

    traffic.burst.store(false, Ordering::SeqCst);
    eventually(15, "alert resolved", || async { alerts(&url).await.is_empty().then_some(()) }).await;
    let b: Value = client().get(&rules_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(b["data"]["groups"][0]["rules"][1]["state"], "inactive");

    // The recorded series is queryable like any other.
    let q: Value =
        client().get(app.url("/api/v1/query?query=job:errors:ratio")).send().await.unwrap().json().await.unwrap();
    assert_eq!(q["data"]["result"][0]["metric"]["job"], "api", "{q}");

    // A broken file on reload: the running rules stay, the error is shown.
    std::fs::write(
        app.dir.path().join("rules/http.yml"),
        "groups:\n  - name: http\n    rules:\n      - alert: X\n        expr: sum(\n",
    )
    .unwrap();
    let r = reload(&app).await;
    assert_eq!(r.status(), 500);
    let b: Value = client().get(&rules_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(b["data"]["groups"][0]["rules"].as_array().unwrap().len(), 2, "last good rules keep running");
    assert_eq!(b["data"]["reload"]["success"], false);
    let err = b["data"]["reload"]["error"].as_str().unwrap();
    assert!(
        err.contains("http.yml:5:19: X: could not parse expression: 1:5: parse error: unclosed left parenthesis"),
        "{err}"
    );
    std::fs::write(app.dir.path().join("rules/http.yml"), RULES.replace("0.05", "0.5")).unwrap();
    let r = reload(&app).await;
    assert_eq!(r.status(), 200);
    let b: Value = client().get(&rules_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(b["data"]["reload"]["success"], true);
    assert!(b["data"]["groups"][0]["rules"][1]["query"].as_str().unwrap().contains("0.5"));
    app.stop().await;
}

#[tokio::test]
async fn alert_state_survives_a_restart_and_changes_are_recorded() {
    use sidewatch::storage::AlertRepo;
    let rules = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: SlowBurn\n        expr: vector(1)\n        for: 1h\n      - alert: Now\n        expr: vector(2)\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/g.yml"), rules).unwrap();
    let extra = "[rules]\nevaluation_interval = \"1s\"\nwatch_interval = \"0s\"\n";
    let storage = "url = \"sqlite://data/test.db\"";
    let app = spawn_app_in(dir, storage, extra).await;
    let url = app.url("/api/v1/alerts");
    let before = eventually(10, "both alerts active", || async {
        let a = alerts(&url).await;
        (a.len() == 2).then_some(a)
    })
    .await;
    let find = |list: &[Value], name: &str| list.iter().find(|a| a["labels"]["alertname"] == name).cloned().unwrap();
    assert_eq!(find(&before, "SlowBurn")["state"], "pending");
    assert_eq!(find(&before, "Now")["state"], "firing");
    // The alert-state writer appends history from the alert stream, a moment after the API
    // shows the alerts.
    let history = eventually(10, "history written", || async {
        let h = app.storage.list_history(0, 100).await.unwrap();
        (h.iter().any(|c| c.rule == "Now") && h.iter().any(|c| c.rule == "SlowBurn")).then_some(h)
    })
    .await;
    assert!(history.iter().any(|c| c.rule == "Now" && c.to == "firing"), "{history:?}");
    assert!(history.iter().any(|c| c.rule == "SlowBurn" && c.to == "pending"), "{history:?}");

    let dir = app.stop().await;
    let app = spawn_app_in(dir, storage, extra).await;
    let url = app.url("/api/v1/alerts");
    // Right after the restart, before and after the first evaluation, the alerts are the same
    // ones with the same activeAt: the `for` clock was not reset and the firing alert stays.
    for _ in 0..2 {
        let after = alerts(&url).await;
        assert_eq!(after.len(), 2, "{after:?}");
        for name in ["SlowBurn", "Now"] {
            assert_eq!(find(&after, name)["activeAt"], find(&before, name)["activeAt"], "{name}");
            assert_eq!(find(&after, name)["state"], find(&before, name)["state"], "{name}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    app.stop().await;
}

/// Rules that read a metric further back than `store.retention` make the store keep it longer
/// (and the query is then accepted instead of refused as reaching past retention).
#[test]
fn rule_windows_extend_retention() {
    use sidewatch::promql::{Engine, EngineOptions};
    use sidewatch::rules::manager::{RuleManager, RuleMetrics};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: x:max3h\n        expr: max_over_time(x[3h] offset 30m)\n",
    )
    .unwrap();
    let store = Arc::new(sidewatch::store::Store::new(1000, 3_600_000));
    assert_eq!(store.retention_of(Some("x")), 3_600_000);
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let m = RuleManager::new(
        vec!["*.yml".into()],
        dir.path().to_path_buf(),
        15_000,
        Default::default(),
        engine.clone(),
        RuleMetrics::register(&prometheus::Registry::new()),
    );
    assert!(m.status().success);
    assert!(store.retention_of(Some("x")) >= 3 * 3_600_000 + 1_800_000, "{}", store.retention_of(Some("x")));
    let x = engine.instant("max_over_time(x[3h] offset 30m)", 0).unwrap();
    assert!(x.annotations().is_empty(), "x's window is kept whole: {:?}", x.annotations());
    let y = engine.instant("max_over_time(y[3h])", 0).unwrap();
    assert!(y.annotations()[0].contains("beyond the store's retention"), "y keeps the default retention");
}

#[tokio::test]
async fn a_changed_rule_file_is_picked_up_by_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/a.yml"),
        "groups:\n  - name: first\n    rules:\n      - record: a:one\n        expr: vector(1)\n",
    )
    .unwrap();
    let app = spawn_app_in(dir, "url = \"sqlite://data/test.db\"", "[rules]\nwatch_interval = \"1s\"\n").await;
    let url = app.url("/api/v1/rules");
    let names = || async {
        let b: Value = client().get(&url).send().await.unwrap().json().await.unwrap();
        b["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names().await, vec!["first"]);
    std::fs::write(
        app.dir.path().join("rules/b.yml"),
        "groups:\n  - name: second\n    rules:\n      - record: b:one\n        expr: vector(1)\n",
    )
    .unwrap();
    eventually(10, "new file loaded", || async { (names().await == vec!["first", "second"]).then_some(()) }).await;
    app.stop().await;
}
