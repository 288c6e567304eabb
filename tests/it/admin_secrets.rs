//! The admin tokens never leave the process: the real binary runs with one token from the
//! environment and one from a file, at DEBUG; it is called with the right tokens, a wrong one
//! and garbage; its log, `config print`, the answers and the audit log are grepped for the tokens.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");
const ENV_TOKEN: &str = "env-token-5f1d9a7c3b2e4d6f";
const FILE_TOKEN: &str = "file-token-8c2b7e1f9d3a5c4e";

fn request(addr: &str, head: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{head}Host: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn tokens_appear_in_no_log_line_answer_audit_row_or_config_print() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.token"), format!("{FILE_TOKEN}\n")).unwrap();
    let config = "[server]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"debug\"\n[rules]\nwatch_interval = \"0s\"\n\
        [admin]\nwrite_enabled = true\n\
        [[admin.tokens]]\nname = \"oncall\"\ntoken = \"${ADMIN_TOKEN}\"\nrole = \"write\"\n\
        [[admin.tokens]]\nname = \"viewer\"\ntoken_file = \"admin.token\"\nrole = \"read\"\n";
    std::fs::write(dir.path().join("sidewatch.toml"), config).unwrap();
    // No rules (not the built-in packs): the DEBUG log stays small enough for the pipe this
    // test reads only now and then.
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/empty.yml"), "groups: []\n").unwrap();
    let printed = Command::new(BIN)
        .current_dir(dir.path())
        .args(["config", "print"])
        .env("ADMIN_TOKEN", ENV_TOKEN)
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(printed.contains("name = \"oncall\"") && !printed.contains(ENV_TOKEN), "{printed}");

    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .arg("run")
        .env("ADMIN_TOKEN", ENV_TOKEN)
        .env_remove("SIDEWATCH_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "sidewatch started" {
            addr = v["listen"].as_str().map(String::from);
            break;
        }
    }
    let addr = addr.expect("start line");
    let mut answers = String::new();
    for (head, want) in [
        (format!("GET /api/v1/admin/ops HTTP/1.1\r\nAuthorization: Bearer {FILE_TOKEN}\r\n"), "200"),
        (format!("GET /api/v1/admin/ops HTTP/1.1\r\nAuthorization: Bearer {ENV_TOKEN}x\r\n"), "401"),
        (format!("GET /api/v1/admin/ops HTTP/1.1\r\nAuthorization: Basic {ENV_TOKEN}\r\n"), "401"),
        (
            format!(
                "POST /api/v1/admin/alerts/retry HTTP/1.1\r\nAuthorization: Bearer {FILE_TOKEN}\r\nX-Actor: eve\r\nContent-Length: 2\r\n\r\n{{}}"
            ),
            "403",
        ),
        (
            format!(
                "POST /-/reload HTTP/1.1\r\nAuthorization: Bearer {ENV_TOKEN}\r\nX-Actor: alice\r\nContent-Length: 0\r\n"
            ),
            "200",
        ),
        (format!("GET /api/v1/admin/audit?pageSize=100 HTTP/1.1\r\nAuthorization: Bearer {ENV_TOKEN}\r\n"), "200"),
        (format!("GET /api/v1/query?query={ENV_TOKEN} HTTP/1.1\r\n"), "400"),
    ] {
        // A request whose head already ends the headers (a body follows) is sent as is.
        let head = if head.contains("\r\n\r\n") {
            head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
        } else {
            head
        };
        let out = if head.contains("Connection: close") {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(head.replace("\r\n\r\n{}", "\r\nHost: x\r\n\r\n{}").as_bytes()).unwrap();
            let mut o = String::new();
            let _ = s.read_to_string(&mut o);
            o
        } else {
            request(&addr, &head)
        };
        assert!(out.starts_with(&format!("HTTP/1.1 {want}")), "{head:?} → {out}");
        answers.push_str(&out);
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    for line in lines.map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        assert!(Instant::now() < deadline);
    }
    child.wait().unwrap();
    assert!(
        log.contains("\"status\":401") || log.contains("status=401") || log.contains("401"),
        "the refusals are logged"
    );
    // The query echoed the string (it is not a token to the query API), so only the admin
    // answers and the log lines of admin requests are held to it.
    let admin_answers: String = answers.split("HTTP/1.1 ").filter(|a| !a.starts_with("400")).collect();
    for token in [ENV_TOKEN, FILE_TOKEN] {
        let in_log: Vec<&str> = log.lines().filter(|l| l.contains(token) && !l.contains("/api/v1/query")).collect();
        assert!(in_log.is_empty(), "token in the log: {in_log:?}");
        assert!(!admin_answers.contains(token), "token in an answer");
    }
    assert!(admin_answers.contains("\"tokenName\":\"oncall\""), "the audit names the token");
    eprintln!("log: {} lines, answers: {} bytes", log.lines().count(), answers.len());
    // `sidewatch audit` shows the same rows.
    let audit = Command::new(BIN)
        .current_dir(dir.path())
        .args(["audit", "--since", "1h", "--json"])
        .env("ADMIN_TOKEN", ENV_TOKEN)
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    let rows: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        rows.iter().any(|r| r["action"] == "rules.reload" && r["actor"] == "alice" && r["tokenName"] == "oncall"),
        "{audit}"
    );
    assert!(rows.iter().any(|r| r["detail"] == "insufficient_role" && r["actor"] == "eve"), "{audit}");
    assert!(rows.iter().any(|r| r["action"] == "stop"), "{audit}");
    assert!(!audit.contains(ENV_TOKEN) && !audit.contains(FILE_TOKEN));
}
