//! Notify against real neighbours: the real Alertmanager (Debian's `prometheus-alertmanager`)
//! receiving our `/api/v2/alerts` posts, and silences made with the `sidewatch silence` CLI
//! muting (and, when expired, releasing) an alert in a running notifier.

use crate::common::eventually;
use crate::common::receivers::Recorder;
use crate::notify_delivery::{alert, plan, sqlite};
use sidewatch::notify::Notifier;
use sidewatch::notify::metrics::NotifyMetrics;
use sidewatch::storage::{OutboxFilter, OutboxRepo};

const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");

fn alertmanager_binary() -> Option<&'static str> {
    ["/usr/bin/prometheus-alertmanager", "/usr/local/bin/alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a real Alertmanager in `dir` (with `global` prepended to its routing to a black
/// hole) on a free port; ready when this returns.
async fn start_alertmanager(bin: &str, dir: &std::path::Path, global: &str) -> (Kill, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let yml = format!("{global}route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n");
    std::fs::write(dir.join("am.yml"), yml).unwrap();
    let child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(30, "alertmanager ready", || async {
        http.get(format!("{base}/-/ready")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    (Kill(child), base)
}

#[tokio::test]
async fn the_real_alertmanager_holds_our_alerts_and_resolves_them() {
    let Some(bin) = alertmanager_binary() else {
        if std::env::var_os("CI").is_some() {
            panic!("prometheus-alertmanager is not installed, but CI must run this test (.ci/run installs it)");
        }
        eprintln!(
            "SKIPPED the_real_alertmanager…: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_am, base) = start_alertmanager(bin, dir.path(), "").await;
    let http = reqwest::Client::new();

    let st = sqlite(dir.path()).await;
    let p = plan(dir.path(), &format!("[[notify.receivers]]\nname = \"r\"\nalertmanager = [{{ url = \"{base}\" }}]\n"));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(p, st.clone(), NotifyMetrics::unregistered(), rx);
    let mut a = alert("DiskFull", "db-1");
    a.annotations.insert("summary".into(), "disk 97% full".into());
    n.update("g".into(), vec![a.clone()]);
    let held = eventually(20, "alertmanager holds the alert", || async {
        let v: serde_json::Value = http.get(format!("{base}/api/v2/alerts")).send().await.ok()?.json().await.ok()?;
        v.as_array()?.iter().find(|x| x["labels"]["alertname"] == "DiskFull").cloned()
    })
    .await;
    assert_eq!(held["labels"]["instance"], "db-1");
    assert_eq!(held["annotations"]["summary"], "disk 97% full");
    assert_eq!(held["status"]["state"], "active");

    a.ends_at = Some(chrono::Utc::now().timestamp_millis());
    n.update("g".into(), vec![a]);
    eventually(20, "alertmanager sees it resolved", || async {
        let v: serde_json::Value = http.get(format!("{base}/api/v2/alerts")).send().await.ok()?.json().await.ok()?;
        (!v.as_array()?.iter().any(|x| x["labels"]["alertname"] == "DiskFull")).then_some(())
    })
    .await;
    let _ = tx.send(true);
}

/// A real Alertmanager with a 2 s `resolve_timeout`: an alert that keeps firing here for 8 s
/// stays active there, because it is forwarded with an `endsAt` ahead and sent again every
/// resend delay (without them the Alertmanager resolved it after its timeout).
#[tokio::test]
async fn an_alert_firing_past_alertmanagers_resolve_timeout_stays_active_there() {
    let Some(bin) = alertmanager_binary() else {
        if std::env::var_os("CI").is_some() {
            panic!("prometheus-alertmanager is not installed, but CI must run this test (.ci/run installs it)");
        }
        eprintln!("SKIPPED an_alert_firing_past…: prometheus-alertmanager is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_am, base) = start_alertmanager(bin, dir.path(), "global:\n  resolve_timeout: 2s\n").await;
    let http = reqwest::Client::new();
    let st = sqlite(dir.path()).await;
    let p = plan(
        dir.path(),
        &format!(
            "[[notify.receivers]]\nname = \"r\"\nalertmanager = [{{ url = \"{base}\", resend_delay = \"1s\" }}]\n"
        ),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(p, st.clone(), NotifyMetrics::unregistered(), rx);
    let active = || async {
        let v: serde_json::Value = http.get(format!("{base}/api/v2/alerts")).send().await.ok()?.json().await.ok()?;
        v.as_array()?.iter().find(|x| x["labels"]["alertname"] == "LongBurn").map(|x| x["status"]["state"].clone())
    };
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(8) {
        // The rules report the firing alert every evaluation.
        n.update("g".into(), vec![alert("LongBurn", "db-1")]);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(active().await, Some(serde_json::json!("active")), "still active 8 s in, past resolve_timeout (2 s)");
    let sent = st.list_outbox(&OutboxFilter::default()).await.unwrap();
    assert!(sent.iter().filter(|r| r.kind == "forward").count() >= 4, "sent again every second: {}", sent.len());
    let _ = tx.send(true);
}

/// The oldest `suppressed` outbox row, once there is one.
async fn last_suppressed(st: &sidewatch::storage::Storage, what: &str) -> sidewatch::storage::OutboxRow {
    eventually(10, what, || async {
        let filter = OutboxFilter { status: Some(sidewatch::storage::OutboxStatus::Suppressed), ..Default::default() };
        st.list_outbox(&filter).await.unwrap().pop()
    })
    .await
}

fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    let out = cmd.current_dir(dir).args(args).output().expect("run sidewatch");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_silence_from_the_cli_mutes_then_releases_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sidewatch.toml"), "[storage]\nurl = \"sqlite://data/t.db\"\n").unwrap();
    let id = cli(
        dir.path(),
        &[
            "silence",
            "add",
            "instance=\"db-1\"",
            "alertname=~\"Disk.*\"",
            "--comment",
            "disk swap",
            "--author",
            "ann",
            "--duration",
            "1h",
        ],
    );
    let id = id.trim().to_string();
    let list = cli(dir.path(), &["silence", "list"]);
    assert!(list.contains(&id) && list.contains("active") && list.contains("disk swap"), "{list}");

    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    let p = plan(
        dir.path(),
        &format!("[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\n", hook.url("/h")),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(p, st.clone(), NotifyMetrics::unregistered(), rx);
    n.update("g".into(), vec![alert("DiskFull", "db-1")]);
    let row = last_suppressed(&st, "suppressed row recorded").await;
    assert!(row.error_text.unwrap().starts_with(&format!("silenced by {id} (ann: disk swap)")));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(hook.received().is_empty(), "silenced alert not sent");

    let out = cli(dir.path(), &["silence", "expire", &id]);
    assert!(out.contains("expired"));
    assert!(cli(dir.path(), &["silence", "list"]).lines().count() == 1, "no active silence");
    // Keep the alert firing; once the silence is gone it is delivered.
    for _ in 0..30 {
        n.update("g".into(), vec![alert("DiskFull", "db-1")]);
        if !hook.received().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(hook.received().len(), 1, "delivered after the silence expired");
    let _ = tx.send(true);
}

// Multi-threaded: the CLI runs as a blocking child process while the fake receivers answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_sends_through_the_real_channel_and_preview_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Recorder::start().await;
    let dead = Recorder::start().await;
    dead.behaviour.status.store(503, std::sync::atomic::Ordering::SeqCst);
    std::fs::write(
        dir.path().join("sidewatch.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:19465\"\nexternal_url = \"https://watch.example\"\n[storage]\nurl = \"sqlite://data/t.db\"\n[notify.route]\nreceiver = \"r\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}, {{ url = \"{}\" }}]\n",
            hook.url("/ok"),
            dead.url("/dead?token=hunter22")
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    let out = cmd.current_dir(dir.path()).args(["notify", "test", "--receiver", "r"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one channel failed: {text}");
    assert!(text.contains("r/webhook/0: sent") && text.contains("r/webhook/1: FAILED: HTTP 503"), "{text}");
    assert!(!text.contains("hunter22"));
    let sent = hook.received()[0].json();
    assert_eq!(sent["alerts"][0]["labels"]["alertname"], "SidewatchTest");
    // The payload names this sidewatch, not a default address.
    assert_eq!(sent["externalURL"], "https://watch.example");
    assert!(sent["alerts"][0]["generatorURL"].as_str().unwrap().starts_with("https://watch.example/graph"), "{sent}");
    assert_eq!(sent["alerts"][0]["labels"]["instance"], "127.0.0.1:19465");
    let hist = cli(dir.path(), &["alerts", "history"]);
    assert!(hist.contains("SidewatchTest (test)") && hist.contains("failed"), "{hist}");

    std::fs::write(
        dir.path().join("alert.yml"),
        "labels: {alertname: HighLatency, instance: web-1, severity: warning}\nannotations: {summary: \"p95 <1s> & rising\"}\nvalue: 1.25\n",
    )
    .unwrap();
    let preview = cli(dir.path(), &["notify", "preview", "--alert", "alert.yml"]);
    for part in ["=== webhook", "=== slack", "=== telegram", "=== email subject", "=== email HTML", "=== alertmanager"]
    {
        assert!(preview.contains(part), "{part} missing: {preview}");
    }
    assert!(preview.contains("p95 &lt;1s&gt; &amp; rising"), "HTML-escaped for Telegram: {preview}");
    assert!(preview.contains("<code>1.25</code>"));
    assert_eq!(hook.received().len(), 1, "preview sends nothing");
}

#[tokio::test]
async fn a_firing_critical_inhibits_the_warning_on_the_same_instance() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    let p = plan(
        dir.path(),
        &format!(
            "[[notify.inhibit_rules]]\nsource_matchers = ['severity=\"critical\"']\ntarget_matchers = ['severity=\"warning\"']\nequal = [\"instance\"]\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\n",
            hook.url("/h")
        ),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(p, st.clone(), NotifyMetrics::unregistered(), rx);
    let crit = alert("DiskFull", "db-1");
    let mut warn_same = alert("DiskFilling", "db-1");
    warn_same.labels.insert("severity".into(), "warning".into());
    let mut warn_other = alert("DiskFilling", "db-2");
    warn_other.labels.insert("severity".into(), "warning".into());
    n.update("g".into(), vec![crit, warn_same, warn_other]);
    let row = last_suppressed(&st, "inhibited row recorded").await;
    assert!(row.error_text.unwrap().starts_with("inhibited by DiskFull"));
    eventually(10, "two notifications delivered", || async { (hook.received().len() == 2).then_some(()) }).await;
    let sent: Vec<String> = hook
        .received()
        .iter()
        .flat_map(|r| {
            r.json()["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["labels"]["instance"].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().filter(|i| i.contains("db-2")).count() == 1, "the warning on db-2 is not inhibited");
    let _ = tx.send(true);
}
