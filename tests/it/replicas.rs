//! Three sidecars on one PostgreSQL database evaluating the same rule and delivering to one
//! webhook: each group change — firing, resolved, firing again — reaches the webhook exactly
//! once, whichever replica queues it first; the others' rows are recorded as suppressed
//! duplicates; and no replica's alert-state writes fail (no deadlock, no duplicate key).

use crate::common::receivers::Recorder;
use crate::common::{FakeServer, TestApp, client, eventually, pg_test_db, spawn_app_in};
use sidewatch::storage::OutboxRepo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: ReplicaCheck\n        expr: replica_check_broken > 0\n        labels:\n          severity: warning\n";

fn statuses(hook: &Recorder) -> Vec<String> {
    hook.received().iter().map(|r| r.json()["status"].as_str().unwrap_or("").to_string()).collect()
}

async fn storage_errors(app: &TestApp) -> String {
    let m = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    m.lines().filter(|l| l.starts_with("sidewatch_storage_errors_total{")).map(|l| format!("{l}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_postgres_deliver_each_group_change_exactly_once() {
    let Some(db) = pg_test_db("three_replicas_on_postgres_deliver_each_group_change_exactly_once").await else {
        return;
    };
    let hook = Recorder::start().await;
    // The service all three replicas watch: broken or not, as the test says.
    let broken = Arc::new(AtomicU64::new(1));
    let b = broken.clone();
    let svc =
        FakeServer::start(axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let b = b.clone();
                async move {
                    format!("# TYPE replica_check_broken gauge\nreplica_check_broken {}\n", b.load(Ordering::SeqCst))
                }
            }),
        ))
        .await;
    let extra = format!(
        "[scrape]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[targets]]\nname = \"svc\"\nmetrics_url = \"{}\"\n\
         [rules]\nfiles = [\"r.yml\"]\nevaluation_interval = \"1s\"\n\
         [notify.route]\nreceiver = \"hook\"\ngroup_wait = \"1s\"\ngroup_interval = \"2s\"\nrepeat_interval = \"1h\"\n\
         [[notify.receivers]]\nname = \"hook\"\nwebhook = [{{ url = \"{}\" }}]\n",
        svc.url("/metrics"),
        hook.url("/hook")
    );
    let storage = format!("url = \"{}\"", db.url);
    let mut apps = Vec::new();
    for r in ["a", "b", "c"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yml"), RULES).unwrap();
        // Each replica says which it is; that label is not part of an alert's identity.
        let global = format!(
            "[global]\nexternal_labels = {{ cluster = \"eu-1\", replica = \"{r}\" }}\nreplica_labels = [\"replica\"]\n"
        );
        apps.push(spawn_app_in(dir, &storage, &format!("{global}{extra}")).await);
    }
    let settle = std::time::Duration::from_secs(6);

    eventually(30, "the first firing notification", || async { (!hook.received().is_empty()).then_some(()) }).await;
    tokio::time::sleep(settle).await;
    assert_eq!(statuses(&hook), vec!["firing"], "one firing notification from three replicas");
    let labels = hook.received()[0].json()["alerts"][0]["labels"].clone();
    assert_eq!((labels["cluster"].as_str(), labels.get("replica")), (Some("eu-1"), None), "{labels}");
    // Federation says which replica a series comes from.
    let fed = client().get(apps[1].url("/federate?match[]=up")).send().await.unwrap().text().await.unwrap();
    assert!(fed.contains("replica=\"b\"") && fed.contains("cluster=\"eu-1\""), "{fed}");

    broken.store(0, Ordering::SeqCst);
    eventually(30, "the resolved notification", || async { (statuses(&hook).len() >= 2).then_some(()) }).await;
    tokio::time::sleep(settle).await;
    assert_eq!(statuses(&hook), vec!["firing", "resolved"], "one resolved notification");

    // A re-fire is a new group change: delivered, once.
    broken.store(1, Ordering::SeqCst);
    eventually(30, "the second firing notification", || async { (statuses(&hook).len() >= 3).then_some(()) }).await;
    tokio::time::sleep(settle).await;
    assert_eq!(statuses(&hook), vec!["firing", "resolved", "firing"]);

    // The other replicas' copies are on record as suppressed duplicates.
    let rows = apps[0].storage.list_outbox(&Default::default()).await.unwrap();
    let sent = rows.iter().filter(|r| r.status == "sent").count();
    let dup = rows
        .iter()
        .filter(|r| r.status == "suppressed" && r.error_text.as_deref().is_some_and(|e| e.contains("another replica")))
        .count();
    assert_eq!(sent, 3, "{rows:#?}");
    assert!(dup >= 1, "the other replicas' copies are recorded: {rows:#?}");
    for a in &apps {
        let errors = storage_errors(a).await;
        assert!(errors.is_empty(), "a replica's storage writes failed:\n{errors}");
    }
    for a in apps {
        a.stop().await;
    }
}
