//! `sidewatch test rules` on promtool's own examples (`../shared/conformance/promtool/`) and
//! `sidewatch check rules` on good and bad rule files.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");

fn promtool_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/promtool");
    if d.is_dir() {
        return Some(d);
    }
    assert!(std::env::var("CI").is_err(), "CI must have ../shared/conformance/promtool");
    eprintln!("SKIPPED: ../shared/conformance/promtool is absent (it sits beside the clone in CI)");
    None
}

fn run(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn promtool_examples_pass() {
    let Some(dir) = promtool_dir() else { return };
    for f in ["long-period.yml", "at-modifier-test.yml", "negative-offset-test.yml", "unittest.yml"] {
        let (code, out) = run(&["test", "rules", f], &dir);
        assert_eq!(code, 0, "{f}:\n{out}");
        assert!(out.contains("SUCCESS"), "{f}:\n{out}");
    }
    let (_, out) = run(&["test", "rules", "unittest.yml"], &dir);
    assert!(out.contains("SKIPPED") && out.contains("native histograms"), "{out}");
}

#[test]
fn promtool_failing_example_fails_with_its_diffs() {
    let Some(dir) = promtool_dir() else { return };
    let (code, out) = run(&["test", "rules", "failing.yml"], &dir);
    assert_eq!(code, 1, "{out}");
    for want in [
        "alertname: Test, time: 0s",
        "expr: \"test\", time: 0m",
        "exp: [test 1]",
        "got: [test 0]",
        "alertname: InstanceDown, time: 5m",
        "alertname: AlwaysFiring, time: 5m",
        "labels {alertname=\"InstanceDown\", job=\"test\", severity=\"page\"}",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn check_rules_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up == 0\n        for: 1m\n        labels: {severity: critical}\n        annotations: {summary: \"{{ $labels.instance }} down\"}\n";
    std::fs::write(dir.path().join("good.yml"), good).unwrap();
    let (code, out) = run(&["check", "rules", "good.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS: 1 rules found"), "{out}");

    let bad = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n      - record: job:x\n        expr: x\n        forr: 1m\n";
    std::fs::write(dir.path().join("bad.yml"), bad).unwrap();
    let (code, out) = run(&["check", "rules", "bad.yml"], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.yml:") && out.contains("unknown field `forr`"), "{out}");

    let bad = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n      - alert: B\n        expr: up\n        annotations:\n          summary: \"{{ $labels.x \"\n  - name: g\n    rules: []\n";
    std::fs::write(dir.path().join("bad2.yml"), bad).unwrap();
    let (code, out) = run(&["check", "rules", "bad2.yml"], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad2.yml:5:30: A: could not parse expression: 1:16: parse error: unclosed left parenthesis"),
        "{out}"
    );
    assert!(out.contains("bad2.yml:6: B: annotation \"summary\": template:"), "{out}");
    assert!(out.contains("bad2.yml:10: groupname: \"g\" is repeated in the same file"), "{out}");
}

#[test]
fn check_rules_warns_about_what_reviewers_miss() {
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"groups:
  - name: g
    interval: 1m
    rules:
      - record: errors_ratio
        expr: sum(rate(http_requests_total{status=~"5.."}[20s]))
      - alert: Quick
        expr: up == 0
        for: 30s
      - alert: Dup
        expr: up == 0
        labels: {severity: warning}
        annotations: {summary: s, runbook_url: r}
      - alert: Dup
        expr: up == 0
        labels: {severity: critical}
        annotations: {summary: s, runbook_url: r}
"#;
    std::fs::write(dir.path().join("w.yml"), rules).unwrap();
    let (code, out) = run(&["check", "rules", "--lint", "all", "w.yml"], dir.path());
    assert_eq!(code, 0, "warnings do not fail the check:\n{out}");
    for want in [
        "w.yml:5: warning: errors_ratio: rate(http_requests_total{status=~\"5..\"}[20s]) covers 20s but needs at least two scrapes (2 × 15s scrape interval)",
        "w.yml:5: warning: errors_ratio: recording rule names should be level:metric:operations",
        "w.yml:7: warning: Quick: for (30s) is shorter than the group interval (1m)",
        "w.yml:7: warning: Quick: no severity label",
        "w.yml:7: warning: Quick: no summary annotation",
        "w.yml:7: warning: Quick: no runbook_url annotation",
        "warning: Dup: alert defined with different severities in group \"g\": critical, warning",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let (code, out) = run(&["check", "rules", "--lint", "all", "--format", "json", "w.yml"], dir.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["files"][0]["rules"], 4);
    assert!(v["files"][0]["warnings"].as_array().unwrap().len() >= 7, "{v}");
}

/// The shipped rule packs: `check rules rules/` is clean (no errors, no warnings), every pack's
/// unit tests pass, and every alert's runbook exists.
#[test]
fn rule_packs_are_clean_tested_and_have_runbooks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out) = run(&["check", "rules", "--lint", "all", "rules/"], root);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning"), "packs must lint clean:\n{out}");
    let mut tests: Vec<String> = std::fs::read_dir(root.join("rules/tests"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with("_test.yml"))
        .collect();
    tests.sort();
    let packs = std::fs::read_dir(root.join("rules"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yml"))
        .count();
    assert_eq!(tests.len(), packs, "one unit-test file per pack");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let (code, out) = run(&args, root);
    assert_eq!(code, 0, "{out}");
    for pack in std::fs::read_dir(root.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
    {
        let text = std::fs::read_to_string(&pack).unwrap();
        for line in text.lines().filter(|l| l.trim_start().starts_with("- alert:")) {
            let name = line.split(':').nth(1).unwrap().trim();
            assert!(
                root.join(format!("docs/runbooks/{name}.md")).exists(),
                "no runbook for {name} ({})",
                pack.display()
            );
            assert!(text.contains(&format!("runbook_url: docs/runbooks/{name}.md")), "{name} must link its runbook");
        }
    }
}

#[tokio::test]
async fn check_rules_warns_about_metrics_no_target_exposes() {
    let server = crate::common::FakeServer::start(axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async { "# TYPE http_requests_total counter\nhttp_requests_total{status=\"200\"} 5\n" }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sidewatch.toml"),
        format!("[[targets]]\nname = \"api\"\nmetrics_url = \"{}\"\n", server.url("/metrics")),
    )
    .unwrap();
    let rules = "groups:\n  - name: g\n    rules:\n      - record: job:req:rate5m\n        expr: sum(rate(http_requests_total[5m]))\n      - alert: A\n        expr: job:req:rate5m > 1 and up == 1\n        labels: {severity: warning}\n        annotations: {summary: s, runbook_url: r}\n      - alert: B\n        expr: rate(http_errors_total[5m]) > 0\n        labels: {severity: warning}\n        annotations: {summary: s, runbook_url: r}\n";
    std::fs::write(dir.path().join("r.yml"), rules).unwrap();
    let path = dir.path().to_path_buf();
    let (code, out) =
        tokio::task::spawn_blocking(move || run(&["check", "rules", "--lint", "all", "r.yml"], &path)).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("r.yml:10: warning: B: no target exposes http_errors_total"), "{out}");
    assert_eq!(out.matches("no target exposes").count(), 1, "{out}");
}

/// As promtool, a test without `eval_time` evaluates at 0.
#[test]
fn a_test_without_eval_time_evaluates_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t.yml"),
        "rule_files: [r.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'up{job=\"a\"}'\n        values: '1 0'\n    promql_expr_test:\n      - expr: job:up:sum\n        exp_samples:\n          - labels: 'job:up:sum'\n            value: 1\n",
    )
    .unwrap();
    let (code, out) = run(&["test", "rules", "t.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
}

/// `check rules --lint none` is quiet about lint; `--lint-fatal` exits 3 on a lint warning, as
/// promtool does.
#[test]
fn lint_can_be_turned_off_or_made_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: NoRunbook\n        expr: up == 0\n",
    )
    .unwrap();
    // promtool's default is --lint duplicate-rules: a missing runbook is not reported.
    let (code, out) = run(&["check", "rules", "r.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning"), "only duplicate-rules by default: {out}");
    let (code, out) = run(&["check", "rules", "--lint", "all", "r.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning"), "{out}");
    let (code, out) = run(&["check", "rules", "--lint", "none", "r.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning"), "{out}");
    let (code, out) = run(&["check", "rules", "--lint", "all", "--lint-fatal", "r.yml"], dir.path());
    assert_eq!(code, 3, "{out}");
    let (code, out) = run(&["check", "rules", "--lint-fatal", "r.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    let (code, _) = run(&["check", "rules", "--lint", "none", "--lint-fatal", "r.yml"], dir.path());
    assert_eq!(code, 0);

    // Checks by name, as promtool's --lint=duplicate-rules.
    std::fs::write(
        dir.path().join("dup.yml"),
        "groups:\n  - name: a\n    rules:\n      - record: job:x:sum\n        expr: sum(up)\n  - name: b\n    rules:\n      - record: job:x:sum\n        expr: sum(up)\n      - alert: NoRunbook\n        expr: up == 0\n",
    )
    .unwrap();
    let (code, out) = run(&["check", "rules", "--lint", "duplicate-rules", "--lint-fatal", "dup.yml"], dir.path());
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(
            "dup.yml:8: warning: job:x:sum: 2 rules with the same name and labels {} (lines 4, 8) [duplicate-rules]"
        ),
        "{out}"
    );
    assert!(!out.contains("runbook_url"), "only the named check: {out}");
    let (code, out) = run(&["check", "rules", "--lint", "missing-runbook-url,missing-summary", "dup.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[missing-runbook-url]") && !out.contains("[duplicate-rules]"), "{out}");
    let (code, out) = run(&["check", "rules", "--lint", "no-such-check", "dup.yml"], dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown lint check \"no-such-check\""), "{out}");
}

#[test]
fn parse_errors_name_the_position_inside_the_expression_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // The same file promtool 2.42 reports as 1:19 "unexpected end of input", 3:1 "… inside
    // braces" and 1:5 "unexpected identifier", each mapped here to the file's line and column.
    let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])) >\n      - alert: B\n        expr: |\n          sum by (job) (rate(x[5m]))\n            > on(job) foo{a=\"b\"\n      - alert: D\n        expr: foo bar\n";
    std::fs::write(dir.path().join("r.yml"), text).unwrap();
    let (code, out) = run(&["check", "rules", "r.yml"], dir.path());
    assert_eq!(code, 1, "{out}");
    for want in [
        "r.yml:5:33: A: could not parse expression: 1:19: parse error: unexpected end of input",
        "r.yml:10:1: B: could not parse expression: 3:1: parse error: unexpected end of input inside braces",
        "r.yml:11:19: D: could not parse expression: 1:5: parse error: unexpected identifier \"bar\"",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn test_rules_runs_only_matching_groups_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 1m\n",
    )
    .unwrap();
    let test = "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - name: fires\n    interval: 1m\n    input_series:\n      - series: 'up{job=\"a\"}'\n        values: '0 0 0'\n    alert_rule_test:\n      - eval_time: 2m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {job: a}\n  - name: wrong\n    interval: 1m\n    input_series:\n      - series: 'up{job=\"a\"}'\n        values: '1 1 1'\n    alert_rule_test:\n      - eval_time: 2m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {job: a}\n";
    std::fs::write(dir.path().join("t.yml"), test).unwrap();
    let (code, out) = run(&["test", "rules", "--junit", "all.xml", "t.yml"], dir.path());
    assert_eq!(code, 1, "{out}");
    let xml = std::fs::read_to_string(dir.path().join("all.xml")).unwrap();
    assert!(xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<testcase name=\"fires\"") && xml.contains("<testcase name=\"wrong\""), "{xml}");
    assert!(xml.contains("<failure") && xml.contains("alertname: Down"), "{xml}");

    // --run searches the name, as promtool's (`regexp.MatchString`): `fire` picks `fires` only.
    let (code, out) = run(&["test", "rules", "--run", "fire", "--junit", "one.xml", "t.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    let xml = std::fs::read_to_string(dir.path().join("one.xml")).unwrap();
    assert!(xml.contains("tests=\"1\"") && xml.contains("failures=\"0\"") && !xml.contains("wrong"), "{xml}");
    let (code, out) = run(&["test", "rules", "--run", "^wr", "--run", "nothing", "t.yml"], dir.path());
    assert_eq!(code, 1, "{out}");
    // promtool's spelling: --junit on `test`.
    let (code, out) = run(&["test", "--junit", "promtool.xml", "rules", "--run", "fire", "t.yml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(dir.path().join("promtool.xml")).unwrap().contains("<testcase name=\"fires\""));
    let (code, out) = run(&["test", "rules", "--run", "(", "t.yml"], dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--run: not a regular expression"), "{out}");
}
