//! What `store.retention` costs: 10,000 series scraped every 15 s (a typical service's
//! exposition) held for 1 h, 6 h and 24 h — Grafana's "Last 1 hour", default "Last 6 hours" and
//! "Last 24 hours" — each in a process of its own, with sealed chunks in chunk files as
//! `sidewatch run` keeps them. Prints, per retention, the bytes on disk, the in-memory index
//! estimate and the process' resident memory after the store's maintenance ran.
//!
//! `cargo bench --bench retention` (about a minute).

mod common;

use common::status_kib;
use sidewatch::store::Store;

const SERIES: usize = 10_000;
const STEP_MS: i64 = 15_000;

/// One retention, in this process: fills the store and prints one line.
fn one(hours: i64) {
    sidewatch::telemetry::tune_allocator();
    let rss0 = status_kib("VmRSS:");
    let store = Store::new(1_000_000, hours * 3_600_000);
    let dir = tempfile::tempdir().unwrap();
    store.use_chunk_dir(dir.path()).unwrap();
    let ids: Vec<u32> = (0..SERIES)
        .map(|i| {
            let route = format!("/r{}", i % 1000);
            let code = ["200", "404", "500"][i % 3];
            let inst = format!("pod-{}", i / 1000);
            store
                .get_or_create([
                    ("__name__", "http_requests_total"),
                    ("route", route.as_str()),
                    ("status", code),
                    ("instance", inst.as_str()),
                    ("job", "api"),
                ])
                .unwrap()
        })
        .collect();
    let steps = hours * 3_600_000 / STEP_MS;
    let t0 = chrono::Utc::now().timestamp_millis() - steps * STEP_MS;
    let mut values = vec![0f64; SERIES];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let started = std::time::Instant::now();
    for k in 0..steps {
        let t = t0 + k * STEP_MS;
        for (&id, v) in ids.iter().zip(values.iter_mut()) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *v += (seed % 20) as f64; // a counter growing by 0–19 requests a scrape
            store.append(id, t, *v).unwrap();
        }
    }
    let fill = started.elapsed().as_secs_f64();
    // The store's maintenance: sealed lists compacted, chunk pages out of resident memory.
    store.shrink_sealed_lists();
    store.unmap_chunk_pages();
    let st = store.stats();
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "{hours:>3} h: {:>10} samples; on disk {:>7.1} MiB ({:.3} B/sample); head chunks in memory {:>5.1} MiB; index+series {:>5.1} MiB; RSS {:>6.1} MiB (grew {:>6.1}); filled in {fill:.1} s",
        st.samples,
        mib(st.file_bytes),
        (st.file_bytes + st.chunk_bytes) as f64 / st.samples as f64,
        mib(st.chunk_bytes),
        mib(st.index_bytes),
        status_kib("VmRSS:") as f64 / 1024.0,
        (status_kib("VmRSS:").saturating_sub(rss0)) as f64 / 1024.0,
    );
}

fn main() {
    if let Ok(h) = std::env::var("SIDEWATCH_BENCH_RETENTION_H") {
        one(h.parse().unwrap());
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("retention: skipped (run it with `cargo bench --bench retention`)");
        return;
    }
    println!("{SERIES} series every {} s, one process per retention:", STEP_MS / 1000);
    for hours in [1, 6, 24] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("SIDEWATCH_BENCH_RETENTION_H", hours.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
