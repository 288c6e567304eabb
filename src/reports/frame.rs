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

/// One cohort: users first seen on `day`, and how many came back 1 and 7 days later.
#[derive(Clone, Debug, PartialEq)]
pub struct Cohort {
    /// UTC day number.
    pub day: i64,
    /// Users first seen that day.
    pub size: u64,
    /// Of them, active on day + 1.
    pub d1: u64,
    /// Of them, active on day + 7.
    pub d7: u64,
}

/// Cohorts from users' first days and their active days.
pub fn cohorts(first: &[(String, i64)], active: &[(String, i64)]) -> PolarsResult<Vec<Cohort>> {
    let first_df = df!(
        "user_id" => first.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "d0" => first.iter().map(|r| r.1).collect::<Vec<_>>()
    )?;
    let act_df = df!(
        "user_id" => active.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "day" => active.iter().map(|r| r.1).collect::<Vec<_>>()
    )?;
    let back = act_df
        .lazy()
        .join(first_df.clone().lazy(), [col("user_id")], [col("user_id")], JoinArgs::new(JoinType::Inner))
        .with_column((col("day") - col("d0")).alias("k"))
        .group_by([col("d0")])
        .agg([
            col("k").eq(lit(1i64)).cast(DataType::UInt64).sum().alias("d1"),
            col("k").eq(lit(7i64)).cast(DataType::UInt64).sum().alias("d7"),
        ]);
    let out = first_df
        .lazy()
        .group_by([col("d0")])
        .agg([len().cast(DataType::UInt64).alias("size")])
        .join(back, [col("d0")], [col("d0")], JoinArgs::new(JoinType::Left))
        .sort(["d0"], Default::default())
        .collect()?;
    let d0 = out.column("d0")?.i64()?.clone();
    let get = |n: &str| -> PolarsResult<UInt64Chunked> { Ok(out.column(n)?.cast(&DataType::UInt64)?.u64()?.clone()) };
    let (size, d1, d7) = (get("size")?, get("d1")?, get("d7")?);
    Ok((0..out.height())
        .filter_map(|i| {
            Some(Cohort {
                day: d0.get(i)?,
                size: size.get(i).unwrap_or(0),
                d1: d1.get(i).unwrap_or(0),
                d7: d7.get(i).unwrap_or(0),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_cohorts() {
        let rows: Vec<(i64, f64)> = (0..20).map(|i| (i * 30_000, i as f64)).collect();
        let w = window_stats(&rows, 0, 300_000, 3).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].count, w[0].mean, w[0].max), (10, Some(4.5), Some(9.0)));
        assert_eq!((w[1].count, w[1].min), (10, Some(10.0)));
        assert_eq!((w[2].count, w[2].mean), (0, None));
        let first = vec![("a".to_string(), 10), ("b".to_string(), 10), ("c".to_string(), 11)];
        let active = vec![("a".to_string(), 10), ("a".to_string(), 11), ("b".to_string(), 17), ("c".to_string(), 11)];
        let c = cohorts(&first, &active).unwrap();
        assert_eq!(c, vec![Cohort { day: 10, size: 2, d1: 1, d7: 1 }, Cohort { day: 11, size: 1, d1: 0, d7: 0 }]);
    }
}
