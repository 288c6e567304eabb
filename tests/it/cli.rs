//! The command line as a user meets it: `config check` and `config print` on good and bad
//! files, environment overrides, usage errors, and `run` stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");

fn sidewatch(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIDEWATCH_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run sidewatch")
}

fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sidewatch.toml"), text).unwrap();
    let out = sidewatch(dir.path(), &["config", "check"], &[]);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn config_check_names_a_misspelt_key() {
    let (code, msg) = check("[server]\nlistn = \"127.0.0.1:9465\"\n");
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("unknown key \"listn\" in [server] of sidewatch.toml; did you mean \"listen\"?"), "{msg}");
}

#[test]
fn config_check_names_a_bad_type() {
    let (code, msg) = check("[storage]\nmax_connections = \"eight\"\n");
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("\"max_connections\" in [storage] of sidewatch.toml (line 2)"), "{msg}");
    let (code, msg) = check("[server]\nmax_body_bytes = \"lots\"\n");
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("invalid size \"lots\""), "{msg}");
}

#[test]
fn config_check_names_an_unknown_section() {
    let (code, msg) = check("[strage]\nurl = \"sqlite://x.db\"\n");
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("unknown section [strage]") && msg.contains("did you mean [storage]?"), "{msg}");
}

#[test]
fn config_check_reports_every_semantic_error() {
    let (code, msg) =
        check("[server]\nlisten = \"nowhere\"\n[storage]\nurl = \"mysql://x\"\n[log]\nlevel = \"loud\"\n");
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("\"listen\" in [server]") && msg.contains("is not host:port"), "{msg}");
    assert!(msg.contains("\"url\" in [storage]"), "{msg}");
    assert!(msg.contains("\"level\" in [log]"), "{msg}");
}

#[test]
fn config_check_accepts_a_good_file_and_no_file() {
    let (code, msg) = check("[server]\nlisten = \"127.0.0.1:9999\"\n");
    assert_eq!(code, 0, "{msg}");
    assert!(msg.contains("configuration is valid"));
    let empty = tempfile::tempdir().unwrap();
    let out = sidewatch(empty.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in defaults"));
}

#[test]
fn missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = sidewatch(dir.path(), &["--config", "nope.toml", "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file nope.toml"));
}

