//! `sidewatch check rules` and `sidewatch test rules`.

use crate::rules::unittest::{Case, Outcome};
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
/// `lint`: (the lint checks to run, exit 3 on a warning).
pub(super) fn check(
    paths: &[PathBuf],
    json: bool,
    scrape_interval_ms: i64,
    target_urls: &[String],
    (lint, lint_fatal): (Vec<&'static str>, bool),
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
                if !lint.is_empty() {
                    w.extend(crate::rules::lint::duplicates(&groups));
                    w.extend(crate::rules::lint::lint(&groups, scrape_interval_ms));
                    if let Some(exposed) = &exposed {
                        w.extend(crate::rules::lint::never_returns(&groups, exposed));
                    }
                    w.retain(|x| lint.contains(&x.check));
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
            println!("{name}:{}: warning: {} [{}]", w.line, w.message, w.check);
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

/// `sidewatch test rules [--run REGEX] [--junit FILE] FILE…`: promtool's output, exit 1 on a
/// failure.
pub(super) fn test(files: &[PathBuf], only: &[String], junit: Option<&Path>) -> ExitCode {
    // As promtool: the expressions joined by `|`, found anywhere in the name (not anchored).
    let only = (!only.is_empty()).then(|| regex::Regex::new(&only.join("|")));
    let only = match only.transpose() {
        Ok(re) => re,
        Err(e) => {
            eprintln!("--run: not a regular expression: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    let mut xml = quick_junit::Report::new("sidewatch test rules");
    for f in files {
        println!("Unit Testing:  {}", f.display());
        let mut suite = quick_junit::TestSuite::new(f.display().to_string());
        match crate::rules::unittest::run_file(Path::new(f), only.as_ref()) {
            Ok(r) => {
                for c in &r.cases {
                    if let Outcome::Skipped(why) = &c.outcome {
                        println!("  SKIPPED: {}: {why}", c.name);
                    }
                }
                if r.failures().next().is_none() {
                    println!("  SUCCESS");
                } else {
                    failed = true;
                    println!("  FAILED:");
                    for (name, fail) in r.failures() {
                        println!("  {name}:\n{fail}");
                    }
                }
                suite.add_test_cases(r.cases.iter().map(junit_case));
            }
            Err(errs) => {
                failed = true;
                println!("  FAILED:");
                for e in &errs {
                    println!("    {e}");
                }
                let mut status = quick_junit::TestCaseStatus::non_success(quick_junit::NonSuccessKind::Error);
                status.set_message("the test file cannot be used").set_description(errs.join("\n"));
                suite.add_test_case(quick_junit::TestCase::new(f.display().to_string(), status));
            }
        }
        xml.add_test_suite(suite);
        println!();
    }
    if let Some(path) = junit {
        let written =
            xml.to_string().map_err(|e| e.to_string()).and_then(|s| std::fs::write(path, s).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("--junit {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// One test group as a JUnit test case.
fn junit_case(c: &Case) -> quick_junit::TestCase {
    use quick_junit::{NonSuccessKind, TestCaseStatus};
    let status = match &c.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped(why) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(why.clone());
            s
        }
        Outcome::Failed(diff) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message("the rules did not give what the test expects").set_description(diff.clone());
            s
        }
    };
    let mut case = quick_junit::TestCase::new(c.name.clone(), status);
    case.set_time(c.took);
    case
}

/// `sidewatch rules export DIR [--force]`: the built-in packs and runbooks as files.
pub(super) fn export(dir: &Path, force: bool) -> ExitCode {
    use crate::rules::packs;
    if !force {
        let existing: Vec<String> = [("rules", packs::RULES), ("runbooks", packs::RUNBOOKS)]
            .iter()
            .flat_map(|(sub, files)| files.iter().map(move |(n, _)| dir.join(sub).join(n)))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            eprintln!("{} file(s) already there, e.g. {}; add --force to replace them", existing.len(), existing[0]);
            return ExitCode::from(1);
        }
    }
    match packs::write(dir) {
        Ok(()) => {
            println!(
                "wrote {} rule packs to {} and {} runbooks to {}\nuse them: [rules] files = [\"{}/*.yml\"], [notify] runbooks_dir = \"{}\"",
                packs::RULES.len(),
                dir.join("rules").display(),
                packs::RUNBOOKS.len(),
                dir.join("runbooks").display(),
                dir.join("rules").display(),
                dir.join("runbooks").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
