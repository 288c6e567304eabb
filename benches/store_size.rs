//! Store figures on the reference workload (not a timing benchmark; run with
//! `cargo bench --bench store_size`):
//! - allocations per sample of a steady-state ingest (a counting global allocator);
//! - 100k series × 1h at 15 s (240 snapshots of gen_metrics.py): bytes per sample of chunk
//!   data, index bytes, process RSS, ingest time per scrape;
//! - checkpoint size, write and restore time. The checkpoint (samples ending now) is left at
//!   `$SIDEWATCH_BENCH_DATA/store-100k-1h.store` for `bench/compare.sh`, which starts sidewatch
//!   on it to measure a whole process holding the hour.

mod common;

use common::status_kib;

use sidewatch::scrape::parse::Format;
use sidewatch::scrape::target::MetricsScraper;
use sidewatch::store::Store;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The target labels the series get; `bench/compare.sh` sets the instance it will scrape.
fn scraper() -> MetricsScraper {
    let instance = std::env::var("SIDEWATCH_BENCH_INSTANCE").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let labels = vec![("instance".to_string(), instance), ("job".to_string(), "api".to_string())];
    MetricsScraper::new(labels, false, 0, vec![])
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches as tests; this one needs minutes and 2.3 GB.
        println!("store_size: skipped (run it with `cargo bench --bench store_size`)");
        return;
    }
    sidewatch::telemetry::tune_allocator(); // as `sidewatch run` does
    let Some(paths) = common::snapshots(100_000, 240, 15) else { return };
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);

    // 1. Allocations per scrape: the first creates the series; later ones should only grow
    //    chunk buffers now and then (amortized) and never allocate per sample.
    {
        let store = Store::new(2_000_000, 3_600_000);
        let mut s = scraper();
        let mut per_scrape = Vec::new();
        for (k, p) in paths.iter().take(10).enumerate() {
            let body = std::fs::read(p).unwrap();
            let before = ALLOCS.load(Ordering::Relaxed);
            let r = s.ingest(&store, &body, Format::Text, k as i64 * 15_000).unwrap();
            per_scrape.push((ALLOCS.load(Ordering::Relaxed) - before, r.scraped));
        }
        let later: usize = per_scrape[2..].iter().map(|x| x.0).sum();
        let samples: usize = per_scrape[2..].iter().map(|x| x.1).sum();
        println!(
            "allocations per scrape of 100k samples: first {}, second {}, scrapes 3-10 average {:.0} ({:.4} per sample)",
            per_scrape[0].0,
            per_scrape[1].0,
            later as f64 / 8.0,
            later as f64 / samples as f64
        );
    }

    // 2. 100k series x 1h at 15 s, ending now.
    let rss0 = status_kib("VmRSS:");
    let store = Store::new(2_000_000, 2 * 3_600_000);
    // As `sidewatch run` by default (store.sealed_chunks = "files"): sealed chunks in segment
    // files, read through a memory map.
    let chunk_dir = tempfile::tempdir().unwrap();
    store.use_chunk_dir(chunk_dir.path()).unwrap();
    let mut s = scraper();
    // `SIDEWATCH_BENCH_END_S`: the hour ends then (bench/compare.sh gives both sidewatch and
    // Prometheus the same hour); by default it ends now.
    let now = std::env::var("SIDEWATCH_BENCH_END_S")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map_or_else(|| chrono::Utc::now().timestamp_millis(), |s| s * 1000);
    let t0 = now - 239 * 15_000;
    let mut times = Vec::new();
    let mut bytes_in = 0usize;
    for (k, p) in paths.iter().enumerate() {
        let body = std::fs::read(p).unwrap();
        bytes_in += body.len();
        let started = Instant::now();
        s.ingest(&store, &body, Format::Text, t0 + k as i64 * 15_000).unwrap();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    // As the store's maintenance does within 10 s: the one-entry sealed lists every series left
    // behind when it sealed its second chunk are given back.
    store.shrink_sealed_lists();
    let st = store.stats();
    let rss = status_kib("VmRSS:");
    println!(
        "100k x 1h: {} series, {} samples, {:.0} MiB of exposition ingested",
        st.series,
        st.samples,
        mib(bytes_in)
    );
    println!(
        "  chunk data: {:.1} MiB = {:.3} bytes/sample ({:.1} MiB of head chunks in memory, {:.1} MiB of sealed chunks in {} chunk files); index+labels+series headers: {:.1} MiB ({:.0} bytes/series)",
        mib(st.chunk_bytes + st.file_bytes),
        (st.chunk_bytes + st.file_bytes) as f64 / st.samples as f64,
        mib(st.chunk_bytes),
        mib(st.file_bytes),
        st.file_segments,
        mib(st.index_bytes),
        st.index_bytes as f64 / st.series as f64
    );
    println!(
        "  process RSS grew {:.1} MiB to {:.1} MiB (VmHWM {:.1} MiB)",
        (rss - rss0) as f64 / 1024.0,
        rss as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "  ingest (parse + append) per 100k scrape: median {:.1} ms, p90 {:.1} ms, min {:.1} ms => {:.2} M samples/s",
        times[times.len() / 2] * 1e3,
        times[times.len() * 9 / 10] * 1e3,
        times[0] * 1e3,
        st.series as f64 / times[times.len() / 2] / 1e6
    );

    // 3. Checkpoint.
    let path = common::data_dir().join("store-100k-1h.store");
    let started = Instant::now();
    let ck = store.checkpoint_to(&path).unwrap();
    let write = started.elapsed().as_secs_f64();
    drop(store);
    let started = Instant::now();
    let restored = Store::new(2_000_000, 2 * 3_600_000);
    restored.use_chunk_dir(&chunk_dir.path().join("restored")).unwrap();
    let back = restored.restore_from(&path).unwrap();
    let read = started.elapsed().as_secs_f64();
    println!(
        "  checkpoint: {:.1} MiB written in {write:.2} s, restored ({} series, {} samples) in {read:.2} s -> {}",
        mib(ck.bytes),
        back.series,
        back.samples,
        path.display()
    );
}