#[test]
fn env_overrides_show_in_config_print_and_secrets_do_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sidewatch.toml"), "[storage]\nurl = \"postgres://sw:${DB_PASS}@db:5432/sw\"\n")
        .unwrap();
    let out = sidewatch(
        dir.path(),
        &["config", "print", "--format", "json"],
        &[
            ("SIDEWATCH_SERVER__LISTEN", "0.0.0.0:9999"),
            ("SIDEWATCH_STORAGE__MAX_CONNECTIONS", "3"),
            ("DB_PASS", "hunter2"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(v["server"]["listen"], "0.0.0.0:9999");
    assert_eq!(v["storage"]["max_connections"], 3);
    assert_eq!(v["storage"]["url"], "postgres://sw:***@db:5432/sw");
    assert!(!printed.contains("hunter2"));
    // The TOML form is itself a loadable config.
    let out = sidewatch(dir.path(), &["config", "print"], &[("DB_PASS", "x")]);
    let toml_text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(dir.path().join("printed.toml"), &toml_text).unwrap();
    let out = sidewatch(dir.path(), &["--config", "printed.toml", "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{toml_text}");
}

#[test]
fn a_missing_variable_is_named() {
    let (code, msg) = check("[storage]\nurl = \"postgres://u:${SW_NOT_SET_ANYWHERE}@h/db\"\n");
    assert_eq!(code, 1);
    assert!(msg.contains("environment variable SW_NOT_SET_ANYWHERE is not set"), "{msg}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(sidewatch(dir.path(), &["frobnicate"], &[]).status.code(), Some(2));
    assert_eq!(sidewatch(dir.path(), &["config", "print", "--format", "xml"], &[]).status.code(), Some(2));
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `sidewatch run` with no config file in an empty folder: defaults (SQLite under data/),
/// serving, then a clean stop on SIGTERM.
#[test]
fn run_with_no_config_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .arg("run")
        .env("SIDEWATCH_SERVER__LISTEN", "127.0.0.1:0")
        .env("SIDEWATCH_RULES__WATCH_INTERVAL", "0s")
        .env_remove("SIDEWATCH_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON log line: {line}"));
        if v["message"] == "sidewatch started" {
            addr = v["listen"].as_str().map(String::from);
            break;
        }
    }
    let addr = addr.expect("start line with the listen address");
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(dir.path().join("data/sidewatch.db").exists());
    // From an empty folder it watches itself with the built-in packs.
    let rules = http_get(&addr, "/api/v1/rules");
    for pack in ["Http5xxRatioHigh", "ReadinessFailing", "SidewatchRuleEvaluationFailures"] {
        assert!(rules.contains(pack), "built-in pack rule {pack} loaded: {rules}");
    }
    // Read from the binary: nothing is written beside the database.
    assert!(!dir.path().join("data/packs").exists());
    assert!(rules.contains("builtin:http.yml"), "{rules}");
    // The runbooks too, served for the absolute links in notifications.
    let page = http_get(&addr, "/runbooks/Http5xxRatioHigh");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("<h1>Http5xxRatioHigh</h1>"), "{page}");
    assert!(http_get(&addr, "/runbooks/Http5xxRatioHigh.md").contains("# Http5xxRatioHigh"));
    assert!(http_get(&addr, "/runbooks/..%2Fsidewatch.toml").starts_with("HTTP/1.1 404"));
    // SIGHUP reloads the rule files (the file watcher is off here).
    assert!(!http_get(&addr, "/api/v1/rules").contains("\"hup\""));
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/x.yml"),
        "groups:\n  - name: hup\n    rules:\n      - record: x:one\n        expr: vector(1)\n",
    )
    .unwrap();
    Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !http_get(&addr, "/api/v1/rules").contains("\"hup\"") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the rules");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The container's HEALTHCHECK command.
    let hc = Command::new(BIN).args(["healthcheck", "--url", &format!("http://{addr}")]).output().unwrap();
    assert!(hc.status.success(), "{hc:?}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let started = Instant::now();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("sidewatch stopped")), "{rest:?}");
}

#[test]
fn config_check_names_notify_errors_and_broken_templates() {
    let (code, out) = check(
        "[notify.route]\nreceiver = \"nobody\"\n[[notify.route.routes]]\nmatchers = ['severity']\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{ url = \"ftp://x\" }]\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"nobody\" is not defined in [[notify.receivers]]"), "{out}");
    assert!(out.contains("matcher \"severity\""), "{out}");
    assert!(
        out.contains("\"url\" in [notify.receivers[0].webhook[0]]")
            && out.contains("must be an http:// or https:// URL"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tpl")).unwrap();
    std::fs::write(dir.path().join("tpl/slack.firing.hbs"), "{{#each alerts}}{{labls.alertname}}{{/each}}").unwrap();
    std::fs::write(
        dir.path().join("sidewatch.toml"),
        "[notify]\ntemplates_dir = \"tpl\"\n[notify.route]\nreceiver = \"r\"\n[[notify.receivers]]\nname = \"r\"\nslack = [{ webhook_url = \"https://hooks.example/x\" }]\n",
    )
    .unwrap();
    let out = sidewatch(dir.path(), &["config", "check"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("slack.firing.hbs"), "{err}");
}

/// A rule file that does not parse: `config check` names it (with the notify problem in the
/// same run), and `run` refuses to start with its file and line, as Prometheus does.
#[test]
fn a_broken_rule_file_is_reported_by_config_check_and_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/bad.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])) >\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("tpl")).unwrap();
    std::fs::write(dir.path().join("tpl/slack.firing.hbs"), "{{#each alerts}}{{lables.alertname}}{{/each}}").unwrap();
    let config = "[storage]\nurl = \"sqlite://data/t.db\"\n[rules]\nfiles = [\"rules/*.yml\"]\n\
                  [notify]\ntemplates_dir = \"tpl\"\n[[notify.receivers]]\nname = \"r\"\n\
                  webhook = [{ url = \"http://127.0.0.1:9/x\" }]\n[notify.route]\nreceiver = \"r\"\n";
    std::fs::write(dir.path().join("sidewatch.toml"), config).unwrap();
    let out = sidewatch(dir.path(), &["config", "check"], &[]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("rules/bad.yml:5"), "the rule file and line: {text}");
    assert!(text.contains("[notify]"), "the notify problem in the same run: {text}");
    let out = sidewatch(dir.path(), &["run"], &[]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "run refuses to start: {text}");
    assert!(text.contains("rules/bad.yml:5") && text.contains("rules.files"), "{text}");
}

