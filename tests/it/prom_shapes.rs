//! Grafana's Prometheus data source, checked against the real thing: Debian's Prometheus and
//! sidewatch scrape the same fake exporter and load the same rule file, then get the same
//! requests. Every key (and its JSON type) that Prometheus answers with must be in sidewatch's
//! answer — sidewatch may add keys — and the metadata, label values and query results must be
//! equal.

use crate::common::{FakeServer, client, eventually, spawn_app_in};
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use std::collections::BTreeSet;

const EXPOSITION: &str = "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\n\
demo_requests_total{path=\"/a\",code=\"200\"} 10\ndemo_requests_total{path=\"/b\",code=\"500\"} 2\n\
# HELP demo_temperature_celsius Room temperature.\n# TYPE demo_temperature_celsius gauge\ndemo_temperature_celsius 21.5\n\
# HELP demo_latency_seconds Latency.\n# TYPE demo_latency_seconds histogram\n\
demo_latency_seconds_bucket{le=\"0.1\"} 3\ndemo_latency_seconds_bucket{le=\"+Inf\"} 4\n\
demo_latency_seconds_sum 0.5\ndemo_latency_seconds_count 4\n";

const RULES: &str = "groups:\n  - name: demo\n    interval: 1s\n    rules:\n      - record: job:demo_requests:sum\n        expr: sum by (job) (demo_requests_total)\n      - alert: DemoHot\n        expr: demo_temperature_celsius > 20\n        labels: {severity: warning}\n        annotations: {summary: \"{{ $value }} degrees\"}\n";

