//! The computations on DataFrames (polars, lazy): window statistics of a history series and
//! cohort retention. DataFrames are built from the rows sqlx returns; what SQL does best
//! (daily distinct users, distinct active user-days) has already been done there.

use polars::prelude::*;

/// Runs a polars computation on a thread of its own: polars blocks in ways a tokio runtime
/// (the CLI's current-thread one in particular) does not allow.
pub async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> PolarsResult<T> + Send + 'static) -> PolarsResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.unwrap_or_else(|_| Err(PolarsError::ComputeError("computation thread panicked".into())))
}

/// Statistics of one window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowStat {
    /// Window start (ms).
    pub start: i64,
    /// Window end (ms, exclusive).
    pub end: i64,
    /// Samples in it.
    pub count: u32,
    /// Mean.
    pub mean: Option<f64>,
    /// Minimum.
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
    /// 95th percentile (linear).
    pub p95: Option<f64>,
}

/// `n` windows of `window_ms` starting at `start` over `(ts, value)` rows (any order).
pub fn window_stats(rows: &[(i64, f64)], start: i64, window_ms: i64, n: usize) -> PolarsResult<Vec<WindowStat>> {
    let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let vs: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let df = df!("ts" => ts, "value" => vs)?;
    let out = df
        .lazy()
        .filter(col("ts").gt_eq(lit(start)).and(col("ts").lt(lit(start + window_ms * n as i64))))
        .with_column(((col("ts") - lit(start)) / lit(window_ms)).alias("w"))
        .group_by([col("w")])
        .agg([
            len().alias("count"),
            col("value").mean().alias("mean"),
            col("value").min().alias("min"),
            col("value").max().alias("max"),
            col("value").quantile(lit(0.95), QuantileMethod::Linear).alias("p95"),
        ])
        .collect()?;
    let w = out.column("w")?.i64()?.clone();
    let count = out.column("count")?.cast(&DataType::UInt32)?;
    let count = count.u32()?;
    let f =
        |name: &str| -> PolarsResult<Float64Chunked> { Ok(out.column(name)?.cast(&DataType::Float64)?.f64()?.clone()) };
    let (mean, min, max, p95) = (f("mean")?, f("min")?, f("max")?, f("p95")?);
    let mut stats: Vec<WindowStat> = (0..n)
        .map(|i| WindowStat {
            start: start + window_ms * i as i64,
            end: start + window_ms * (i as i64 + 1),
            count: 0,
            mean: None,
            min: None,
            max: None,
            p95: None,
        })
        .collect();
    for i in 0..out.height() {
        let Some(idx) = w.get(i) else { continue };
        if let Some(s) = stats.get_mut(idx as usize) {
            s.count = count.get(i).unwrap_or(0);
            s.mean = mean.get(i);
            s.min = min.get(i);
            s.max = max.get(i);
            s.p95 = p95.get(i);
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let rows: Vec<(i64, f64)> = (0..20).map(|i| (i * 30_000, i as f64)).collect();
        let w = window_stats(&rows, 0, 300_000, 3).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].count, w[0].mean, w[0].max), (10, Some(4.5), Some(9.0)));
        assert_eq!((w[1].count, w[1].min), (10, Some(10.0)));
        assert_eq!((w[2].count, w[2].mean), (0, None));
    }
}
