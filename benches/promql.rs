//! PromQL evaluation on the reference workload (run with `cargo bench --bench promql`, or
//! through `bench/promql.sh`, which also starts Prometheus on the same data):
//! 100k series × 1h at 15 s (240 snapshots of gen_metrics.py) are ingested into a store, then
//! each of the 24 expressions of `alerts-24.yml` and four typical rule-pack expressions is
//! evaluated at the end of the hour — median of 5 runs, with the samples it read — and one
//! pass over the 24 is timed (wall and CPU). With `SIDEWATCH_BENCH_PROMETHEUS=URL` (and
//! `SIDEWATCH_BENCH_PROMETHEUS_PID`), the same expressions are sent to that Prometheus at the
//! same time with `stats=all`, and its evaluation time, samples and CPU are printed beside ours.

mod common;

use sidewatch::promql::{Engine, EngineOptions};
use sidewatch::scrape::parse::Format;
use sidewatch::scrape::target::MetricsScraper;
use sidewatch::store::Store;
use std::sync::Arc;
use std::time::Instant;

const EXTRA: &[&str] = &[
    r#"sum by (route) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (route) (rate(http_requests_total[5m]))"#,
    r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))"#,
    "deriv(queue_depth[15m]) > 0",
    r#"absent(up{job="api"})"#,
];

/// The `expr:` values of a Prometheus rule file (inline or `|` blocks).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        i += 1;
        let Some(pos) = l.find("expr:") else { continue };
        let rest = l[pos + 5..].trim();
        if rest == "|" || rest == ">" {
            let indent = l.len() - l.trim_start().len();
            let mut parts = Vec::new();
            while i < lines.len() && (lines[i].len() - lines[i].trim_start().len()) > indent {
                parts.push(lines[i].trim());
                i += 1;
            }
            out.push(parts.join(" "));
        } else {
            out.push(rest.to_string());
        }
    }
    out
}

fn cpu_seconds_self() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

struct PromResult {
    eval_s: f64,
    samples: u64,
}

