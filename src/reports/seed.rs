//! The *event generator* behind `sidewatch report seed`: fills the events table with a
//! realistic product funnel (landing → run → replay start → replay completion, LLM calls) for
//! a number of users over a number of days, deterministic for a given seed, so reports, tests
//! and benchmarks run on known data.

use crate::storage::{NewEvent, ReportRepo, Storage, StorageError};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct SeedSpec {
    /// Exactly this many events in total.
    pub events: u64,
    /// Distinct users.
    pub users: u64,
    /// Days, ending with `end_day` (UTC day number, included).
    pub days: u32,
    /// Last day.
    pub end_day: i64,
    /// Seed.
    pub seed: u64,
}

/// Generates and stores the events; calls `progress(done)` now and then. Returns the count.
pub async fn seed(st: &Storage, spec: &SeedSpec, mut progress: impl FnMut(u64)) -> Result<u64, StorageError> {
    let mut rng = Rng(spec.seed);
    // Exactly `spec.events` in all: the remainder goes one each to the first days.
    let days = spec.days.max(1) as u64;
    let quota = |d: i64| spec.events / days + u64::from((d as u64) < spec.events % days);
    let first_day = spec.end_day - spec.days as i64 + 1;
    let mut batch = Vec::with_capacity(10_000);
    let mut total = 0u64;
    // Into an empty table, load first and build the indexes once at the end.
    let st = st.clone().with_timeout(std::time::Duration::from_secs(3600));
    let bulk = st.event_counts(0, i64::MAX).await?.is_empty();
    if bulk {
        st.event_indexes(false).await?;
    }
    for d in 0..spec.days as i64 {
        let day = first_day + d;
        let mut n = 0;
        let q = quota(d);
        while n < q {
            let user = rng.next() % spec.users.max(1);
            let ts = day * 86_400_000 + (rng.next() % 86_400_000) as i64;
            let mut push = |name: &str, offset: i64| {
                if n >= q {
                    return false;
                }
                batch.push(NewEvent {
                    ts: (ts + offset).min(day * 86_400_000 + 86_399_999),
                    name: name.into(),
                    user_id: format!("u{user}"),
                    props: "{}".into(),
                });
                n += 1;
                true
            };
            push("landing_view", 0);
            if rng.chance(0.4) && push("run_start", 1_000) {
                if rng.chance(0.5) {
                    push("llm_call", 1_500);
                }
                if rng.chance(0.3) && push("replay_start", 2_000) && rng.chance(0.7) {
                    push("replay_complete", 3_000);
                }
            }
            if batch.len() >= 10_000 {
                total += st.insert_events(&batch).await?;
                batch.clear();
                progress(total);
            }
        }
    }
    total += st.insert_events(&batch).await?;
    progress(total);
    if bulk {
        st.event_indexes(true).await?;
    }
    // A bulk load leaves the planner blind (and, on PostgreSQL, index-only scans off).
    st.analyze_events().await?;
    Ok(total)
}
