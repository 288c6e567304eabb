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
/// `lint`: (run the lint checks, exit 3 on a warning).
pub(super) fn check(
    paths: &[PathBuf],
    json: bool,
    scrape_interval_ms: i64,
    target_urls: &[String],
    (lint, lint_fatal): (bool, bool),
) -> ExitCode {
    let mut failed = false;
    let mut warned = false;
    let mut report = Vec::new();
    let files = rule_files(paths);
    let loaded: Vec<_> = files.iter().map(|f| crate::rules::file::load(f, 15_000)).collect();
    // Metric names the configured targets expose now, plus what the rules record themselves.
    let exposed = exposed_metrics(target_urls).map(|mut names| {
        for g in loaded.iter().flatten().flatten() {
            names.extend(g.rules.iter().filter_map(|r| r.record.clone()));
        }
        names
    });
    for (f, result) in files.iter().zip(loaded) {
        let name = f.display().to_string();
        let (rules, errors, warnings) = match result {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                let mut w = Vec::new();
                if lint {
                    w.extend(crate::rules::lint::lint(&groups, scrape_interval_ms));
                    if let Some(exposed) = &exposed {
                        w.extend(crate::rules::lint::never_returns(&groups, exposed));
                    }
                }
                (n, Vec::new(), w)
            }
            Err(errs) => (0, errs, Vec::new()),
        };
        failed |= !errors.is_empty();
        warned |= !warnings.is_empty();
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
    if failed {
        ExitCode::from(1)
    } else if warned && lint_fatal {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// The metric names the targets expose right now (`None` when there are no targets or none
/// answered: then nothing is said about unexposed metrics).
fn exposed_metrics(urls: &[String]) -> Option<std::collections::HashSet<String>> {
    if urls.is_empty() {
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().ok()?;
    let mut names = std::collections::HashSet::new();
    let mut any = false;
    for url in urls {
        let body = rt.block_on(async { client.get(url).send().await.ok()?.text().await.ok() });
        let Some(body) = body else {
            eprintln!("note: cannot read {url}; metrics it exposes are not checked");
            continue;
        };
        any = true;
        for line in body.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let n = &line[..end];
            names.insert(n.to_string());
            // A histogram's or summary's base name is what `histogram_quantile` users select.
            for suffix in ["_bucket", "_count", "_sum", "_total"] {
                if let Some(base) = n.strip_suffix(suffix) {
                    names.insert(base.to_string());
                }
            }
        }
    }
    any.then_some(names)
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
