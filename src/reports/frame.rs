//! The computations on DataFrames (polars, lazy): window statistics of a history series and
//! cohort retention rates. DataFrames are built from the rows sqlx returns; what SQL does best
//! (daily distinct users, each cohort's size and returning users) has already been done there.

use crate::storage::Cohort;
use polars::prelude::*;

/// Runs a polars computation on a thread of its own: polars blocks in ways a tokio runtime
/// (the CLI's current-thread one in particular) does not allow.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> PolarsResult<T> + Send + 'static,
) -> PolarsResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.unwrap_or_else(|_| Err(PolarsError::ComputeError("computation thread panicked".into())))
}

/// Statistics of one window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct WindowStat {
    /// Window start (ms).
    pub(crate) start: i64,
    /// Window end (ms, exclusive).
    pub(crate) end: i64,
    /// Samples in it.
    pub(crate) count: u32,
    /// Mean.
    pub(crate) mean: Option<f64>,
    /// Minimum.
    pub(crate) min: Option<f64>,
    /// Maximum.
    pub(crate) max: Option<f64>,
    /// 95th percentile (linear).
    pub(crate) p95: Option<f64>,
}

/// `n` windows of `window_ms` starting at `start` over `(ts, value)` rows (any order).
///
/// With no rows polars is not started at all: its first zero-filled buffer allocates, writes
/// and keeps 8 MiB for the life of the process, which a sidecar with nothing to compute (no
/// history, no KPI events) should not pay.
pub(crate) fn window_stats(rows: &[(i64, f64)], start: i64, window_ms: i64, n: usize) -> PolarsResult<Vec<WindowStat>> {
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
    if rows.is_empty() {
        return Ok(stats);
    }
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

/// One cohort's retention: D1 and D7 as fractions of its size, `None` while the cohort is
/// younger than 1 / 7 days at the rollup's date or smaller than the minimum size.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Retention {
    /// The cohort's first day (days since 1970-01-01).
    pub(crate) day: i64,
    /// Users first seen that day.
    pub(crate) size: i64,
    /// Share active the next day.
    pub(crate) d1: Option<f64>,
    /// Share active seven days later.
    pub(crate) d7: Option<f64>,
}

/// Retention rates of the cohorts first seen in the 30 days up to `day`, oldest first, from
/// the cohort rows SQL returned (none without rows, without starting polars: see
/// [`window_stats`]).
pub(crate) fn retention(cohorts: &[Cohort], day: i64, min_size: i64) -> PolarsResult<Vec<Retention>> {
    if cohorts.is_empty() {
        return Ok(Vec::new());
    }
    let df = df!(
        "d0" => cohorts.iter().map(|c| c.day).collect::<Vec<_>>(),
        "size" => cohorts.iter().map(|c| c.size).collect::<Vec<_>>(),
        "d1" => cohorts.iter().map(|c| c.d1).collect::<Vec<_>>(),
        "d7" => cohorts.iter().map(|c| c.d7).collect::<Vec<_>>()
    )?;
    // A rate only for a mature cohort (its day + k has ended by `day`) of at least `min_size`.
    let rate = |k: i64, n: &str| {
        when(col("d0").lt_eq(lit(day - k)).and(col("size").gt_eq(lit(min_size))))
            .then(col(n).cast(DataType::Float64) / col("size").cast(DataType::Float64))
            .otherwise(lit(Null {}).cast(DataType::Float64))
            .alias(format!("r{k}"))
    };
    let out = df
        .lazy()
        .filter(col("d0").gt_eq(lit(day - 30)).and(col("d0").lt_eq(lit(day))))
        .with_columns([rate(1, "d1"), rate(7, "d7")])
        .sort(["d0"], Default::default())
        .collect()?;
    let (d0, size) = (out.column("d0")?.i64()?, out.column("size")?.i64()?);
    let (r1, r7) = (out.column("r1")?.f64()?, out.column("r7")?.f64()?);
    Ok((0..out.height())
        .filter_map(|i| Some(Retention { day: d0.get(i)?, size: size.get(i)?, d1: r1.get(i), d7: r7.get(i) }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_retention() {
        let rows: Vec<(i64, f64)> = (0..20).map(|i| (i * 30_000, i as f64)).collect();
        let w = window_stats(&rows, 0, 300_000, 3).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].count, w[0].mean, w[0].max), (10, Some(4.5), Some(9.0)));
        assert_eq!((w[1].count, w[1].min), (10, Some(10.0)));
        assert_eq!((w[2].count, w[2].mean), (0, None));
        let empty = window_stats(&[], 0, 300_000, 3).unwrap();
        assert_eq!(
            empty.iter().map(|s| (s.start, s.end, s.count, s.mean)).collect::<Vec<_>>(),
            vec![(0, 300_000, 0, None), (300_000, 600_000, 0, None), (600_000, 900_000, 0, None)]
        );
        assert_eq!(retention(&[], 20, 1).unwrap(), Vec::new());
        // Day 10: 4 users, 1 back on day 11, 2 on day 17; day 15 is too young for D7 at day 20;
        // day 19 too small; day 20 too young for both; day -20 outside the 30 days.
        let c: Vec<Cohort> = [(-20, 9, 9, 9), (10, 4, 1, 2), (15, 4, 4, 4), (19, 1, 1, 0), (20, 5, 0, 0)]
            .into_iter()
            .map(|(day, size, d1, d7)| Cohort { day, size, d1, d7 })
            .collect();
        let r = retention(&c, 20, 2).unwrap();
        let got: Vec<(i64, i64, Option<f64>, Option<f64>)> = r.iter().map(|x| (x.day, x.size, x.d1, x.d7)).collect();
        assert_eq!(
            got,
            vec![(10, 4, Some(0.25), Some(0.5)), (15, 4, Some(1.0), None), (19, 1, None, None), (20, 5, None, None)]
        );
    }
}
