//! Remote write throughput (run with `cargo bench --bench remote_write`): samples of 10,000
//! series, 50 rounds (500,000 samples), encoded (protobuf + snappy) and POSTed from one sender
//! to a receiver on loopback that decompresses and decodes nothing (it only reads the body).
//! The goal is ≥ 500,000 samples/s.

use axum::Router;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let app = Router::new().fallback(|body: axum::body::Bytes| async move {
            std::hint::black_box(body.len());
            axum::http::StatusCode::NO_CONTENT
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        let url = format!("http://{addr}/api/v1/write");
        let _ = sidewatch::remote::measure_send(&url, 1_000, 2).await; // warm-up
        for _ in 0..3 {
            let (n, secs) = sidewatch::remote::measure_send(&url, 10_000, 50).await;
            println!("remote_write: {n} samples in {secs:.3} s = {:.0} samples/s", n as f64 / secs);
        }
    });
}