/// `(path, value type)` of every key under `v`; array elements share the path `[]`.
fn shape(v: &Value, path: &str, out: &mut BTreeSet<(String, &'static str)>) {
    let kind = match v {
        Value::Null => return, // either side may leave a field empty
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(a) => {
            for e in a {
                shape(e, &format!("{path}[]"), out);
            }
            "array"
        }
        Value::Object(o) => {
            for (k, e) in o {
                // Maps keyed by data (metric names, label names) compare by their values' shape.
                let key = if path.ends_with(".data")
                    && !["resultType", "result", "groups", "alerts"].contains(&k.as_str())
                    || path.ends_with(".labels")
                    || path.ends_with(".metric")
                    || path.ends_with(".target")
                    || path.ends_with("Labels")
                    || path.ends_with(".annotations")
                {
                    "*"
                } else {
                    k.as_str()
                };
                shape(e, &format!("{path}.{key}"), out);
            }
            "object"
        }
    };
    out.insert((path.to_string(), kind));
}

/// The keys Prometheus answers with that sidewatch's answer lacks (or types differently).
fn missing(prom: &Value, ours: &Value) -> Vec<String> {
    let (mut p, mut o) = (BTreeSet::new(), BTreeSet::new());
    shape(prom, "", &mut p);
    shape(ours, "", &mut o);
    p.difference(&o).map(|(k, t)| format!("{k}: {t}")).collect()
}

async fn get_json(url: &str) -> (u16, Value) {
    let Ok(r) = client().get(url).send().await else { return (0, Value::Null) };
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn grafana_endpoints_answer_in_prometheus_shapes() {
    let Some(bin) = crate::common::prometheus::binary("grafana_endpoints_answer_in_prometheus_shapes") else { return };
    let exporter = FakeServer::start(Router::new().route("/metrics", get(|| async { EXPOSITION }))).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/demo.yml"), RULES).unwrap();
    // The same job and instance on both sides.
    let extra = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[rules]\nfiles = [\"rules/*.yml\"]\nevaluation_interval = \"1s\"\n\n[[targets]]\nname = \"demo\"\nmetrics_url = \"{}\"\n",
        exporter.url("/metrics")
    );
    let prometheus = crate::common::prometheus::Prometheus::start(
        bin,
        |dir| {
            std::fs::write(dir.join("demo.yml"), RULES).unwrap();
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{}']\n",
                dir.join("demo.yml").display(),
                exporter.addr
            )
        },
        &[],
    );
    let app = spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let prom = prometheus.url("");
    let ours = format!("http://{}", app.addr);

    // Both have scraped twice and evaluated the rules.
    for base in [&prom, &ours] {
        let url = format!(
            "{base}/api/v1/query?query=count_over_time(demo_temperature_celsius[1m])%20%3E%3D%202%20and%20on()%20count(job:demo_requests:sum)"
        );
        eventually(60, &format!("{base} has scraped and evaluated"), || async {
            let (_, v) = get_json(&url).await;
            (!v["data"]["result"].as_array()?.is_empty()).then_some(())
        })
        .await;
    }
    let now = chrono::Utc::now().timestamp();
    let paths = [
        "/api/v1/query?query=demo_requests_total".to_string(),
        "/api/v1/query?query=sum(rate(demo_requests_total[1m]))".into(),
        "/api/v1/query?query=demo_requests_total[5s]".into(),
        "/api/v1/query?query=scalar(demo_temperature_celsius)".into(),
        "/api/v1/query?query=%22text%22".into(),
        format!("/api/v1/query_range?query=demo_temperature_celsius&start={}&end={now}&step=1", now - 30),
        "/api/v1/series?match[]=demo_requests_total".into(),
        "/api/v1/labels".into(),
        "/api/v1/label/__name__/values".into(),
        "/api/v1/label/path/values?match[]=demo_requests_total".into(),
        "/api/v1/metadata".into(),
        "/api/v1/metadata?metric=demo_latency_seconds".into(),
        "/api/v1/targets/metadata?match_target=%7Bjob%3D%22demo%22%7D".into(),
        "/api/v1/targets/metadata?metric=demo_requests_total".into(),
        "/api/v1/targets".into(),
        "/api/v1/rules".into(),
        "/api/v1/alerts".into(),
        "/api/v1/status/buildinfo".into(),
        "/api/v1/status/runtimeinfo".into(),
        "/api/v1/status/config".into(),
        "/api/v1/status/tsdb".into(),
        format!("/api/v1/query_exemplars?query=demo_requests_total&start={}&end={now}", now - 60),
        "/api/v1/format_query?query=sum(rate(x[5m]))by(job)".into(),
        // Errors: the same status and error shape.
        "/api/v1/query?query=sum(rate(x[5m]))%20%3E".into(),
        "/api/v1/query_range?query=up&start=10&end=5&step=1".into(),
        "/api/v1/targets/metadata?limit=notanumber".into(),
    ];
    let mut problems = Vec::new();
    for path in &paths {
        let (ps, pv) = get_json(&format!("{prom}{path}")).await;
        let (os, ov) = get_json(&format!("{ours}{path}")).await;
        if ps != os {
            problems.push(format!("{path}: status {os}, Prometheus {ps}: {ov}"));
        }
        let gaps = missing(&pv, &ov);
        if !gaps.is_empty() {
            problems.push(format!("{path}: missing {gaps:?}\n  Prometheus: {pv}\n  sidewatch: {ov}"));
        }
    }
    // The same contents where both hold the same data.
    let equal = [
        "/api/v1/metadata?metric=demo_requests_total",
        "/api/v1/metadata?metric=demo_latency_seconds",
        "/api/v1/label/path/values?match[]=demo_requests_total",
        "/api/v1/format_query?query=sum(rate(x[5m]))by(job)",
    ];
    for path in equal {
        let (_, pv) = get_json(&format!("{prom}{path}")).await;
        let (_, ov) = get_json(&format!("{ours}{path}")).await;
        if pv["data"] != ov["data"] {
            problems.push(format!("{path}: data differs\n  Prometheus: {}\n  sidewatch: {}", pv["data"], ov["data"]));
        }
    }
    let (_, pv) = get_json(&format!("{prom}/api/v1/targets/metadata?metric=demo_temperature_celsius")).await;
    let (_, ov) = get_json(&format!("{ours}/api/v1/targets/metadata?metric=demo_temperature_celsius")).await;
    for key in ["metric", "type", "help", "unit", "target"] {
        if pv["data"][0][key] != ov["data"][0][key] {
            problems.push(format!("targets/metadata {key}: {} vs {}", pv["data"][0][key], ov["data"][0][key]));
        }
    }
    let (_, ov) = get_json(&format!("{ours}/api/v1/status/tsdb")).await;
    let top = &ov["data"]["seriesCountByMetricName"];
    assert!(top.as_array().unwrap().iter().any(|e| e["name"] == "demo_requests_total" && e["value"] == 2), "{top}");
    drop(prometheus);
    app.stop().await;
    assert!(problems.is_empty(), "{} differences from Prometheus:\n{}", problems.len(), problems.join("\n"));
}
