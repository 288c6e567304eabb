//! Report computation on generated events (run with `cargo bench --bench reports`): the KPI
//! rollup and the digest over 1M events (and 10M with `SIDEWATCH_BENCH_10M=1`), 30 days, 100k
//! users, on SQLite (and PostgreSQL when `SIDEWATCH_TEST_POSTGRES_URL` is set). Time is split
//! into load (the three grouped SQL queries) and compute (the rollup built from what they
//! return, retention rates on a polars DataFrame), plus each whole report; peak memory is the process's VmHWM. Databases are generated once with the
//! `report seed` generator into `~/.cache/sw-bench/` and reused.

use sidewatch::reports::{Ctx, day_of, digest, kpi, seed};
use sidewatch::settings::Config;
use sidewatch::storage::StorageConfig;
use sidewatch::storage::{ReportRepo, Storage};
use std::sync::Arc;
use std::time::Instant;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn bench(label: &str, st: Storage, events: u64, end_day: i64) {
    let st = st.with_timeout(std::time::Duration::from_secs(3600));
    let have: i64 = st.event_counts(0, i64::MAX).await.unwrap().iter().map(|(_, n)| n).sum();
    if (have as u64) < events * 9 / 10 {
        let t = Instant::now();
        let spec = seed::SeedSpec { events, users: 100_000, days: 30, end_day, seed: 7 };
        let n = seed::seed(&st, &spec, |_| {}).await.unwrap();
        println!("{label}: seeded {n} events in {:.1} s", t.elapsed().as_secs_f64());
    }
    let total: i64 = st.event_counts(0, i64::MAX).await.unwrap().iter().map(|(_, n)| n).sum();
    let mut cfg = Config::default();
    cfg.kpi.funnels = vec![
        sidewatch::reports::FunnelConfig {
            name: "Landing -> Run CTR".into(),
            from: "landing_view".into(),
            to: "run_start".into(),
            warn_drop_pct: 20.0,
            crit_drop_pct: 40.0,
        },
        sidewatch::reports::FunnelConfig {
            name: "Run -> Replay Start".into(),
            from: "run_start".into(),
            to: "replay_start".into(),
            warn_drop_pct: 20.0,
            crit_drop_pct: 40.0,
        },
        sidewatch::reports::FunnelConfig {
            name: "Replay Completion".into(),
            from: "replay_start".into(),
            to: "replay_complete".into(),
            warn_drop_pct: 20.0,
            crit_drop_pct: 40.0,
        },
    ];
    cfg.rules.files = vec![];
    let dir = tempfile::tempdir().unwrap();
    let ctx = Ctx::new(st.clone(), Arc::new(cfg), dir.path());
    let (start, end) = ((end_day - 37) * 86_400_000, (end_day + 1) * 86_400_000);
    // Each grouped query alone, then all three at once as the rollup runs them.
    let t = Instant::now();
    let daily = st.daily_counts(start, end).await.unwrap();
    let t_daily = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let dau = st.daily_active(start, end).await.unwrap();
    let t_dau = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cohorts = st.cohorts(end_day - 30, end_day).await.unwrap();
    let t_cohorts = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded = kpi::load(&ctx, end_day).await.unwrap();
    let t_load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let reps = 100;
    for _ in 0..reps {
        std::hint::black_box(kpi::build(&ctx, end_day, &loaded).await.unwrap());
    }
    let t_compute = t.elapsed().as_secs_f64() / reps as f64;
    let t = Instant::now();
    kpi::compute(&ctx, end_day).await.unwrap();
    let t_kpi = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let args = digest::DigestArgs {
        lookback_days: 7,
        anchor: Some(sidewatch::reports::date_of(end_day)),
        allow_duplicate_anchor: true,
    };
    let (status, _, _) = digest::run(&ctx, &args).await.unwrap();
    let t_digest = t.elapsed().as_secs_f64();
    println!(
        "{label:<9} {total:>9} events | load: daily counts {t_daily:.2} s ({} rows), DAU {t_dau:.2} s ({} rows), cohorts {t_cohorts:.2} s ({} rows); all three at once {t_load:.2} s | compute {:.3} ms = {:.0} M events/s | kpi total {t_kpi:.2} s | digest total {t_digest:.2} s ({}) | peak RSS {:.0} MiB",
        daily.len(),
        dau.len(),
        cohorts.len(),
        t_compute * 1e3,
        total as f64 / t_compute / 1e6,
        status.as_str(),
        vm_hwm_mib()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let end_day = day_of(chrono::Utc::now().timestamp_millis()) - 1;
        let sizes: Vec<u64> = if !full {
            vec![20_000]
        } else if std::env::var_os("SIDEWATCH_BENCH_10M").is_some() {
            vec![1_000_000, 10_000_000]
        } else {
            vec![1_000_000]
        };
        let cache = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/sw-bench");
        for n in sizes {
            let tmp = tempfile::tempdir().unwrap();
            let dir = if full { cache.clone() } else { tmp.path().to_path_buf() };
            std::fs::create_dir_all(&dir).unwrap();
            let cfg: StorageConfig = toml::from_str(&format!("url = \"sqlite://events-{n}-{end_day}.db\"")).unwrap();
            bench("sqlite", Storage::connect(&cfg, &dir).await.unwrap(), n, end_day).await;
            if let (true, Ok(admin)) = (full, std::env::var("SIDEWATCH_TEST_POSTGRES_URL")) {
                use sqlx::Connection;
                let name = format!("sw_bench_events_{n}_{end_day}");
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
                let _ = sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await;
                let base = admin.rsplit_once('/').unwrap().0;
                let cfg: StorageConfig = toml::from_str(&format!("url = \"{base}/{name}\"")).unwrap();
                bench("postgres", Storage::connect(&cfg, &dir).await.unwrap(), n, end_day).await;
            }
        }
    });
}