fn prometheus_query(rt: &tokio::runtime::Runtime, base: &str, q: &str, t_ms: i64) -> Option<PromResult> {
    rt.block_on(async {
        let url = format!("{base}/api/v1/query");
        let r = reqwest::Client::new()
            .post(url)
            .form(&[("query", q), ("time", &format!("{:.3}", t_ms as f64 / 1000.0)), ("stats", "all")])
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        let stats = &v["data"]["stats"];
        Some(PromResult {
            eval_s: stats["timings"]["evalTotalTime"].as_f64()?,
            samples: stats["samples"]["totalQueryableSamples"].as_u64().unwrap_or(0),
        })
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("promql: skipped (run it with `cargo bench --bench promql`)");
        return;
    }
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/alerts-24.yml");
    let Ok(yaml) = std::fs::read_to_string(&shared) else {
        println!("promql: skipped ({} not found)", shared.display());
        return;
    };
    let alerts = rule_exprs(&yaml);
    assert_eq!(alerts.len(), 24, "expected 24 expressions in alerts-24.yml");
    let Some(paths) = common::snapshots(100_000, 240, 15) else { return };

    let end: i64 = std::env::var("SIDEWATCH_BENCH_END")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() / 15_000 * 15_000);
    let t0 = end - 239 * 15_000;
    let store = Arc::new(Store::new(2_000_000, 2 * 3_600_000));
    let labels = vec![("instance".to_string(), "127.0.0.1:8080".to_string()), ("job".to_string(), "api".to_string())];
    let mut scraper = MetricsScraper::new(labels, false, 0, vec![]);
    for (k, p) in paths.iter().enumerate() {
        let body = std::fs::read(p).unwrap();
        scraper.ingest(&store, &body, Format::Text, t0 + k as i64 * 15_000).unwrap();
    }
    let st = store.stats();
    println!("store: {} series, {} samples, hour ending at {end} ms", st.series, st.samples);

    let engine = Engine::new(store.clone(), EngineOptions::default());
    let prom = std::env::var("SIDEWATCH_BENCH_PROMETHEUS").ok();
    let prom_pid = std::env::var("SIDEWATCH_BENCH_PROMETHEUS_PID").ok();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    println!("\n| # | expression | sidewatch ms | samples | Prometheus ms | samples | ratio |");
    println!("|---|---|---|---|---|---|---|");
    let (mut sw_total, mut prom_total) = (0.0, 0.0);
    let all: Vec<&str> = alerts.iter().map(String::as_str).chain(EXTRA.iter().copied()).collect();
    for (i, q) in all.iter().enumerate() {
        let mut times = Vec::new();
        let mut samples = 0;
        let mut series = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let out = engine.instant(q, end).unwrap_or_else(|e| panic!("{q}: {e}"));
            times.push(started.elapsed().as_secs_f64());
            samples = out.samples;
            if let sidewatch::promql::Value::Vector(v) = &out.value {
                series = v.len();
            }
        }
        let ms = median(times) * 1e3;
        let (pms, psamples) = match &prom {
            Some(base) => {
                let runs: Vec<PromResult> = (0..3).filter_map(|_| prometheus_query(&rt, base, q, end)).collect();
                if runs.is_empty() {
                    ("error".to_string(), String::new())
                } else {
                    let s = runs[0].samples;
                    let m = median(runs.iter().map(|r| r.eval_s).collect()) * 1e3;
                    if i < 24 {
                        prom_total += m;
                    }
                    (format!("{m:.1}"), s.to_string())
                }
            }
            None => ("-".into(), "-".into()),
        };
        if i < 24 {
            sw_total += ms;
        }
        let ratio = pms.parse::<f64>().map(|p| format!("{:.1}x", p / ms.max(1e-3))).unwrap_or_default();
        let short: String = q.chars().take(90).collect();
        println!("| {} | `{short}` ({series} out) | {ms:.2} | {samples} | {pms} | {psamples} | {ratio} |", i + 1);
    }
    println!("\nsum of medians over the 24: sidewatch {sw_total:.1} ms, Prometheus {prom_total:.1} ms");

    // One pass over the 24, wall and CPU, for each.
    let (wall0, cpu0) = (Instant::now(), cpu_seconds_self());
    for q in &alerts {
        engine.instant(q, end).unwrap();
    }
    let (sw_wall, sw_cpu) = (wall0.elapsed().as_secs_f64(), cpu_seconds_self() - cpu0);
    println!("one pass over the 24: sidewatch {sw_wall:.3} s wall, {sw_cpu:.3} CPU-s");
    // The same pass as rule groups evaluate it: the rules of a group (alerts-24.yml's three
    // groups: 9, 7 and 8 rules) share repeated subexpressions through one cache.
    let exprs: Vec<_> = alerts.iter().map(|q| Engine::parse(q).unwrap()).collect();
    let (wall0, cpu0) = (Instant::now(), cpu_seconds_self());
    for group in [&exprs[..9], &exprs[9..16], &exprs[16..]] {
        let cache = sidewatch::promql::EvalCache::default();
        for e in group {
            engine.instant_cached(e, end, Some(&cache)).unwrap();
        }
    }
    println!(
        "one pass over the 24 as rule groups (shared subexpressions): sidewatch {:.3} s wall, {:.3} CPU-s",
        wall0.elapsed().as_secs_f64(),
        cpu_seconds_self() - cpu0
    );
    // The three groups as `sidewatch run` evaluates them (queries, alert state, ALERTS series),
    // rule by rule and with the queries on two threads: median wall time of 3 evaluations each.
    let groups = sidewatch::rules::file::parse(&yaml, "alerts-24.yml", 5_000).expect("alerts-24.yml parses");
    for concurrency in [1, 2] {
        let ctx = sidewatch::rules::Context { concurrency, ..Default::default() };
        let cpu0 = cpu_seconds_self();
        let mut line = Vec::new();
        for g in &groups {
            let mut state = sidewatch::rules::GroupState::new(g.clone());
            let times: Vec<f64> = (0..3)
                .map(|k| {
                    state.eval(&engine, end + k * 5_000, &ctx);
                    state.duration_s
                })
                .collect();
            line.push(format!("{} {:.3} s", g.name, median(times)));
        }
        println!(
            "rule groups, concurrency {concurrency}: {} (median of 3); {:.3} CPU-s for the 9 evaluations",
            line.join(", "),
            cpu_seconds_self() - cpu0
        );
    }
    if let (Some(base), Some(pid)) = (&prom, &prom_pid) {
        let (wall0, cpu0) = (Instant::now(), cpu_seconds_of(pid));
        for q in &alerts {
            prometheus_query(&rt, base, q, end);
        }
        let (p_wall, p_cpu) = (wall0.elapsed().as_secs_f64(), cpu_seconds_of(pid) - cpu0);
        println!("one pass over the 24: Prometheus {p_wall:.3} s wall, {p_cpu:.3} CPU-s");
        println!(
            "ratio (Prometheus / sidewatch): CPU {:.1}x, wall {:.1}x",
            p_cpu / sw_cpu.max(1e-6),
            p_wall / sw_wall.max(1e-6)
        );
    }
}
