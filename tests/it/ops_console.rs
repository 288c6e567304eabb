//! The `/ops` console in headless Chromium (Debian's `chromium` + `chromium-driver`, driven over
//! WebDriver): connect, the banner, a firing alert in Status whose hostile label renders as
//! text, history filtered to `failed` with its error text, retry through the confirmation, a
//! silence created from the form and expired, a digest opened with its chart, the trend, jobs
//! and the audit; then read-only mode disabling every write, and a wrong token showing the
//! API's reason. Screenshots of each panel go to `<target>/ops-screenshots/`.

use crate::admin_api::{READ, WRITE, admin};
use crate::common::webdriver::{Browser, browser_binaries};
use sidewatch::storage::{Attempt, NewEvent, NewOutboxRow, OutboxRepo, OutboxStatus, ReportRepo};
use std::path::PathBuf;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn shots() -> PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    PathBuf::from(target).join("ops-screenshots")
}

fn skip() -> bool {
    if browser_binaries().is_some() {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "chromium and chromium-driver are not installed, but CI must run the browser tests (.ci/run installs them)"
        );
    }
    eprintln!(
        "SKIPPED ops console browser test: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    );
    true
}

/// An app with a firing alert carrying a hostile label, failed deliveries and a digest on disk.
async fn app(write_enabled: bool) -> crate::common::TestApp {
    let rules = format!(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: CheckoutErrors\n        expr: vector(0.42)\n        labels:\n          severity: critical\n          evil: '{HOSTILE}'\n        annotations:\n          summary: checkout fails\n          runbook_url: https://runbooks.example/checkout\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), rules).unwrap();
    let digests = dir.path().join("reports/digests/2026-W49");
    std::fs::create_dir_all(&digests).unwrap();
    std::fs::write(
        dir.path().join("reports/digests/2026-W49.md"),
        "# Weekly digest 2026-W49\n\n**2 incidents**, median MTTR 12 min.\n\n| alert | fired |\n|---|---|\n| CheckoutErrors | 2 |\n\n## Charts\n\n- [dau](2026-W49/dau.svg)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("reports/digests/2026-W49.json"),
        r#"{"schema":"sidewatch.digest/v1","evidence":{"observed":{"events":1200,"llm_calls":40},"required":{"events":25,"llm_calls":5}}}"#,
    )
    .unwrap();
    std::fs::write(
        digests.join("dau.svg"),
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50"><rect width="200" height="50" fill="blue"/></svg>"#,
    )
    .unwrap();
    let extra = format!(
        // The KPI job runs when the test says (its daily occurrence would otherwise be caught up
        // at start-up when the test runs within hours of it).
        "{}\n[jobs]\nkpi = {{ schedule = \"\" }}\ndigest = {{ schedule = \"\" }}\n[rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\n\
         [[kpi.funnels]]\nname = \"Landing -> Run CTR\"\nfrom = \"landing_view\"\nto = \"run_start\"\nwarn_drop_pct = 20\ncrit_drop_pct = 40\n",
        admin(if write_enabled { "write_enabled = true" } else { "write_enabled = false" })
    );
    let app = crate::common::spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let now = chrono::Utc::now().timestamp_millis();
    let row = |i: i64| NewOutboxRow {
        receiver: "oncall".into(),
        channel: "slack".into(),
        target: "oncall/slack/0".into(),
        group_key: "{}:{alertname=\"CheckoutErrors\"}".into(),
        alert_names: "CheckoutErrors".into(),
        kind: "firing".into(),
        payload: "{}".into(),
        payload_hash: format!("h{i}"),
        status: OutboxStatus::Pending,
        error_text: None,
        expires_at: now + 3_600_000,
        created_at: now - 60_000 + i,
    };
    let ids = app.storage.enqueue(&[row(1), row(2), row(3)]).await.unwrap();
    // Ten days of a funnel: 10 users land each day and 6 start a run, but only 1 yesterday.
    let day = 86_400_000;
    let yesterday = (now / day - 1) * day;
    let mut events = Vec::new();
    for d in 0..10 {
        let start = yesterday - (9 - d) * day + 3_600_000;
        for u in 0..10 {
            let user = format!("u{d}-{u}");
            events.push(NewEvent {
                ts: start + u,
                name: "landing_view".into(),
                user_id: user.clone(),
                props: "{}".into(),
            });
            if u < if d == 9 { 1 } else { 6 } {
                events.push(NewEvent {
                    ts: start + 100 + u,
                    name: "run_start".into(),
                    user_id: user,
                    props: "{}".into(),
                });
            }
        }
    }
    app.storage.insert_events(&events).await.unwrap();
    for id in &ids[..2] {
        let error = format!("HTTP 500 from slack: {HOSTILE}");
        app.storage.finish(*id, &Attempt::Failed { http_status: Some(500), error }).await.unwrap();
    }
    app
}

async fn connect(b: &Browser, token: &str, actor: &str) {
    b.fill("#token", token).await;
    b.fill("#actor", actor).await;
    b.click("#connect").await;
}

#[tokio::test]
async fn an_operator_works_through_every_panel_in_a_real_browser() {
    if skip() {
        return;
    }
    let app = app(true).await;
    let b = Browser::start(1280, 1800).await;
    b.goto(&app.url("/ops")).await;
    // The paint entry is recorded a moment after the load completes.
    let mut timing = serde_json::Value::Null;
    for _ in 0..40 {
        timing = b
            .exec("const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint'); \
                   const n = performance.getEntriesByType('navigation')[0]; \
                   return {fcp: p ? p.startTime : null, dcl: n.domContentLoadedEventEnd, bytes: performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, n.transferSize)};")
            .await;
        if !timing["fcp"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!("ops console load: {timing}");
    assert!(timing["fcp"].as_f64().is_some_and(|t| t < 1000.0), "first paint under 1 s: {timing}");

    // Connect: the banner says where we are and that writes are on.
    connect(&b, WRITE, "amy").await;
    b.wait_text("#banner", "Write controls enabled", 10).await;
    assert!(b.text("#banner").await.contains("PRODUCTION"));
    let storage =
        b.exec("return [sessionStorage.getItem('sw.token') !== null, localStorage.length, location.href];").await;
    assert_eq!(storage[0], true, "the token is kept in sessionStorage");
    assert_eq!(storage[1], 0, "nothing in localStorage");
    assert!(!storage[2].as_str().unwrap().contains(WRITE), "the token is not in the URL");

    // (The sticky header would cover the panels in element screenshots.)
    b.exec("document.querySelector('header').style.position = 'static'; return 1;").await;
    // Status: the firing alert, its hostile label as characters, no image, no script run.
    let status = b.wait_text("#status", "checkout fails", 20).await;
    assert!(status.contains(&format!("evil=\"{HOSTILE}\"")), "{status}");
    assert!(status.contains("runbook") && status.contains("checkout fails"));
    assert_eq!(b.count("#status img").await, 0, "a label became an element");
    assert!(b.alert_text().await.is_none(), "a label ran script");
    b.screenshot(Some("#status"), &shots().join("status.png")).await;

    // Alert history: filter to failed, see the error text (as text), retry with confirmation.
    b.exec("document.getElementById('f-status').value = 'failed'; return 1;").await;
    b.click("#history-filter button[type=submit]").await;
    let history = b.wait_text("#history .body", "2 notification(s)", 10).await;
    assert!(history.contains(&format!("HTTP 500 from slack: {HOSTILE}")), "{history}");
    assert_eq!(b.count("#history img").await, 0);
    b.screenshot(Some("#history"), &shots().join("history.png")).await;
    b.click("#retry").await;
    b.wait_text("#confirm-text", "failed notification", 5).await;
    b.click("#confirm-ok").await;
    b.wait_text("#history-note", "2 notification(s) queued again", 10).await;

    // Silences: create from the form (confirmed), see what it mutes, expire it.
    b.fill("#s-matchers", "alertname=\"CheckoutErrors\"").await;
    b.fill("#s-comment", "deploy in progress").await;
    b.click("#silence-form button[type=submit]").await;
    b.wait_text("#confirm-text", "Silence alertname=CheckoutErrors", 5).await;
    b.click("#confirm-ok").await;
    let silences = b.wait_text("#silences .body", "deploy in progress", 10).await;
    assert!(silences.contains("active") && silences.contains("amy"), "{silences}");
    b.wait_text("#silences .body", "CheckoutErrors", 15).await;
    b.screenshot(Some("#silences"), &shots().join("silences.png")).await;
    b.click("#silences .body button.write").await;
    b.click("#confirm-ok").await;
    b.wait_text("#silences .body", "expired", 10).await;

    // Reports: open the digest, rendered, with its chart and its evidence status.
    let reports = b.wait_text("#reports .body", "2026-W49.md", 10).await;
    assert!(reports.contains("evidence met: 1200/25 events"), "{reports}");
    b.click("#reports button[data-report=\"digests/2026-W49.md\"]").await;
    let view = b.wait_text("#report-view", "Weekly digest 2026-W49", 10).await;
    assert!(view.contains("2 incidents") && view.contains("CheckoutErrors"), "{view}");
    // Markdown became HTML: its heading (shifted under the panel's), its table, its bold text.
    let heads = b.exec("return [...document.querySelectorAll('#report-view h3')].map(h => h.textContent);").await;
    assert!(heads.as_array().unwrap().iter().any(|h| h == "Weekly digest 2026-W49"), "{heads}");
    assert_eq!(b.count("#report-view table").await, 1);
    assert_eq!(b.count("#report-view strong").await, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.exec("const i = document.querySelector('#report-view img'); return i ? i.naturalWidth : 0;").await != 200 {
        assert!(std::time::Instant::now() < deadline, "the chart did not load");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.screenshot(Some("#reports"), &shots().join("reports.png")).await;

    // Trend, KPI, jobs and the audit of what amy did.
    b.wait_text("#trend .body", "Last 14 days", 10).await;
    b.screenshot(Some("#trend"), &shots().join("trend.png")).await;
    b.wait_text("#kpi .body", "No KPI rollup yet", 10).await;
    // Run the KPI job now (confirmed): the panel shows yesterday's row, the funnel's drop as
    // critical, D1/D7 `n/a` for cohorts too young, and the KPI alert counts.
    b.wait_text("#jobs .body", "baseline", 10).await;
    b.click("#jobs button[data-job=\"kpi\"]").await;
    b.wait_text("#confirm-text", "Run the kpi job now?", 5).await;
    b.click("#confirm-ok").await;
    let kpi = b.wait_text("#kpi .body", "Landing -> Run CTR", 20).await;
    assert!(kpi.contains("10.0%") && kpi.contains("60.0%"), "yesterday's rate and the 7-day mean: {kpi}");
    assert!(kpi.contains("n/a"), "immature cohorts: {kpi}");
    assert!(kpi.contains("KPI Alerts") && kpi.contains("critical") && kpi.contains("warning"), "{kpi}");
    b.screenshot(Some("#kpi"), &shots().join("kpi.png")).await;
    b.screenshot(Some("#jobs"), &shots().join("jobs.png")).await;
    b.click("#pause").await;
    b.exec("SW.refresh(); return 1;").await;
    let audit = b.wait_text("#audit .body", "silence.expire", 10).await;
    assert!(audit.contains("amy") && audit.contains("alerts.retry") && audit.contains("silence.create"), "{audit}");
    b.screenshot(Some("#audit"), &shots().join("audit.png")).await;
    b.exec("window.scrollTo(0, 0); return 1;").await;
    b.screenshot(None, &shots().join("console.png")).await;

    // Disconnect forgets the token.
    b.click("#disconnect").await;
    assert_eq!(b.exec("return sessionStorage.getItem('sw.token');").await, serde_json::Value::Null);
    b.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn read_only_disables_writes_and_a_wrong_token_shows_the_reason() {
    if skip() {
        return;
    }
    let app = app(false).await;
    let b = Browser::start(420, 900).await;
    b.goto(&app.url("/ops")).await;
    connect(&b, "wrong-token-0000000000000", "amy").await;
    let err = b.wait_text("#error", "Cannot connect", 10).await;
    assert!(err.contains("401") && err.contains("not valid"), "{err}");
    assert_eq!(b.prop("#panels", "hidden").await, true);

    connect(&b, READ, "amy").await;
    b.wait_text("#banner", "Read-only", 10).await;
    assert!(b.text("#banner").await.contains("admin.write_enabled"));
    b.wait_text("#status", "checkout fails", 20).await;
    for css in ["#retry", "#silence-form button[type=submit]", "#status .body button.write"] {
        assert_eq!(b.prop(css, "disabled").await, true, "{css} is enabled in read-only mode");
        assert!(b.prop(css, "title").await.as_str().unwrap_or_default().contains("admin.write_enabled"), "{css}");
    }
    b.wait_text("#jobs .body", "Run now", 10).await;
    assert_eq!(b.prop("#jobs .body button.write", "disabled").await, true);
    // The API still refuses a write sent around the disabled button.
    let r = b
        .exec("return fetch('/-/reload', {method: 'POST', headers: {Authorization: 'Bearer ' + SW.token, 'X-Actor': 'amy'}}).then(r => r.status);")
        .await;
    assert_eq!(r, 403);
    b.screenshot(None, &shots().join("read-only-phone.png")).await;
    b.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let app = crate::common::spawn_app("").await;
    let r = crate::common::client().get(app.url("/ops")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(html.contains("Admin token") && html.contains("Actor name") && html.contains(">Connect<"));
    let mut weight = html.len();
    for asset in ["/ops/core.js", "/ops/panels.js", "/ops/ops.css"] {
        let r = crate::common::client().get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        weight += r.bytes().await.unwrap().len();
    }
    eprintln!("ops console weight: {weight} bytes");
    assert!(weight < 200 * 1024);
    assert_eq!(crate::common::client().get(app.url("/ops/../sidewatch.toml")).send().await.unwrap().status(), 404);
    app.stop().await;
}
