//! Parser and ingest throughput (criterion). Run: `cargo bench --bench parse`.
//! - `parse/<file>`: the exposition parser alone, samples/s (file sizes are printed).
//! - `ingest/100k`: a steady-state scrape body of the reference workload parsed, resolved
//!   through the series cache and appended to the store (fetch excluded).

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sidewatch::scrape::parse::{Entry, Format, Parser};
use sidewatch::scrape::target::MetricsScraper;
use sidewatch::store::Store;
use std::hint::black_box;

fn count_samples(text: &str) -> usize {
    Parser::new(text, Format::Text).filter(|e| matches!(e, Ok(Entry::Sample(_)))).count()
}

fn bench(c: &mut Criterion) {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(b) = common::conformance("alltypes.237mfs.prom.txt") {
        inputs.push(("alltypes.237mfs".into(), b));
    }
    // Under `cargo test` (no --bench) only the small conformance file is exercised.
    let benching = std::env::args().any(|a| a == "--bench");
    let snaps = if benching { common::snapshots(100_000, 2, 5) } else { None };
    if let Some(paths) = &snaps {
        inputs.push(("snapshot-100k".into(), std::fs::read(&paths[0]).expect("snapshot")));
    }
    let mut g = c.benchmark_group("parse");
    for (name, body) in &inputs {
        let text = std::str::from_utf8(body).expect("utf-8");
        let n = count_samples(text);
        eprintln!("parse/{name}: {} bytes, {n} samples", body.len());
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for e in Parser::new(black_box(text), Format::Text) {
                    if let Ok(Entry::Sample(s)) = e {
                        sum += s.value;
                    }
                }
                black_box(sum)
            })
        });
    }
    g.finish();

    if let Some(paths) = snaps {
        let body = std::fs::read(&paths[1]).expect("snapshot");
        let n = count_samples(std::str::from_utf8(&body).expect("utf-8"));
        let store = Store::new(2_000_000, 3_600_000);
        let labels =
            vec![("instance".to_string(), "127.0.0.1:8080".to_string()), ("job".to_string(), "api".to_string())];
        let mut scraper = MetricsScraper::new(labels, false, 0, vec![]);
        let mut t = 0i64;
        scraper.ingest(&store, &body, Format::Text, t).expect("first scrape");
        let mut g = c.benchmark_group("ingest");
        g.sample_size(20);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("100k", |b| {
            b.iter(|| {
                t += 15_000;
                black_box(scraper.ingest(&store, &body, Format::Text, t).expect("scrape"))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
