//! Bad answers from targets, each from a real server on 127.0.0.1: every one fails its scrape
//! with a clear error on the target, `up` is 0, and the next scrape still runs on time.

use crate::common::{FakeServer, client, eventually, spawn_app};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sidewatch::store::Matcher;
use std::io::Write;
use std::time::Duration;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn faults() -> Router {
    let bomb = gzip(&vec![b'#'; 8 << 20]);
    Router::new()
        .route("/500", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/html", get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html><body>login</body></html>") }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "m 1\n"
            }),
        )
        .route("/big", get(|| async { "# padding\n".repeat(2000) + "m 1\n" }))
        .route(
            "/bomb",
            get(move || async move { ([(header::CONTENT_ENCODING, "gzip")], bomb.clone()).into_response() }),
        )
        .route("/many", get(|| async { "a 1\nb 2\nc 3\n" }))
        .route("/malformed", get(|| async { "ok 1\nbad{label=\"x\" 1\n" }))
}

#[tokio::test]
async fn every_bad_answer_fails_clearly_and_the_loop_goes_on() {
    let srv = FakeServer::start(faults()).await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("status500", srv.url("/500"), "", "server returned HTTP status 500 Internal Server Error"),
        ("html", srv.url("/html"), "", "invalid exposition: line 1, column 1"),
        ("hang", srv.url("/hang"), "timeout = \"500ms\"", "scrape timed out after 0.5s"),
        ("big", srv.url("/big"), "body_size_limit = \"1KiB\"", "body size limit exceeded"),
        ("bomb", srv.url("/bomb"), "body_size_limit = \"1MiB\"", "body size limit exceeded"),
        (
            "many",
            srv.url("/many"),
            "sample_limit = 2",
            "sample_limit exceeded: 3 samples after relabeling, the limit is 2",
        ),
        ("malformed", srv.url("/malformed"), "", "line 2, column 15"),
        ("refused", format!("http://{refused}/metrics"), "", "onnection refused"),
    ];
    let mut toml = String::from("[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n");
    for (name, url, extra, _) in &cases {
        toml.push_str(&format!("\n[[targets]]\nname = \"{name}\"\nmetrics_url = \"{url}\"\n{extra}\n"));
    }
    let app = spawn_app(&toml).await;
    let url = app.url("/api/v1/targets");
    let targets = eventually(15, "every target failed at least twice", || async {
        let b: serde_json::Value = client().get(&url).send().await.unwrap().json().await.unwrap();
        let m = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let twice = cases.iter().all(|(name, ..)| {
            m.lines().any(|l| {
                l.starts_with(&format!("sidewatch_scrape_failures_total{{target=\"{name}\"}}"))
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 2.0)
            })
        });
        twice.then_some(b)
    })
    .await;
    for (name, _, _, want) in &cases {
        let t = targets["data"]["activeTargets"].as_array().unwrap().iter().find(|t| t["scrapePool"] == *name).unwrap();
        assert_eq!(t["health"], "down", "{name}");
        let err = t["lastError"].as_str().unwrap();
        assert!(err.contains(want), "{name}: {err:?} should contain {want:?}");
        let up = app.store.query(&[Matcher::eq("__name__", "up"), Matcher::eq("job", name)], 0, i64::MAX);
        assert!(up[0].1.iter().all(|s| s.1 == 0.0), "{name}: up stays 0");
    }
    // Nothing of a failed scrape was stored.
    assert!(app.store.query(&[Matcher::eq("__name__", "ok")], 0, i64::MAX).is_empty());
    app.stop().await;
}
