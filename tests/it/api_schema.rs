//! schemathesis (PyPI) against a running sidewatch with a write token: every operation of
//! `/api/v1/openapi.json` is called with generated valid and invalid inputs; no answer may be
//! a server error, and every answer's status, content type and body must match the document.

use crate::admin_api::{WRITE, admin};
use std::process::Command;

fn schemathesis() -> Option<String> {
    let found = |name: &str| {
        Command::new(name).arg("--version").output().ok().filter(|o| o.status.success()).map(|_| name.to_string())
    };
    found("schemathesis").or_else(|| found("st"))
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let Some(bin) = schemathesis() else {
        if std::env::var_os("CI").is_some() {
            panic!("schemathesis is not installed, but CI must run this test (.ci/run installs it)");
        }
        eprintln!("SKIPPED schemathesis_finds…: schemathesis is not installed (python3 -m pip install schemathesis)");
        return;
    };
    let rules = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n        labels:\n          severity: warning\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), rules).unwrap();
    let extra = format!(
        "{}\n[rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\n[ingest]\ntoken = \"ingest-token-0123456789\"\n",
        admin("write_enabled = true")
    );
    let app = crate::common::spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let schema = app.url("/api/v1/openapi.json");
    let base = app.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["run", &schema, "--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--max-examples", "15", "--seed", "20261206", "--phases", "examples,coverage,fuzzing"])
            .args(["--request-timeout", "20", "--workers", "1"])
            .args(["-H", &format!("Authorization: Bearer {WRITE}"), "-H", "X-Actor: schemathesis"])
            .env("NO_COLOR", "1")
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // The summary (operations, test cases) for the log.
    for line in text.lines().filter(|l| l.contains("cases") || l.contains("passed") || l.contains("Operations")) {
        eprintln!("schemathesis: {line}");
    }
    // (One worker: hypothesis' lambda descriptions are not thread-safe on Python 3.11.)
    let tail: Vec<&str> = text.lines().rev().take(120).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(out.status.success(), "schemathesis found problems:\n{}", tail.join("\n"));
    assert!(!text.contains(WRITE), "the token was echoed");
    app.stop().await;
}
