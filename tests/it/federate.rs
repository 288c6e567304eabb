//! `/federate` as Prometheus serves it, and scraped by a real Prometheus (Debian's
//! `prometheus` package, started on a free loopback port) with `honor_labels`: the series
//! sidewatch holds arrive with their labels, sidewatch's external labels and values.

use crate::common::{client, eventually, spawn_app};

#[tokio::test]
async fn federate_serves_the_latest_sample_of_each_matching_series() {
    let app =
        spawn_app("[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[rules]\nexternal_labels = { replica = \"a\" }\n")
            .await;
    let text = eventually(20, "up scraped", || async {
        let r = client()
            .get(app.url("/federate?match[]=up&match[]={__name__%3D~\"sidewatch_build.*\"}"))
            .send()
            .await
            .ok()?;
        let t = r.text().await.ok()?;
        t.contains("\nup{").then_some(t)
    })
    .await;
    assert!(
        text.starts_with("# TYPE sidewatch_build_info untyped\n") || text.contains("# TYPE up untyped\n"),
        "{text}"
    );
    let line = text.lines().find(|l| l.starts_with("up{")).unwrap();
    assert!(line.contains("job=\"sidewatch\"") && line.contains("replica=\"a\""), "{line}");
    let parts: Vec<&str> = line.rsplitn(3, ' ').collect();
    assert_eq!(parts[1], "1", "{line}");
    let ts: i64 = parts[0].parse().unwrap();
    assert!((chrono::Utc::now().timestamp_millis() - ts).abs() < 10_000, "{line}");
    assert_eq!(text.matches("# TYPE up untyped").count(), 1);
    // No selector is a 400, as in Prometheus.
    assert_eq!(client().get(app.url("/federate")).send().await.unwrap().status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn a_real_prometheus_federates_from_sidewatch() {
    let Some(bin) = crate::common::prometheus::binary("a_real_prometheus_federates_from_sidewatch") else { return };
    let app =
        spawn_app("[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[rules]\nexternal_labels = { replica = \"a\" }\n")
            .await;
    let cfg = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['up', '{{__name__=\"sidewatch_scrape_samples\"}}']\n    static_configs:\n      - targets: ['{}']\n",
        app.addr
    );
    let prom = crate::common::prometheus::Prometheus::start(bin, |_| cfg, &[]);
    let port = prom.port;
    let url = format!("http://127.0.0.1:{port}/api/v1/query?query=up{{replica=%22a%22}}");
    let result = eventually(60, "prometheus has sidewatch's up series", || async {
        let v: serde_json::Value = client().get(&url).send().await.ok()?.json().await.ok()?;
        let r = v["data"]["result"].as_array()?.clone();
        r.iter().any(|s| s["metric"]["job"] == "sidewatch").then_some(r)
    })
    .await;
    drop(prom);
    let s = result.iter().find(|s| s["metric"]["job"] == "sidewatch").unwrap();
    assert_eq!(s["value"][1], "1", "{s}");
    assert_eq!(s["metric"]["replica"], "a", "external labels kept with honor_labels: {s}");
    app.stop().await;
}
