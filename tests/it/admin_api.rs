//! The admin API against a running application: the guard's abuse battery (no token, wrong
//! token, read token writing, write token in read-only mode, other address, spoofed
//! `X-Forwarded-For`, oversized body, SQL-looking and path-traversal strings in every filter,
//! missing `X-Actor`, repeated failures) — each refused with its status and an audit row — and
//! the operator endpoints: ops, history with paging and filters, retry, export, analytics,
//! jobs, reports, silences, reload, audit.

use crate::common::{TestApp, client, eventually, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sidewatch::storage::AuditRepo;
use sidewatch::storage::{Attempt, NewOutboxRow, OutboxRepo, OutboxStatus};

pub(crate) const WRITE: &str = "write-token-0123456789abcdef";
pub(crate) const READ: &str = "read-token-0123456789abcdef";

/// `[admin]` with a write and a read token, writes on, plus `extra` keys.
pub(crate) fn admin(extra: &str) -> String {
    format!(
        "[admin]\nenvironment = \"PRODUCTION\"\nmax_auth_failures_per_minute = 1000\n{extra}\n\
         [[admin.tokens]]\nname = \"oncall\"\ntoken = \"{WRITE}\"\nrole = \"write\"\n\
         [[admin.tokens]]\nname = \"viewer\"\ntoken = \"{READ}\"\nrole = \"read\"\n"
    )
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    actor: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut r = client().request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(a) = actor {
        r = r.header("X-Actor", a);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

fn error_type(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    assert_eq!(v["status"], "error", "{body}");
    v["errorType"].as_str().unwrap_or_default().to_string()
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let (s, _, body) = call(app, Method::GET, "/api/v1/admin/audit?pageSize=500", Some(READ), None, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["items"].as_array().unwrap().clone()
}

/// The newest audit row for `route` with `detail` (the refusal's errorType).
async fn audited(app: &TestApp, route: &str, detail: &str) -> Value {
    let rows = audit(app).await;
    rows.into_iter()
        .find(|r| r["route"] == route && r["detail"] == detail)
        .unwrap_or_else(|| panic!("no audit row for {route} {detail}"))
}

#[tokio::test]
async fn the_guard_refuses_each_abuse_with_its_status_and_an_audit_row() {
    let app = spawn_app(&admin("write_enabled = true")).await;
    let retry = "/api/v1/admin/alerts/retry";
    let body = json!({"status": "failed", "since": "1h"});
    let mut seen = String::new();

    // No token, wrong token.
    let (s, h, b) = call(&app, Method::GET, "/api/v1/admin/ops", None, None, None).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{b}");
    assert_eq!(h["www-authenticate"], "Bearer realm=\"sidewatch\"");
    seen += &b;
    let (s, _, b) = call(&app, Method::GET, "/api/v1/admin/ops", Some("not-a-token-at-all-0000"), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    seen += &b;
    let (s, _, b) = call(&app, Method::POST, "/-/reload", None, Some("eve"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "reload is guarded: {b}");

    // A read token writing.
    let (s, _, b) = call(&app, Method::POST, retry, Some(READ), Some("bob"), Some(body.clone())).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::FORBIDDEN, "insufficient_role"), "{b}");
    seen += &b;

    // A write without X-Actor, and with a malformed one.
    let (s, _, b) = call(&app, Method::POST, retry, Some(WRITE), None, Some(body.clone())).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::BAD_REQUEST, "actor_required"), "{b}");
    let r = client()
        .post(app.url(retry))
        .bearer_auth(WRITE)
        .header("X-Actor", "a".repeat(65))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The same write done right.
    let (s, _, b) = call(&app, Method::POST, retry, Some(WRITE), Some("alice"), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap(), json!({"queued": 0}));
    seen += &b;

    // An oversized body.
    let big = json!({"status": "failed", "since": "1h", "channel": "x".repeat(2 * 1024 * 1024)});
    let (s, _, b) = call(&app, Method::POST, retry, Some(WRITE), Some("alice"), Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");

    // SQL-looking and traversal strings in every filter: 400 where the value is typed, else
    // taken literally (nothing matches, nothing breaks).
    let hostile = ["' OR 1=1 --", "'; DROP TABLE outbox; --", "%", "_", "../../etc/passwd", "\\"];
    for h in hostile {
        let q: String = form_urlencoded::byte_serialize(h.as_bytes()).collect();
        for key in ["channel", "receiver", "alertname"] {
            let (s, _, b) =
                call(&app, Method::GET, &format!("/api/v1/admin/alerts?{key}={q}"), Some(READ), None, None).await;
            assert_eq!(s, StatusCode::OK, "{key}={h}: {b}");
            assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["total"], 0, "{key}={h}");
        }
        for key in ["status", "since", "page", "pageSize"] {
            let (s, _, b) =
                call(&app, Method::GET, &format!("/api/v1/admin/alerts?{key}={q}"), Some(READ), None, None).await;
            assert_eq!((s, error_type(&b).as_str()), (StatusCode::BAD_REQUEST, "bad_data"), "{key}={h}: {b}");
        }
        let (s, _, _) =
            call(&app, Method::GET, &format!("/api/v1/admin/analytics?days={q}"), Some(READ), None, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _, _) =
            call(&app, Method::GET, &format!("/api/v1/admin/reports/digests/{q}"), Some(READ), None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "report {h}");
    }
    for path in [
        "/api/v1/admin/reports/digests/../../sidewatch.toml",
        "/api/v1/admin/reports/..%2F..%2Fsidewatch.toml/x",
        "/api/v1/admin/reports/digests/%2Fetc%2Fpasswd",
        "/api/v1/admin/reports/digests/..%2F..%2Fsidewatch.toml",
    ] {
        let (s, _, b) = call(&app, Method::GET, path, Some(READ), None, None).await;
        assert!(s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST, "{path}: {s} {b}");
        assert!(!b.contains("[admin]"), "{path} served the config");
    }
    // The outbox table is still there.
    assert!(app.storage.list_outbox(&Default::default()).await.is_ok());

    // Each refusal and each write is an audit row, with actor, token name and source.
    let row = audited(&app, "/api/v1/admin/ops", "unauthorized").await;
    assert_eq!((row["outcome"].as_str(), row["status"].as_i64()), (Some("refused"), Some(401)));
    assert_eq!(row["source"], "127.0.0.1");
    let row = audited(&app, retry, "insufficient_role").await;
    assert_eq!((row["actor"].as_str(), row["tokenName"].as_str()), (Some("bob"), Some("viewer")));
    audited(&app, retry, "actor_required").await;
    audited(&app, retry, "bad_actor").await;
    audited(&app, retry, "PAYLOAD_TOO_LARGE").await;
    audited(&app, "/-/reload", "unauthorized").await;
    let rows = audit(&app).await;
    let ok = rows.iter().find(|r| r["action"] == "alerts.retry").expect("the retry is audited");
    assert_eq!(
        (ok["actor"].as_str(), ok["tokenName"].as_str(), ok["outcome"].as_str()),
        (Some("alice"), Some("oncall"), Some("ok"))
    );
    assert!(ok["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(
        rows.iter().any(|r| r["status"] == 400 && r["route"] == "/api/v1/admin/alerts"),
        "a refused filter is audited"
    );

    // The tokens appear in no answer.
    let all = serde_json::to_string(&rows).unwrap() + &seen;
    assert!(!all.contains(WRITE) && !all.contains(READ), "a token leaked");
    app.stop().await;
}

#[tokio::test]
async fn read_only_other_address_and_spoofed_forwarded_for_are_refused() {
    // Read-only: writes 403 read_only naming the key; reads work.
    let app = spawn_app(&admin("write_enabled = false")).await;
    let (s, _, b) = call(&app, Method::POST, "/-/reload", Some(WRITE), Some("alice"), None).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::FORBIDDEN, "read_only"), "{b}");
    assert!(b.contains("admin.write_enabled"), "{b}");
    let (s, _, b) = call(&app, Method::POST, "/api/v2/silences", Some(WRITE), None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _, b) = call(&app, Method::GET, "/api/v1/admin/ops", Some(WRITE), None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ops: Value = serde_json::from_str(&b).unwrap();
    assert_eq!((ops["environment"].as_str(), ops["writeEnabled"].as_bool()), (Some("PRODUCTION"), Some(false)));
    audited(&app, "/-/reload", "read_only").await;
    app.stop().await;

    // An address not on the allowlist, also when it claims another in X-Forwarded-For.
    let app = spawn_app(&admin("write_enabled = true\nip_allowlist = [\"10.0.0.0/8\"]")).await;
    let (s, _, b) = call(&app, Method::GET, "/api/v1/admin/ops", Some(READ), None, None).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::FORBIDDEN, "ip_not_allowed"), "{b}");
    let r = client()
        .get(app.url("/api/v1/admin/ops"))
        .bearer_auth(READ)
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a spoofed X-Forwarded-For is ignored without a trusted proxy");
    let rows = app.storage.list_audit(&Default::default()).await.unwrap();
    assert!(rows.iter().filter(|r| r.detail == "ip_not_allowed" && r.source == "127.0.0.1").count() >= 2);
    app.stop().await;

    // Behind a trusted proxy the forwarded address is the source.
    let app = spawn_app(&admin("ip_allowlist = [\"10.0.0.0/8\"]\ntrusted_proxies = [\"127.0.0.1/32\"]")).await;
    let r = client()
        .get(app.url("/api/v1/admin/ops"))
        .bearer_auth(READ)
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .get(app.url("/api/v1/admin/ops"))
        .bearer_auth(READ)
        .header("X-Forwarded-For", "10.1.2.3, 192.0.2.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the rightmost untrusted hop is the source");
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429_then_nothing_else() {
    let app = spawn_app(
        &admin("write_enabled = true")
            .replace("max_auth_failures_per_minute = 1000", "max_auth_failures_per_minute = 3"),
    )
    .await;
    for _ in 0..3 {
        let (s, _, _) = call(&app, Method::GET, "/api/v1/admin/ops", Some("guess-guess-guess-guess"), None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, h, b) = call(&app, Method::GET, "/api/v1/admin/ops", Some("guess-guess-guess-guess"), None, None).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{b}");
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after));
    // Even the right token waits: the address is locked out for the window.
    let (s, _, _) = call(&app, Method::GET, "/api/v1/admin/ops", Some(READ), None, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Health stays open.
    assert_eq!(client().get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn with_no_tokens_the_admin_api_is_off_and_says_which_key_to_set() {
    let app = spawn_app("").await;
    let (s, _, b) = call(&app, Method::POST, "/-/reload", None, None, None).await;
    assert_eq!((s, error_type(&b).as_str()), (StatusCode::FORBIDDEN, "admin_disabled"), "{b}");
    assert!(b.contains("admin.tokens"), "{b}");
    // Reads that admin.read_requires_token does not guard stay open.
    assert_eq!(client().get(app.url("/api/v1/query?query=1")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client().get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn read_requires_token_guards_the_query_api_and_metrics_but_not_health() {
    let app = spawn_app(&admin("read_requires_token = true")).await;
    for path in [
        "/api/v1/query?query=1",
        "/metrics",
        "/api/v1/targets",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/metadata",
        "/api/v1/targets/metadata",
        "/api/v1/status/tsdb",
        "/runbooks/",
        "/runbooks/TargetDown",
    ] {
        let r = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = client().get(app.url(path)).bearer_auth(READ).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        assert_eq!(client().get(app.url(path)).send().await.unwrap().status(), StatusCode::OK, "{path}");
    }
    app.stop().await;
}

fn row(name: &str, status: OutboxStatus, created_at: i64, receiver: &str, channel: &str) -> NewOutboxRow {
    NewOutboxRow {
        receiver: receiver.into(),
        channel: channel.into(),
        target: format!("{receiver}/{channel}/0"),
        group_key: format!("{{}}:{{alertname=\"{name}\"}}"),
        alert_names: name.into(),
        kind: "firing".into(),
        payload: "{}".into(),
        payload_hash: format!("h{created_at}"),
        status,
        error_text: None,
        expires_at: created_at + 3_600_000,
        created_at,
    }
}

#[tokio::test]
async fn history_pages_filters_retries_exports_and_trends_on_sqlite() {
    history_pages_filters_retries_exports_and_trends(spawn_app(&admin("write_enabled = true")).await).await;
}

#[tokio::test]
async fn history_pages_filters_retries_exports_and_trends_on_postgres() {
    let Some(db) = crate::common::pg_test_db("history_pages_filters_retries_exports_and_trends_on_postgres").await
    else {
        return;
    };
    let storage = format!("url = \"{}\"", db.url);
    let app = crate::common::spawn_app_with_storage(&storage, &admin("write_enabled = true")).await;
    history_pages_filters_retries_exports_and_trends(app).await;
}

async fn history_pages_filters_retries_exports_and_trends(app: TestApp) {
    let now = chrono::Utc::now().timestamp_millis();
    let mut rows = Vec::new();
    for i in 0..25 {
        rows.push(row(
            if i % 5 == 0 { "DiskFull" } else { "HighLatency" },
            OutboxStatus::Pending,
            now - 60_000 + i,
            "oncall",
            if i % 2 == 0 { "slack" } else { "webhook" },
        ));
    }
    rows.push(row("Old", OutboxStatus::Pending, now - 3 * 86_400_000, "leads", "email"));
    let ids = app.storage.enqueue(&rows).await.unwrap();
    assert_eq!(ids.len(), 26);
    // Five of them fail for good, with a secret-free error.
    for id in &ids[..5] {
        app.storage
            .finish(*id, &Attempt::Failed { http_status: Some(500), error: "HTTP 500 from receiver".into() })
            .await
            .unwrap();
    }
    let get = |path: String| {
        let app = &app;
        async move {
            let (s, _, b) = call(app, Method::GET, &path, Some(READ), None, None).await;
            assert_eq!(s, StatusCode::OK, "{path}: {b}");
            serde_json::from_str::<Value>(&b).unwrap()
        }
    };
    let p1 = get("/api/v1/admin/alerts?page=1&pageSize=20".into()).await;
    assert_eq!((p1["total"].as_i64(), p1["items"].as_array().unwrap().len()), (Some(26), 20));
    let p2 = get("/api/v1/admin/alerts?page=2&pageSize=20".into()).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 6);
    let p9 = get("/api/v1/admin/alerts?page=9&pageSize=20".into()).await;
    assert!(p9["items"].as_array().unwrap().is_empty());
    let failed = get("/api/v1/admin/alerts?status=failed&since=1h".into()).await;
    assert_eq!(failed["total"], 5);
    assert_eq!(failed["items"][0]["errorText"], "HTTP 500 from receiver");
    assert_eq!(get("/api/v1/admin/alerts?alertname=DiskFull".into()).await["total"], 5);
    assert_eq!(get("/api/v1/admin/alerts?alertname=Disk".into()).await["total"], 0, "names match whole");
    assert_eq!(get("/api/v1/admin/alerts?channel=email".into()).await["total"], 1);
    assert_eq!(get("/api/v1/admin/alerts?receiver=leads&since=1h".into()).await["total"], 0);
    let ops = get("/api/v1/admin/ops".into()).await;
    assert_eq!(ops["recentFailedAlerts1h"], 5);
    assert!(ops["outbox"]["pending"].as_i64().unwrap() >= 21);

    // Export: a CSV download with a header and one line per row.
    let r = client()
        .get(app.url("/api/v1/admin/alerts/export?format=csv&status=failed"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"sidewatch-alerts-")
    );
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("id,createdAt,sentAt,alertname,"));
    let r = client().get(app.url("/api/v1/admin/alerts/export?format=json")).bearer_auth(READ).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap().as_array().unwrap().len(), 26);

    // Retry the failed ones of the last hour.
    let (s, _, b) = call(
        &app,
        Method::POST,
        "/api/v1/admin/alerts/retry",
        Some(WRITE),
        Some("alice"),
        Some(json!({"status": "failed", "since": "1h"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["queued"], 5);
    assert_eq!(get("/api/v1/admin/alerts?status=failed".into()).await["total"], 0);

    // The trend: 14 days, today's deliveries counted per alert.
    let t = get("/api/v1/admin/analytics?days=14".into()).await;
    let days = t["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    let today = days.last().unwrap();
    assert_eq!(today["date"], chrono::Utc::now().format("%Y-%m-%d").to_string());
    assert!(today["alerts"]["DiskFull"].is_object(), "{today}");
    assert!(t["history"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn ops_reports_signals_alerts_and_jobs() {
    let rules = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: LLMFallbackRateHigh\n        expr: vector(1)\n        labels:\n          severity: critical\n        annotations:\n          runbook_url: https://runbooks.example/llm\n";
    let extra = format!(
        "{}\n[admin.signals]\nfallbackTriggered = \"LLMFallbackRateHigh\"\ngenerateErrorTriggered = \"GenerateErrors\"\n[rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\n",
        admin("write_enabled = true")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), rules).unwrap();
    let app = crate::common::spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let ops: Value = eventually(20, "the signal fires", || async {
        let (_, _, b) = call(&app, Method::GET, "/api/v1/admin/ops", Some(READ), None, None).await;
        let v: Value = serde_json::from_str(&b).ok()?;
        (v["signals"]["fallbackTriggered"]["triggered"] == true).then_some(v)
    })
    .await;
    assert_eq!(ops["signals"]["fallbackTriggered"]["state"], "firing");
    assert_eq!(ops["signals"]["LLMFallbackRateHigh"]["triggered"], true, "every alerting rule is a signal");
    assert_eq!(ops["signals"]["generateErrorTriggered"]["state"], "inactive");
    assert_eq!(ops["alerts"]["firing"]["critical"], 1);
    assert_eq!(ops["alerts"]["items"][0]["runbookUrl"], "https://runbooks.example/llm");
    assert_eq!(ops["jobs"].as_array().unwrap().len(), 3);
    assert!(ops["targets"][0]["health"].is_string());

    // Run a job now: recorded with its runner, listed, its report served.
    let (s, _, b) = call(&app, Method::POST, "/api/v1/admin/jobs/baseline/run", Some(WRITE), Some("carol"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let run: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(run["status"], "ok", "{b}");
    let (s, _, _) = call(&app, Method::POST, "/api/v1/admin/jobs/nope/run", Some(WRITE), Some("carol"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, b) = call(&app, Method::GET, "/api/v1/admin/jobs", Some(READ), None, None).await;
    let jobs: Value = serde_json::from_str(&b).unwrap();
    let baseline = jobs["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "baseline").unwrap().clone();
    assert_eq!(baseline["runs"][0]["runner"], "admin:carol");
    let (_, _, b) = call(&app, Method::GET, "/api/v1/admin/reports", Some(READ), None, None).await;
    let reports: Value = serde_json::from_str(&b).unwrap();
    let md = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "baseline_latest.md")
        .expect("listed")
        .clone();
    let r = client().get(app.url(md["url"].as_str().unwrap())).bearer_auth(READ).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert!(r.text().await.unwrap().contains('#'));
    let rows = audit(&app).await;
    assert!(rows.iter().any(|r| r["action"] == "job.run" && r["target"] == "baseline" && r["actor"] == "carol"));
    app.stop().await;
}

#[tokio::test]
async fn silences_in_alertmanager_shape_create_list_filter_expire() {
    let app = spawn_app(&admin("write_enabled = true")).await;
    let start = chrono::Utc::now();
    let body = json!({
        "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": false, "isEqual": true},
                     {"name": "instance", "value": "db-.*", "isRegex": true}],
        "startsAt": start.to_rfc3339(), "endsAt": (start + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "amtool-user", "comment": "disk swap"
    });
    // The Alertmanager shape needs no X-Actor: createdBy is the actor.
    let (s, _, b) = call(&app, Method::POST, "/api/v2/silences", Some(WRITE), None, Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = serde_json::from_str::<Value>(&b).unwrap()["silenceID"].as_str().unwrap().to_string();
    let (_, _, b) = call(&app, Method::GET, "/api/v2/silences", Some(READ), None, None).await;
    let list: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"]["state"], "active");
    assert_eq!(list[0]["matchers"][1], json!({"name": "instance", "value": "db-.*", "isRegex": true, "isEqual": true}));
    let (_, _, b) =
        call(&app, Method::GET, "/api/v2/silences?filter=alertname%3D%22Other%22", Some(READ), None, None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap().as_array().unwrap().len(), 0);
    let (_, _, b) =
        call(&app, Method::GET, "/api/v2/silences?filter=alertname%3D%22DiskFull%22", Some(READ), None, None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap().as_array().unwrap().len(), 1);
    // Refused: a silence that mutes everything, an end in the past.
    let mut all = body.clone();
    all["matchers"] = json!([{"name": "x", "value": ".*", "isRegex": true}]);
    assert_eq!(
        call(&app, Method::POST, "/api/v2/silences", Some(WRITE), None, Some(all)).await.0,
        StatusCode::BAD_REQUEST
    );
    let mut past = body.clone();
    past["endsAt"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(
        call(&app, Method::POST, "/api/v2/silences", Some(WRITE), None, Some(past)).await.0,
        StatusCode::BAD_REQUEST
    );
    // Expire.
    let (s, _, _) = call(&app, Method::DELETE, &format!("/api/v2/silence/{id}"), Some(WRITE), None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, b) = call(&app, Method::GET, &format!("/api/v2/silence/{id}"), Some(READ), None, None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["status"]["state"], "expired");
    assert_eq!(
        call(&app, Method::DELETE, "/api/v2/silence/nope", Some(WRITE), None, None).await.0,
        StatusCode::NOT_FOUND
    );
    let rows = audit(&app).await;
    assert!(
        rows.iter()
            .any(|r| r["action"] == "silence.create" && r["actor"] == "amtool-user" && r["target"] == id.as_str())
    );
    assert!(rows.iter().any(|r| r["action"] == "silence.expire" && r["actor"] == "oncall"));
    app.stop().await;
}

/// The OpenAPI document names exactly the routes the router serves.
#[tokio::test]
async fn the_openapi_document_names_every_route_and_only_those() {
    let app = spawn_app("").await;
    let doc: Value = client().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let documented: std::collections::BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let mut routed = std::collections::BTreeSet::new();
    for dir in ["src/http", "src/http/admin"] {
        for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for part in text.split(".route(\"").skip(1) {
                routed.insert(part.split('"').next().unwrap().replace("{*name}", "{name}"));
            }
        }
    }
    assert_eq!(documented, routed, "docs vs router");
    app.stop().await;
}
