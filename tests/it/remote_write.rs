//! Remote write against a real Prometheus (Debian's package, started with
//! `--web.enable-remote-write-receiver` on a free loopback port): scraped samples, the
//! synthetic `up` and a recording rule's output arrive with sidewatch's external labels and
//! query back equal; a `drop` relabeling keeps a metric out. Then a receiver that refuses
//! (400) and one that is down: refused batches are counted as failed, and while the receiver is
//! down the queue stays within its capacity, dropping (and counting) the oldest.

use crate::common::{FakeServer, client, eventually, spawn_app, spawn_app_in};

async fn query(port: u16, q: &str) -> Vec<serde_json::Value> {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let v: serde_json::Value = match client().get(&url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return vec![],
    };
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_reach_a_real_prometheus_and_query_back_equal() {
    let Some(bin) = crate::common::prometheus::binary("samples_reach_a_real_prometheus_and_query_back_equal") else {
        return;
    };
    let prom = crate::common::prometheus::Prometheus::start(
        bin,
        |_| "global:\n  scrape_interval: 1m\n".into(),
        &["--web.enable-remote-write-receiver"],
    );
    let port = prom.port;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n  - name: rec\n    interval: 1s\n    rules:\n      - record: sw:remote_write:answer\n        expr: vector(42)\n",
    )
    .unwrap();
    let extra = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\nexternal_labels = {{ cluster = \"eu-1\" }}\n\
         [[remote_write]]\nurl = \"http://127.0.0.1:{port}/api/v1/write\"\n\
         queue_config = {{ batch_send_deadline = \"500ms\" }}\n\
         [[remote_write.write_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = \"sidewatch_http_.*\"\naction = \"drop\"\n"
    );
    let app = spawn_app_in(dir, "url = \"sqlite://data/test.db\"", &extra).await;
    let up = eventually(60, "up in prometheus", || async {
        let r = query(port, "up{job=\"sidewatch\",cluster=\"eu-1\"}").await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let rec = eventually(30, "the recording rule's output", || async {
        let r = query(port, "sw:remote_write:answer").await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!((rec[0]["value"][1].as_str(), rec[0]["metric"]["cluster"].as_str()), (Some("42"), Some("eu-1")));
    // A scraped series: the same value in sidewatch and in Prometheus at the same timestamp.
    let ours: serde_json::Value =
        client().get(app.url("/api/v1/query?query=sidewatch_build_info")).send().await.unwrap().json().await.unwrap();
    let theirs = query(port, "sidewatch_build_info").await;
    assert_eq!(ours["data"]["result"][0]["value"][1], theirs[0]["value"][1], "{ours} vs {theirs:?}");
    assert!(query(port, "{__name__=~\"sidewatch_http_.*\"}").await.is_empty(), "the drop relabeling held");
    let metrics = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("sidewatch_remote_write_samples_total{outcome=\"sent\""))
        .expect("sent counter");
    eprintln!("remote write: {sent}");
    app.stop().await;
}

#[tokio::test]
async fn refused_batches_are_counted_and_a_down_receiver_keeps_the_queue_bounded() {
    // A receiver that answers 400: batches are dropped and counted as failed, not retried.
    let refusing =
        FakeServer::start(axum::Router::new().route(
            "/w",
            axum::routing::post(|| async { (axum::http::StatusCode::BAD_REQUEST, "out of order sample") }),
        ))
        .await;
    let app = spawn_app(&format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[remote_write]]\nname = \"refusing\"\nurl = \"{}\"\nqueue_config = {{ batch_send_deadline = \"200ms\" }}\n",
        refusing.url("/w")
    ))
    .await;
    eventually(20, "failed samples counted", || async {
        let m = client().get(app.url("/metrics")).send().await.ok()?.text().await.ok()?;
        m.lines()
            .any(|l| l.starts_with("sidewatch_remote_write_samples_total{outcome=\"failed\",remote=\"refusing\"}"))
            .then_some(())
    })
    .await;
    app.stop().await;

    // A receiver that is down: retried with backoff, the queue holds at most its capacity.
    let app = spawn_app(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[remote_write]]\nname = \"down\"\nurl = \"http://127.0.0.1:9/w\"\n\
         queue_config = { capacity = 50, max_samples_per_send = 10, max_shards = 1, batch_send_deadline = \"100ms\" }\n",
    )
    .await;
    let line = eventually(30, "oldest samples dropped", || async {
        let m = client().get(app.url("/metrics")).send().await.ok()?.text().await.ok()?;
        m.lines()
            .find(|l| l.starts_with("sidewatch_remote_write_samples_total{outcome=\"dropped\",remote=\"down\"}"))
            .map(String::from)
    })
    .await;
    let m = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let queued: i64 = m
        .lines()
        .find(|l| l.starts_with("sidewatch_remote_write_queue_samples{remote=\"down\",shard=\"0\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!((1..=50).contains(&queued), "queue within capacity: {queued}");
    eprintln!("down receiver: {line}, queued {queued}");
    app.stop().await;
}
