//! Fuzzing what outsiders hand sidewatch: exposition bodies (a scraped target), rule files
//! (an engineer's pull request), configuration files, and ingest batches. Random mutations
//! of valid inputs and random garbage; any outcome but a panic or an abort (a result or an
//! error) is accepted. Bounded for CI; `SIDEWATCH_FUZZ_CASES=N` runs N cases per target.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sidewatch::scrape::parse::Format;
use sidewatch::scrape::target::MetricsScraper;
use sidewatch::store::Store;

fn cases(default: u32) -> u32 {
    std::env::var("SIDEWATCH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `seed` with up to 12 random edits: characters inserted (from `alphabet` or any byte),
/// ranges deleted, ranges repeated.
fn mutated(seed: &'static str, alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (0usize..3, any::<usize>(), any::<usize>(), any::<u8>());
    proptest::collection::vec(edit, 0..12).prop_map(move |edits| {
        let mut b = seed.as_bytes().to_vec();
        for (kind, at, len, byte) in edits {
            let at = at % (b.len() + 1);
            match kind {
                0 => b.insert(at, if byte < 200 { alphabet[byte as usize % alphabet.len()] } else { byte }),
                1 => {
                    let end = (at + len % 16).min(b.len());
                    b.drain(at..end);
                }
                _ => {
                    let end = (at + len % 64).min(b.len());
                    let piece = b[at..end].to_vec();
                    for _ in 0..(len % 50) {
                        b.splice(at..at, piece.iter().copied());
                    }
                }
            }
        }
        b
    })
}

const EXPOSITION: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
http_requests_total{method=\"get\",route=\"/api/v1/users/{id}\",status=\"200\"} 1027 1395066363000\n\
http_request_duration_seconds_bucket{le=\"0.05\"} 24054\nhttp_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n\
# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds{quantile=\"0.5\"} 1.5e-05\nescaped{a=\"x\\\\\\\"y\\n\"} NaN\n\
# EOF\n";

#[test]
fn exposition_bodies_never_panic() {
    let mut runner = TestRunner::new(Config { cases: cases(3000), failure_persistence: None, ..Config::default() });
    let strategy = prop_oneof![
        mutated(EXPOSITION, b"{}\",= \n#\\e+-.0123456789abcxyz_:"),
        proptest::collection::vec(any::<u8>(), 0..400),
    ];
    let store = Store::new(2_000, 3_600_000);
    let scraper = std::cell::RefCell::new(MetricsScraper::new(vec![("job".into(), "fuzz".into())], false, 0, vec![]));
    runner
        .run(&(strategy, any::<bool>()), |(body, om)| {
            let format = if om { Format::OpenMetrics } else { Format::Text };
            let _ = scraper.borrow_mut().ingest(&store, &body, format, 1_000);
            Ok(())
        })
        .unwrap();
}

const RULES: &str = "groups:\n  - name: g\n    interval: 15s\n    rules:\n      - alert: High\n        \
expr: sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05\n        \
for: 5m\n        labels: { severity: critical }\n        annotations:\n          summary: \"{{ $labels.job }} at {{ $value | humanizePercentage }}\"\n      \
- record: job:up:sum\n        expr: sum(up)\n";

#[test]
fn rule_files_never_panic() {
    let mut runner = TestRunner::new(Config { cases: cases(1500), failure_persistence: None, ..Config::default() });
    let strategy = prop_oneof![
        mutated(RULES, b"()[]{}:- \n\"'|$.+*/^<>=!~0123456789abcsumrate"),
        Just({
            // An expression bomb in a rule file: refused, never a stack overflow.
            format!("groups:\n  - name: g\n    rules:\n      - record: x\n        expr: 1{}\n", "+1".repeat(5000))
                .into_bytes()
        })
    ];
    runner
        .run(&strategy, |text| {
            let text = String::from_utf8_lossy(&text);
            let _ = sidewatch::rules::file::parse(&text, "fuzz.yml", 15_000);
            Ok(())
        })
        .unwrap();
}

const CONFIG: &str = "[server]\nlisten = \"127.0.0.1:9465\"\nmax_body_bytes = \"1MiB\"\n[storage]\nurl = \"sqlite://data/x.db\"\n\
[query]\nmax_depth = 200\n[[targets]]\nname = \"api\"\nmetrics_url = \"http://127.0.0.1:8080/metrics\"\ninterval = \"15s\"\n\
[notify]\ncooldown = \"1h\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{ url = \"http://127.0.0.1:9/x\", headers = { A = \"b\" } }]\n\
[notify.route]\nreceiver = \"r\"\ngroup_by = [\"alertname\"]\n[jobs]\ntimezone = \"+02:00\"\n";

#[test]
fn configuration_files_never_panic() {
    let mut runner = TestRunner::new(Config { cases: cases(1500), failure_persistence: None, ..Config::default() });
    runner
        .run(&mutated(CONFIG, b"[]{}=\"., \n0123456789smhdKMiB_abcxyz${}"), |text| {
            let text = String::from_utf8_lossy(&text);
            let _ = sidewatch::settings::load_from_str(&text, None, &[("X".into(), "1".into())]);
            Ok(())
        })
        .unwrap();
}
