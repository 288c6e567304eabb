//! Bench inputs: the conformance exposition and snapshots of the reference workload from
//! `../shared/bench/gen_metrics.py`, generated once into `$SIDEWATCH_BENCH_DATA` (default
//! `~/.cache/sw-bench`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The folder bench data is kept in.
pub(crate) fn data_dir() -> PathBuf {
    std::env::var_os("SIDEWATCH_BENCH_DATA").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/sw-bench")
    })
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// A file from `../shared/conformance/exposition/`, or `None` (with a note) without `../shared`.
pub(crate) fn conformance(name: &str) -> Option<Vec<u8>> {
    let p = shared().join("conformance/exposition").join(name);
    let r = std::fs::read(&p).ok();
    if r.is_none() {
        eprintln!("skipped {name}: {} not found (../shared is not beside this clone)", p.display());
    }
    r
}

/// `snapshots` consecutive snapshots of `series` series, `step` seconds apart, generating
/// them with gen_metrics.py when missing. Returns their paths in order.
pub(crate) fn snapshots(series: usize, snapshots: usize, step: u32) -> Option<Vec<PathBuf>> {
    let dir = data_dir().join(format!("snaps-{}k-{snapshots}", series / 1000));
    let paths: Vec<PathBuf> = (0..snapshots).map(|k| dir.join(format!("snap_{k:04}.prom"))).collect();
    if !paths.iter().all(|p| p.exists()) {
        let gen_script = shared().join("bench/gen_metrics.py");
        if !gen_script.exists() {
            eprintln!("skipped: {} not found (../shared is not beside this clone)", gen_script.display());
            return None;
        }
        eprintln!("generating {snapshots} snapshots of {series} series into {}", dir.display());
        let ok = Command::new("python3")
            .arg(&gen_script)
            .args(["--series", &series.to_string(), "--snapshots", &snapshots.to_string(), "--step", &step.to_string()])
            .arg("--outdir")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: gen_metrics.py failed");
            return None;
        }
    }
    Some(paths)
}

/// A `/proc/self/status` field in KiB (`"VmRSS:"`, `"VmHWM:"`); 0 when absent.
pub(crate) fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
