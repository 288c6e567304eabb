//! Helpers of the storm tests: a real `sidewatch` process, and what a webhook received.

use super::receivers::Recorder;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

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
