//! Three real `sidewatch` processes on one PostgreSQL database in a 1,000-alert storm to one
//! webhook: one replica is killed with `kill -9` a quarter of the way in, and another's
//! connection to PostgreSQL is cut (a loopback proxy) for five seconds and restored. Every
//! alert reaches the receiver — none lost — at most twice (only what the killed replica had
//! claimed and not finished may go again), and each report-job occurrence runs once.

use crate::common::receivers::Recorder;
use crate::common::storm::{delivered, start, target, write_rule};
use crate::common::{Proxy, pg_test_db};
use sidewatch::storage::{ReportRepo, Storage};
use std::time::{Duration, Instant};

const ALERTS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_kill_9_and_a_cut_database_lose_nothing() {
    let Some(db) = pg_test_db("three_replicas_kill_9_and_a_cut_database_lose_nothing").await else { return };
    let target = target(ALERTS).await;
    let hook = Recorder::start().await;
    let pg: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let mut proxy = Proxy::start(pg).await;
    let mut dirs = Vec::new();
    let mut children = Vec::new();
    for r in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        write_rule(dir.path());
        // Replica 2 reaches the database through the proxy that the test cuts.
        let url = if r == 2 { db.url_via(proxy.addr) } else { db.url.clone() };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nurl = \"{url}\"\nconnect_timeout = \"2s\"\n[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
             [[targets]]\nname = \"svc\"\nmetrics_url = \"{}\"\n[rules]\nfiles = [\"rules/*.yml\"]\nevaluation_interval = \"1s\"\n\
             [jobs]\nbaseline = {{ schedule = \"*/2 * * * * *\", windows = 1, window_minutes = 1 }}\nkpi = {{ schedule = \"\" }}\ndigest = {{ schedule = \"\" }}\n\
             [global]\nexternal_labels = {{ replica = \"r{r}\" }}\nreplica_labels = [\"replica\"]\n\
             [notify]\nrate_limit_per_minute = 0\nclaim_grace = \"2s\"\n[[notify.receivers]]\nname = \"r\"\n\
             webhook = [{{ url = \"{}\", timeout = \"1s\" }}]\n[notify.route]\nreceiver = \"r\"\ngroup_by = [\"alertname\", \"i\"]\n\
             group_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n",
            target.url("/metrics"),
            hook.url("/hook"),
        );
        std::fs::write(dir.path().join("sidewatch.toml"), config).unwrap();
        children.push(start(dir.path()));
        dirs.push(dir);
    }
    let t0 = Instant::now();
    while delivered(&hook).len() < ALERTS / 4 {
        assert!(t0.elapsed() < Duration::from_secs(90), "the storm did not start: {}", delivered(&hook).len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    children[0].kill().expect("kill -9");
    let _ = children[0].wait();
    let at_kill = delivered(&hook).len();
    proxy.stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restart().await;
    let t1 = Instant::now();
    while delivered(&hook).len() < ALERTS && t1.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = delivered(&hook);
    for c in children.iter_mut().skip(1) {
        let _ = c.kill();
        let _ = c.wait();
    }
    let duplicated = seen.values().filter(|n| **n > 1).count();
    let most = seen.values().copied().max().unwrap_or(0);
    eprintln!(
        "fleet storm: {at_kill} delivered at the kill, {} of {ALERTS} in the end ({:.1} s after the cut was restored), lost {}, duplicated {duplicated}, most copies {most}",
        seen.len(),
        t1.elapsed().as_secs_f64(),
        ALERTS - seen.len()
    );
    assert_eq!(seen.len(), ALERTS, "every alert delivered: none lost");
    assert!(most <= 2, "an alert went {most} times");
    assert!(duplicated <= 64, "{duplicated} alerts delivered twice (bound: the killed replica's claims in flight)");
    // Each baseline occurrence ran once among the three.
    let storage =
        Storage::connect(&toml::from_str(&format!("url = \"{}\"", db.url)).unwrap(), std::path::Path::new("."))
            .await
            .unwrap();
    let runs = storage.list_runs("baseline", 1000).await.unwrap();
    let mut at: Vec<i64> = runs.iter().map(|r| r.scheduled_for).collect();
    let n = at.len();
    at.sort();
    at.dedup();
    assert!(n >= 3 && at.len() == n, "{n} runs, {} occurrences", at.len());
}
