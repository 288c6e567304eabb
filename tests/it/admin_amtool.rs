//! The real `amtool` (Debian's Alertmanager package) against sidewatch's Alertmanager-shaped
//! silence API, with a bearer token from `--http.config.file`: `silence add`, `query`,
//! `expire`, and a read token refused on `add`.

use crate::admin_api::{READ, WRITE, admin};
use crate::common::spawn_app;
use sidewatch::storage::AuditRepo;
use std::process::Command;

fn amtool() -> Option<&'static str> {
    ["/usr/bin/amtool", "/usr/local/bin/amtool"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// Runs amtool against `url` with `token`; (success, stdout + stderr).
async fn run(bin: &'static str, url: String, dir: std::path::PathBuf, token: &str, args: &[&str]) -> (bool, String) {
    let cfg = dir.join(format!("http-{}.yml", &token[..4]));
    std::fs::write(&cfg, format!("authorization:\n  type: Bearer\n  credentials: {token}\n")).unwrap();
    let mut all = vec![format!("--alertmanager.url={url}"), format!("--http.config.file={}", cfg.display())];
    all.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let out = Command::new(bin).args(&all).output().expect("run amtool");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn amtool_adds_queries_and_expires_silences() {
    let Some(bin) = amtool() else {
        if std::env::var_os("CI").is_some() {
            panic!("amtool is not installed, but CI must run this test (.ci/run installs prometheus-alertmanager)");
        }
        eprintln!(
            "SKIPPED amtool_adds_queries_and_expires_silences: amtool is not installed (apt-get install prometheus-alertmanager)"
        );
        return;
    };
    let app = spawn_app(&admin("write_enabled = true")).await;
    let url = app.url("");
    let dir = app.dir.path().to_path_buf();
    let (ok, out) = run(
        bin,
        url.clone(),
        dir.clone(),
        WRITE,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "instance=~db-.*",
            "--comment=disk swap",
            "--author=oncall-amy",
            "--duration=2h",
        ],
    )
    .await;
    assert!(ok, "amtool silence add: {out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "a silence id: {out}");

    let (ok, out) = run(bin, url.clone(), dir.clone(), READ, &["silence", "query", "-o", "json"]).await;
    assert!(ok, "amtool silence query: {out}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("JSON: {out}"));
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["createdBy"], "oncall-amy");
    let (ok, out) = run(bin, url.clone(), dir.clone(), READ, &["silence", "query", "alertname=DiskFull"]).await;
    assert!(ok && out.contains(&id), "query by matcher: {out}");
    let (ok, out) = run(bin, url.clone(), dir.clone(), READ, &["silence", "query", "alertname=Other"]).await;
    assert!(ok && !out.contains(&id), "a filter that does not match: {out}");

    // A read token cannot add.
    let (ok, out) = run(bin, url.clone(), dir.clone(), READ, &["silence", "add", "alertname=X", "--comment=c"]).await;
    assert!(!ok, "a read token added a silence: {out}");

    let (ok, out) = run(bin, url.clone(), dir.clone(), WRITE, &["silence", "expire", &id]).await;
    assert!(ok, "amtool silence expire: {out}");
    let (ok, out) = run(bin, url.clone(), dir.clone(), READ, &["silence", "query", "--expired", "-o", "json"]).await;
    assert!(ok, "{out}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["status"]["state"], "expired", "{out}");
    let audit = app.storage.list_audit(&Default::default()).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "silence.create" && r.actor == "oncall-amy" && r.token_name == "oncall"));
    assert!(audit.iter().any(|r| r.action == "silence.expire"));
    assert!(audit.iter().any(|r| r.detail == "insufficient_role" && r.token_name == "viewer"));
    app.stop().await;
}
