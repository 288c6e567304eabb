//! The files people deploy with (`deploy/`): the Grafana dashboard's queries parse and name
//! only metrics sidewatch exposes; the Kubernetes manifest is valid YAML whose sidecar runs
//! `sidewatch run` with probes on `/readyz` and `/healthz` and whose embedded configuration
//! loads; the systemd unit and the container file run the binary the way the README says.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Every `"sidewatch_…"` metric name written in the sources.
fn metric_names() -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                for part in text.split("\"sidewatch_").skip(1) {
                    let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    names.insert(format!("sidewatch_{name}"));
                }
            }
        }
    }
    names
}

#[test]
fn the_grafana_dashboard_queries_parse_and_name_real_metrics() {
    let dash: serde_json::Value = serde_json::from_str(&read("deploy/grafana-dashboard.json")).unwrap();
    let known = metric_names();
    let mut exprs = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            exprs += 1;
            sidewatch::promql::Engine::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("sidewatch_") {
                    let base = word.trim_end_matches("_bucket");
                    assert!(known.contains(base), "panel {:?} uses unknown metric {word}", panel["title"]);
                }
            }
        }
    }
    assert!(exprs >= 10);
}

#[test]
fn the_kubernetes_sidecar_manifest_is_valid_and_its_configuration_loads() {
    let text = read("deploy/kubernetes-sidecar.yaml");
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| yaml_serde::from_str::<serde_json::Value>(d).unwrap_or_else(|e| panic!("YAML: {e}")))
        .collect();
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let toml = cm["data"]["sidewatch.toml"].as_str().unwrap();
    let env: Vec<(String, String)> =
        [("DB_PASSWORD", "x"), ("POD_NAME", "api-0"), ("SIDEWATCH_ADMIN_TOKEN", "0123456789abcdef0123")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    sidewatch::settings::load_from_str(toml, Some(Path::new("sidewatch.toml")), &env)
        .expect("the embedded configuration loads");
    let dep = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let side = dep["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sidewatch")
        .unwrap();
    assert_eq!(side["args"], serde_json::json!(["--config", "/etc/sidewatch/sidewatch.toml", "run"]));
    assert_eq!(side["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(side["livenessProbe"]["httpGet"]["path"], "/healthz");
}

#[test]
fn the_systemd_unit_and_the_container_file_run_sidewatch() {
    let unit = read("deploy/sidewatch.service");
    for line in [
        "ExecStart=/usr/local/bin/sidewatch --config /etc/sidewatch/sidewatch.toml run",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "[Install]",
    ] {
        assert!(unit.contains(line), "{line}");
    }
    let cf = read("deploy/Containerfile");
    assert!(cf.contains("cargo build --release --locked") && cf.contains("ENTRYPOINT [\"/usr/local/bin/sidewatch\"]"));
    assert!(cf.contains("CMD [\"/usr/local/bin/sidewatch\", \"healthcheck\"]") && cf.contains("USER sidewatch"));
    // Nothing listens on port 1: the health check fails, and says why.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sidewatch"))
        .args(["healthcheck", "--url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:1/healthz"));
}

#[test]
fn the_example_configurations_pass_config_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut checked = 0;
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let path = e.path();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sidewatch"))
            .arg("--config")
            .arg(&path)
            .args(["config", "check"])
            .env("SLACK_WEBHOOK_URL", "https://hooks.slack.invalid/x")
            .env("TELEGRAM_BOT_TOKEN", "123:abc")
            .env("TELEGRAM_CHAT_ID", "1")
            .env("SIDEWATCH_ADMIN_TOKEN", "0123456789abcdef0123")
            .env("SIDEWATCH_INGEST_TOKEN", "0123456789abcdef0123")
            .env("SMTP_PASS", "x")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {text}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(probe) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED systemd_analyze_verifies_the_unit: systemd-analyze is not installed");
        return;
    };
    assert!(probe.status.success());
    // The unit names /usr/local/bin/sidewatch; verify a copy that names the binary just built.
    let dir = tempfile::tempdir().unwrap();
    let unit = read("deploy/sidewatch.service").replace("/usr/local/bin/sidewatch", env!("CARGO_BIN_EXE_sidewatch"));
    let path = dir.path().join("sidewatch.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Lines about other units on the machine are not this unit's problem.
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("sidewatch.service")).collect();
    assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify:\n{text}");
}