#[test]
fn config_check_names_an_unreadable_or_short_admin_token() {
    let (code, out) = check("[[admin.tokens]]\nname = \"a\"\ntoken_file = \"missing.token\"\nrole = \"read\"\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot read secret file") && out.contains("token_file"), "{out}");
    let (code, out) = check("[[admin.tokens]]\nname = \"a\"\ntoken = \"short\"\nrole = \"write\"\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("must be at least 16 characters") && !out.contains("short\""), "{out}");
    let (code, out) = check("[admin]\nip_allowlist = [\"10.0.0.0/33\"]\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not a CIDR"), "{out}");
}

/// `sidewatch demo` as a newcomer runs it: an alert fires, is delivered, resolves, and the run
/// ends with a digest over it (about 45 s).
#[test]
fn demo_fires_delivers_resolves_and_writes_a_digest() {
    let dir = tempfile::tempdir().unwrap();
    let out = sidewatch(dir.path(), &["demo"], &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for step in [
        "alert state: firing",
        "webhook got FIRING",
        "webhook got RESOLVED",
        "Weekly digest written",
        "1 incident (1 SEV-1), median MTTR",
    ] {
        assert!(text.contains(step), "missing {step:?}:\n{text}");
    }
    let html = text
        .lines()
        .find_map(|l| l.trim().split(' ').next().filter(|p| p.ends_with(".html")))
        .expect("the digest's path");
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("DemoHighErrorRate") && page.contains("<h1>Weekly digest"), "{page}");
}

/// `sidewatch alerts export | head -1` ends quietly when `head` closes the pipe (no panic).
#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    use sidewatch::storage::{AlertChange, AlertRepo, Storage};
    let dir = tempfile::tempdir().unwrap();
    let text = "[storage]\nurl = \"sqlite://data/t.db\"\n";
    std::fs::write(dir.path().join("sidewatch.toml"), text).unwrap();
    let loaded = sidewatch::settings::load_from_str(text, Some(&dir.path().join("sidewatch.toml")), &[]).unwrap();
    let storage = Storage::connect(&loaded.config.storage, dir.path()).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let rows: Vec<AlertChange> = (0..5_000)
        .map(|i| AlertChange {
            fingerprint: format!("f{i}"),
            rule: "Pipe".into(),
            labels: format!("{{\"alertname\":\"Pipe\",\"i\":\"{i}\",\"pad\":\"{}\"}}", "x".repeat(60)),
            from: "pending".into(),
            to: "firing".into(),
            value: 1.0,
            at: now - 1000 + i,
        })
        .collect();
    storage.append_history(&rows).await.unwrap();
    storage.close().await;
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("'{BIN}' alerts export --since 1h | head -1"))
        .current_dir(dir.path())
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("time,alertname,"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
}

/// Shell completions and the manual page come from the binary.
#[test]
fn completions_and_the_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = sidewatch(dir.path(), &["completions", shell], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text.contains("sidewatch") && text.contains("promqltest"), "{shell}: {text}");
    }
    let out = sidewatch(dir.path(), &["man"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(".ie") || text.contains(".TH sidewatch"), "{text}");
    assert!(text.contains("Observability sidecar") && text.contains("promqltest"), "{text}");
    // --version names the revision and the build date, as buildinfo does.
    let out = sidewatch(dir.path(), &["--version"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("sidewatch 0.") && text.contains("(revision ") && text.contains(", built "), "{text}");
    assert!(!text.contains("revision unknown") || std::env::var_os("CI").is_none(), "{text}");
}
