//! The rule-group cache of counter windows: shared results are bit-identical to computing
//! them alone, and a series' window is decoded once per group evaluation.

use super::{Engine, EngineOptions, EvalCache, Value};
use crate::store::Store;
use std::sync::Arc;

/// Counters with resets, gaps, a stale marker and a gauge-like series, 20 minutes at 15 s.
fn engine() -> Engine {
    let store = Arc::new(Store::new(10_000, 3_600_000));
    for r in 0..6 {
        let route = format!("/r{r}");
        for status in ["200", "404", "500", "503"] {
            let id = store
                .get_or_create([("__name__", "http_requests_total"), ("route", &route), ("status", status)])
                .unwrap();
            let mut v = f64::from(r) * 0.37;
            for k in 0..80i64 {
                if (k + r as i64) % 17 == 0 {
                    continue; // a missed scrape
                }
                v = if k % (23 + r as i64) == 0 { 1.5 } else { v + (k % 7) as f64 * 1.1 + 0.1 };
                let v = if status == "503" && k == 60 { f64::from_bits(crate::store::STALE_NAN_BITS) } else { v };
                store.append(id, k * 15_000 + i64::from(r) * 7, v).unwrap();
            }
        }
    }
    Engine::new(store, EngineOptions::default())
}

const EXPRS: [&str; 9] = [
    r#"rate(http_requests_total{status=~"5.."}[1m])"#,
    r#"sum by (route) (rate(http_requests_total[1m]))"#,
    r#"increase(http_requests_total[1m])"#,
    r#"sum by (route) (increase(http_requests_total{status=~"5.."}[1m])) / sum by (route) (increase(http_requests_total[1m]))"#,
    r#"rate(http_requests_total{status="200"}[1m]) > 1"#,
    r#"rate(http_requests_total[5m])"#,
    r#"rate(http_requests_total[1m] offset 1m)"#,
    r#"increase(http_requests_total{route="/r2"}[5m])"#,
    r#"rate(http_requests_total[2m] @ 600)"#,
];

/// The result as text with every value's exact bits.
fn exact(v: &Value) -> String {
    match v {
        Value::Vector(s) => {
            let mut out: Vec<String> = s.iter().map(|s| format!("{:?} {:x}", s.labels, s.v.to_bits())).collect();
            out.sort();
            out.join("\n")
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn shared_counter_windows_give_the_uncached_results_in_any_order() {
    let engine = engine();
    for t in [150_000, 600_000, 900_007, 1_185_000] {
        let alone: Vec<String> = EXPRS
            .iter()
            .map(|q| exact(&engine.instant_cached(&Engine::parse(q).unwrap(), t, None).unwrap().value))
            .collect();
        assert!(alone.iter().filter(|r| !r.is_empty()).count() >= 6, "the expressions return data at {t}");
        for order in [EXPRS.iter().collect::<Vec<_>>(), EXPRS.iter().rev().collect()] {
            let cache = EvalCache::default();
            for q in order {
                let i = EXPRS.iter().position(|e| e == q).unwrap();
                let shared = engine.instant_cached(&Engine::parse(q).unwrap(), t, Some(&cache)).unwrap();
                assert_eq!(exact(&shared.value), alone[i], "{q} at {t}");
            }
        }
    }
}

#[test]
fn a_window_read_by_one_selector_is_not_decoded_again_by_another() {
    let engine = engine();
    let cache = EvalCache::default();
    let t = 900_000;
    let q = |q: &str| engine.instant_cached(&Engine::parse(q).unwrap(), t, Some(&cache)).unwrap();
    assert!(q(r#"rate(http_requests_total{status="500"}[1m])"#).samples > 0);
    // Only the 404, 200 and 503 series' windows are new here.
    let all = q("sum(increase(http_requests_total[1m]))").samples;
    assert!(all > 0);
    assert_eq!(q(r#"rate(http_requests_total{status=~"5.."}[1m])"#).samples, 0, "every window is known");
    assert_eq!(q(r#"increase(http_requests_total[1m])"#).samples, 0);
    // Another window is decoded; clearing (a recording rule wrote) forgets them all.
    assert!(q("rate(http_requests_total[2m])").samples > 0);
    cache.clear();
    assert!(q(r#"rate(http_requests_total{status="500"}[1m])"#).samples > 0);
}
