//! `sidewatch check rules` and `sidewatch test rules`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Rule files named directly or found (`*.yml`, `*.yaml`) in a named directory.
fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// `sidewatch check rules PATH…`: errors (exit 1) and warnings, as text or JSON.
pub(super) fn check(paths: &[PathBuf], json: bool, scrape_interval_ms: i64) -> ExitCode {
    let mut failed = false;
    let mut report = Vec::new();
    for f in rule_files(paths) {
        let name = f.display().to_string();
        let (rules, errors, warnings) = match crate::rules::file::load(&f, 15_000) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                (n, Vec::new(), crate::rules::lint::lint(&groups, scrape_interval_ms))
            }
            Err(errs) => (0, errs, Vec::new()),
        };
        failed |= !errors.is_empty();
        if json {
            report.push(serde_json::json!({
                "file": name,
                "rules": rules,
                "errors": errors.iter().map(|e| serde_json::json!({"line": e.line, "column": e.column, "message": e.msg})).collect::<Vec<_>>(),
                "warnings": warnings,
            }));
            continue;
        }
        println!("Checking {name}");
        if errors.is_empty() {
            println!("  SUCCESS: {rules} rules found");
        } else {
            println!("  FAILED:");
            for e in &errors {
                println!("{e}");
            }
        }
        for w in &warnings {
            println!("{name}:{}: warning: {}", w.line, w.message);
        }
    }
    if json {
        println!("{}", serde_json::json!({"files": report, "success": !failed}));
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `sidewatch test rules FILE…`
pub(super) fn test(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        match crate::rules::unittest::run_file(Path::new(f)) {
            Ok(r) => {
                for s in &r.skipped {
                    println!("  SKIPPED: {s}");
                }
                if r.failures.is_empty() {
                    println!("  SUCCESS");
                } else {
                    failed = true;
                    println!("  FAILED:");
                    for fail in &r.failures {
                        println!("{fail}");
                    }
                }
            }
            Err(errs) => {
                failed = true;
                println!("  FAILED:");
                for e in errs {
                    println!("    {e}");
                }
            }
        }
        println!();
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
