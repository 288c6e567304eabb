//! Helpers of the storm tests: a target exposing `n` firing series, the rule that alerts on
//! each, a real `sidewatch` process, and what a webhook received.

use super::FakeServer;
use super::receivers::Recorder;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

/// A target exposing `storm{i="0"} 1` … `storm{i="<n-1>"} 1`.
pub(crate) async fn target(n: usize) -> FakeServer {
    let body: String = (0..n).map(|i| format!("storm{{i=\"{i}\"}} 1\n")).collect();
    FakeServer::start(axum::Router::new().route("/metrics", axum::routing::get(move || async move { body }))).await
}

/// Writes `rules/storm.yml` in `dir`: alert `Storm` on every `storm` series, evaluated every second.
pub(crate) fn write_rule(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/storm.yml"),
        "groups:\n  - name: storm\n    interval: 1s\n    rules:\n      - alert: Storm\n        expr: storm > 0\n",
    )
    .unwrap();
}

/// Starts `sidewatch --config sidewatch.toml run` in `dir` (no `SIDEWATCH_*` from the test).
pub(crate) fn start(dir: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sidewatch"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(dir)
        .args(["--config", "sidewatch.toml", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sidewatch")
}

/// Each alert's `i` label → how many times a notification carried it (firing).
pub(crate) fn delivered(hook: &Recorder) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in hook.received() {
        for a in r.json()["alerts"].as_array().cloned().unwrap_or_default() {
            if a["status"] == "firing"
                && let Some(i) = a["labels"]["i"].as_str()
            {
                *seen.entry(i.to_string()).or_insert(0) += 1;
            }
        }
    }
    seen
}
