//! The Prometheus-compatible query API as Grafana and curl use it: instant and range queries
//! by GET and form POST, RFC 3339 and Unix times, duration steps, series/labels/values
//! metadata, buildinfo, and Prometheus-style errors with their status codes.

use crate::common::{TestApp, client, spawn_app};
use serde_json::Value;

/// `http_requests_total{job="api",route=…}` growing 60/min, and a duplicate-prone pair.
fn load(app: &TestApp) {
    for (route, per_min) in [("/a", 60.0), ("/b", 120.0)] {
        let id =
            app.store.get_or_create([("__name__", "http_requests_total"), ("job", "api"), ("route", route)]).unwrap();
        for i in 0..=20 {
            app.store.append(id, i * 60_000, i as f64 * per_min).unwrap();
        }
    }
    for (name, v) in [("left_side", 1.0), ("right_side", 2.0)] {
        for inst in ["x", "y"] {
            let id = app.store.get_or_create([("__name__", name), ("job", "api"), ("instance", inst)]).unwrap();
            app.store.append(id, 600_000, v).unwrap();
        }
    }
}

async fn get(app: &TestApp, path_and_query: &str) -> (u16, Value) {
    let r = client().get(app.url(path_and_query)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client().post(app.url(path)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn instant_query_by_get_and_post_in_prometheus_shape() {
    let app = spawn_app("").await;
    load(&app);
    let q = "sum by (route) (rate(http_requests_total[5m]))";
    let (status, body) = get(&app, &format!("/api/v1/query?query={}&time=1200", urlencode(q))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    let mut result = body["data"]["result"].as_array().unwrap().clone();
    result.sort_by_key(|r| r["metric"]["route"].as_str().unwrap().to_string());
    assert_eq!(result[0]["metric"], serde_json::json!({"route": "/a"}));
    assert_eq!(result[0]["value"], serde_json::json!([1200.0, "1"]));
    assert_eq!(result[1]["value"], serde_json::json!([1200.0, "2"]));

    // The same by form POST, with an RFC 3339 time.
    let (status, body2) = post(&app, "/api/v1/query", &[("query", q), ("time", "1970-01-01T00:20:00Z")]).await;
    assert_eq!(status, 200, "{body2}");
    assert_eq!(body2["data"]["result"].as_array().unwrap().len(), 2);

    // Scalars and strings.
    let (_, body) = get(&app, "/api/v1/query?query=1%2B1&time=10.5").await;
    assert_eq!(body["data"], serde_json::json!({"resultType": "scalar", "result": [10.5, "2"]}));
    let (_, body) = get(&app, "/api/v1/query?query=%22hi%22&time=10").await;
    assert_eq!(body["data"], serde_json::json!({"resultType": "string", "result": [10.0, "hi"]}));
    app.stop().await;
}

#[tokio::test]
async fn range_query_with_duration_step() {
    let app = spawn_app("").await;
    load(&app);
    let url = format!(
        "/api/v1/query_range?query={}&start=600&end=1200&step=5m",
        urlencode("rate(http_requests_total{route=\"/a\"}[5m])")
    );
    let (status, body) = get(&app, &url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let series = &body["data"]["result"][0];
    assert_eq!(series["metric"], serde_json::json!({"job": "api", "route": "/a"}));
    assert_eq!(series["values"], serde_json::json!([[600.0, "1"], [900.0, "1"], [1200.0, "1"]]));
    // Seconds as step, by POST.
    let (status, body) = post(
        &app,
        "/api/v1/query_range",
        &[("query", "http_requests_total{route=\"/b\"}"), ("start", "0"), ("end", "120"), ("step", "60")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["values"], serde_json::json!([[0.0, "0"], [60.0, "120"], [120.0, "240"]]));
    app.stop().await;
}

#[tokio::test]
async fn errors_are_prometheus_style() {
    let app = spawn_app("[query]\nmax_samples = 15\n").await;
    load(&app);
    let cases = [
        ("/api/v1/query?query=sum(", 400, "bad_data"),
        ("/api/v1/query?query=up&time=yesterday", 400, "bad_data"),
        ("/api/v1/query?query=left_side%20%2B%20on(job)%20right_side&time=600", 422, "execution"),
        ("/api/v1/query?query=count_over_time(http_requests_total[20m])&time=1200", 422, "execution"),
        ("/api/v1/query_range?query=up&end=10&step=1", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=0&end=10&step=0", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=0&end=100000&step=1", 400, "bad_data"),
        ("/api/v1/query_range?query=time()&start=0&end=5000&step=1&timeout=0s", 503, "timeout"),
        ("/api/v1/query?query=rate(up[1e400])", 400, "bad_data"),
        ("/api/v1/query?query=up%20offset%201e30", 400, "bad_data"),
        ("/api/v1/query?query=label_replace(up,%22a%22,%22b%22,%22c%22,%22(%22)", 400, "bad_data"),
    ];
    for (url, status, kind) in cases {
        let (got, body) = get(&app, url).await;
        assert_eq!(got, status, "{url}: {body}");
        assert_eq!(body["status"], "error", "{url}");
        assert_eq!(body["errorType"], kind, "{url}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    let (_, body) = get(&app, "/api/v1/query?query=left_side%20%2B%20on(job)%20right_side&time=600").await;
    assert!(body["error"].as_str().unwrap().contains("many-to-many matching not allowed"), "{body}");
    // A window past retention is answered with what the store holds, and a warning (as
    // Prometheus answers with what its TSDB holds): a Grafana panel over [1d] shows data.
    for q in ["rate(http_requests_total[7h])", "max_over_time(rate(up[5m])[5h:1m]%20offset%2090m)"] {
        let (status, body) = get(&app, &format!("/api/v1/query?query={q}")).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("success")), "{q}: {body}");
        let w = body["warnings"][0].as_str().unwrap_or_default();
        assert!(w.contains("beyond the store's retention of 6h") && w.contains("covers only"), "{q}: {body}");
    }
    let (_, body) = get(&app, "/api/v1/query?query=count_over_time(http_requests_total[20m])&time=1200").await;
    assert!(body["error"].as_str().unwrap().contains("too many samples"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn series_labels_values_and_buildinfo() {
    let app = spawn_app("").await;
    load(&app);
    let (status, body) = get(&app, "/api/v1/series?match[]=http_requests_total&start=0&end=1200").await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0], serde_json::json!({"__name__": "http_requests_total", "job": "api", "route": "/a"}));
    let (status, _) = get(&app, "/api/v1/series").await;
    assert_eq!(status, 400);

    let (_, body) = post(&app, "/api/v1/labels", &[("match[]", "left_side")]).await;
    assert_eq!(body["data"], serde_json::json!(["__name__", "instance", "job"]));
    let (_, body) = get(&app, "/api/v1/labels").await;
    assert!(body["data"].as_array().unwrap().contains(&Value::from("route")));
    let (_, body) = get(&app, "/api/v1/label/route/values").await;
    assert_eq!(body["data"], serde_json::json!(["/a", "/b"]));
    let (_, body) = get(&app, "/api/v1/label/instance/values?match[]=right_side").await;
    assert_eq!(body["data"], serde_json::json!(["x", "y"]));
    let (status, body) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    // Built from a git checkout: the revision and the build date, as Grafana shows them.
    let rev = body["data"]["revision"].as_str().unwrap();
    assert!(rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()), "{body}");
    assert_eq!(body["data"]["buildDate"].as_str().unwrap().len(), 17, "{body}");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query bombs: a 3,000-term chain and 100,000 nested parentheses are refused as `bad_data`
/// at once (they used to overflow a worker's stack and abort the process); a range query
/// whose result or response would be too large fails with `execution`, and the process keeps
/// answering.
#[tokio::test]
async fn query_bombs_get_an_error_not_a_crash() {
    let app = spawn_app("[query]\nmax_points = 1500\nmax_response_bytes = \"8KiB\"\n").await;
    load(&app);
    let chain = format!("1{}", "+1".repeat(3000));
    let t0 = std::time::Instant::now();
    let (status, body) = post(&app, "/api/v1/query", &[("query", &chain)]).await;
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("query.max_depth"), "{body}");
    let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let (status, body) = post(&app, "/api/v1/query", &[("query", &parens)]).await;
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "refused in {:?}", t0.elapsed());
    // 2 series × 1,201 steps = 2,402 points > max_points.
    let (status, body) = post(
        &app,
        "/api/v1/query_range",
        &[("query", "http_requests_total"), ("start", "0"), ("end", "1200"), ("step", "1")],
    )
    .await;
    assert_eq!((status, body["errorType"].as_str()), (422, Some("execution")), "{}", body["error"]);
    assert!(body["error"].as_str().unwrap().contains("query.max_points"), "{body}");
    // 2 series × 601 points is under max_points, but its body is over 8 KiB.
    let (status, body) = post(
        &app,
        "/api/v1/query_range",
        &[("query", "http_requests_total"), ("start", "0"), ("end", "1200"), ("step", "2")],
    )
    .await;
    assert_eq!((status, body["errorType"].as_str()), (422, Some("execution")), "{}", body["error"]);
    assert!(body["error"].as_str().unwrap().contains("query.max_response_bytes"), "{body}");
    let (status, _) = get(&app, "/api/v1/query?query=up").await;
    assert_eq!(status, 200, "still answering");
}

/// With `query.max_concurrency = 1`, a query that arrives while another runs waits for the
/// slot, up to its own timeout, then gets 503 naming the key; afterwards the slot is free.
#[tokio::test]
async fn queries_past_max_concurrency_wait_then_time_out() {
    let app = spawn_app("[query]\nmax_concurrency = 1\ntimeout = \"3s\"\n").await;
    let slow = {
        let url = app.url("/api/v1/query");
        tokio::spawn(async move {
            // Millions of subquery steps: holds the only slot for a while (or until its timeout).
            client().post(url).form(&[("query", "sum_over_time(vector(1)[2h:1ms])")]).send().await.map(|r| r.status())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = post(&app, "/api/v1/query", &[("query", "1"), ("timeout", "0.3")]).await;
    assert_eq!((status, body["errorType"].as_str()), (503, Some("timeout")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("query.max_concurrency"), "{body}");
    let _ = slow.await;
    let (status, _) = post(&app, "/api/v1/query", &[("query", "1")]).await;
    assert_eq!(status, 200, "the slot is free again");
}

/// The rest of what Grafana's Prometheus data source calls, in Prometheus' shapes.
#[tokio::test]
async fn grafana_status_endpoints_answer_in_prometheus_shapes() {
    let app = spawn_app("[notify.route]\nreceiver = \"r\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{ url = \"https://hooks.example/very-secret-path\" }]\n").await;
    let (s, b) = get(&app, "/api/v1/format_query?query=sum(rate(x%5B5m%5D))%20by%20(job)%3E1").await;
    assert_eq!(s, 200, "{b}");
    assert!(b["data"].as_str().unwrap().contains("sum by (job)"), "{b}");
    let (s, b) = get(&app, "/api/v1/format_query?query=sum(rate(x%5B5m%5D))%20%3E").await;
    assert_eq!((s, b["errorType"].as_str()), (400, Some("bad_data")), "{b}");
    let (s, b) = get(&app, "/api/v1/query_exemplars?query=up&start=0&end=10").await;
    assert_eq!((s, b["data"].clone()), (200, serde_json::json!([])), "{b}");
    let (s, b) = get(&app, "/api/v1/status/runtimeinfo").await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["storageRetention"], "6h");
    assert!(b["data"]["startTime"].as_str().unwrap().ends_with('Z'));
    let (_, b) = get(&app, "/api/v1/status/flags").await;
    assert_eq!(b["data"]["storage.tsdb.retention.time"], "6h");
    let (_, b) = get(&app, "/api/v1/status/config").await;
    let text = b["data"]["yaml"].as_str().unwrap();
    assert!(text.contains("[server]") && !text.contains("very-secret-path"), "secrets stay hidden: {text}");
    app.stop().await;
}
