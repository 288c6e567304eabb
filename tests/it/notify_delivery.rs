//! The durable outbox under faults: a channel answering 500 then recovering, Telegram's
//! `retry_after`, a channel that hangs (others unaffected), a crash between claim and send,
//! the cooldown, storms over the rate limit, and two workers on one outbox (SQLite and
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`) never sending a row twice.

use crate::common::eventually;
use crate::common::receivers::{FakeTelegram, Recorder};
use sidewatch::notify::deliver::Worker;
use sidewatch::notify::metrics::NotifyMetrics;
use sidewatch::notify::model::{ActiveAlert, Map};
use sidewatch::notify::{Notifier, Plan, template};
use sidewatch::storage::{NewOutboxRow, OutboxFilter, OutboxRepo, OutboxRow, Storage};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) async fn sqlite(dir: &std::path::Path) -> Storage {
    let cfg: sidewatch::storage::StorageConfig = toml::from_str("url = \"sqlite://data/t.db\"").unwrap();
    Storage::connect(&cfg, dir).await.unwrap()
}

/// A plan from a `[notify]` TOML body (route with no waiting).
pub(crate) fn plan(dir: &std::path::Path, body: &str) -> Plan {
    let text = format!(
        "[notify]\n{body}\n[notify.route]\nreceiver = \"r\"\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n"
    );
    let loaded = sidewatch::settings::load_from_str(&text, None, &[]).expect("valid notify config");
    Plan::build(&loaded.config.notify, dir, "http://sidewatch.test").expect("plan builds")
}

pub(crate) fn alert(name: &str, instance: &str) -> ActiveAlert {
    ActiveAlert {
        labels: [("alertname", name), ("instance", instance), ("severity", "critical")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: Map::new(),
        starts_at: now_ms(),
        ends_at: None,
        value: 1.0,
        flaps: 0,
        generator_url: String::new(),
    }
}

async fn rows(st: &Storage) -> Vec<OutboxRow> {
    st.list_outbox(&OutboxFilter::default()).await.unwrap()
}

fn start(plan: Plan, st: &Storage) -> (Notifier, tokio::sync::watch::Sender<bool>) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (n, _) = Notifier::start(plan, st.clone(), NotifyMetrics::unregistered(), rx);
    (n, tx)
}

#[tokio::test]
async fn a_500_then_recovery_is_retried_and_telegram_retry_after_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    hook.behaviour.status.store(500, Ordering::SeqCst);
    hook.behaviour.fail_first.store(2, Ordering::SeqCst);
    let tg = FakeTelegram::start().await;
    tg.flood_first.store(1, Ordering::SeqCst);
    let p = plan(
        dir.path(),
        &format!(
            "[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\ntelegram = [{{ bot_token = \"1:T\", chat_id = \"5\", api_url = \"{}\" }}]\n",
            hook.url("/h"),
            tg.server.url("")
        ),
    );
    let (n, stop) = start(p, &st);
    n.update("g".into(), vec![alert("A", "1")]);
    let rows = eventually(20, "both rows sent", || async {
        let r = rows(&st).await;
        (r.len() == 2 && r.iter().all(|r| r.status == "sent")).then_some(r)
    })
    .await;
    let by: HashMap<&str, &OutboxRow> = rows.iter().map(|r| (r.channel.as_str(), r)).collect();
    assert_eq!(by["webhook"].attempts, 3, "two 500s, then delivered");
    assert_eq!(by["webhook"].last_http_status, Some(200));
    assert_eq!(by["webhook"].error_text, None, "a row that ended sent keeps no stale error");
    assert_eq!(by["telegram"].attempts, 2, "retry_after honoured, then delivered");
    assert_eq!(hook.received().len(), 1);
    assert_eq!(tg.calls.lock().unwrap().len(), 1);
    let _ = stop.send(true);
}

#[tokio::test]
async fn a_hanging_channel_never_delays_another() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let (slow, fast) = (Recorder::start().await, Recorder::start().await);
    slow.behaviour.hang.store(true, Ordering::SeqCst);
    let p = plan(
        dir.path(),
        &format!(
            "[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\", timeout = \"3s\" }}, {{ url = \"{}\" }}]\n",
            slow.url("/slow"),
            fast.url("/fast")
        ),
    );
    let (n, stop) = start(p, &st);
    let t0 = std::time::Instant::now();
    for i in 0..3 {
        n.update(format!("g{i}"), vec![alert(&format!("A{i}"), "1")]);
    }
    eventually(10, "fast channel got all three", || async { (fast.received().len() == 3).then_some(()) }).await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(2), "fast channel waited {:?}", t0.elapsed());
    let slow_row = eventually(10, "slow row timed out and is retried", || async {
        rows(&st).await.into_iter().find(|r| r.target == "r/webhook/0" && r.error_text.is_some())
    })
    .await;
    assert!(slow_row.error_text.unwrap().contains("timed out"));
    let _ = stop.send(true);
}

fn row_for(target: &str, group_key: &str, created_at: i64) -> NewOutboxRow {
    let mut n = template::sample("firing");
    n.receiver = "r".into();
    n.group_key = group_key.into();
    NewOutboxRow {
        receiver: "r".into(),
        channel: "webhook".into(),
        target: target.into(),
        group_key: group_key.into(),
        alert_names: "SidewatchTest".into(),
        kind: "firing".into(),
        payload: serde_json::to_string(&n).unwrap(),
        payload_hash: group_key.into(),
        status: sidewatch::storage::OutboxStatus::Pending,
        error_text: None,
        expires_at: created_at + 3_600_000,
        created_at,
    }
}

#[tokio::test]
async fn a_crash_between_claim_and_send_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    let long_ago = now_ms() - 600_000;
    st.enqueue(&[row_for("r/webhook/0", "crashed", long_ago)]).await.unwrap();
    // A worker claims the row and dies before sending.
    let claimed = st.claim("r/webhook/0", "dead-worker", long_ago, long_ago - 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(rows(&st).await[0].status, "sending");
    let p = plan(
        dir.path(),
        &format!("[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\n", hook.url("/h")),
    );
    let (_n, stop) = start(p, &st);
    eventually(10, "the orphaned row is delivered", || async { (hook.received().len() == 1).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(hook.received().len(), 1, "exactly once");
    let r = &rows(&st).await[0];
    assert_eq!((r.status.as_str(), r.attempts), ("sent", 2));
    let _ = stop.send(true);
}

#[tokio::test]
async fn identical_notifications_within_the_cooldown_are_suppressed() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let p = plan(
        dir.path(),
        "cooldown = \"10m\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{ url = \"http://127.0.0.1:9/x\" }]\n",
    );
    let mut d = sidewatch::notify::dispatch::Dispatcher::new(p.rules.clone(), p.runbooks.clone());
    let now = now_ms();
    d.update("g", vec![alert("A", "1")], now);
    let first = d.flush(now);
    sidewatch::notify::enqueue(&p, &st, first.clone(), now).await.unwrap();
    sidewatch::notify::enqueue(&p, &st, first, now + 1000).await.unwrap();
    let r = rows(&st).await;
    assert_eq!(r.len(), 2);
    let newest = &r[0];
    assert_eq!(newest.status, "suppressed");
    assert!(newest.error_text.as_deref().unwrap().starts_with("cooldown: identical notification queued at"));
    assert_eq!(r[1].status, "pending");
}

/// A plan whose route repeats unchanged firing groups every `repeat`.
fn plan_repeating(dir: &std::path::Path, repeat: &str) -> Plan {
    let text = format!(
        "[notify]\ncooldown = \"1h\"\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"http://127.0.0.1:9/x\" }}]\n\
         [notify.route]\nreceiver = \"r\"\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"{repeat}\"\n"
    );
    let loaded = sidewatch::settings::load_from_str(&text, None, &[]).expect("valid notify config");
    Plan::build(&loaded.config.notify, dir, "http://sidewatch.test").expect("plan builds")
}

/// What the outbox holds, oldest first: (kind, status).
async fn kinds(st: &Storage) -> Vec<(String, String)> {
    let mut r = rows(st).await;
    r.reverse();
    r.into_iter().map(|r| (r.kind, r.status.to_string())).collect()
}

/// A dispatcher over `plan_repeating(repeat)` and a fresh SQLite outbox.
async fn sequence(repeat: &str) -> (tempfile::TempDir, Storage, Plan, sidewatch::notify::dispatch::Dispatcher) {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let p = plan_repeating(dir.path(), repeat);
    let d = sidewatch::notify::dispatch::Dispatcher::new(p.rules.clone(), p.runbooks.clone());
    (dir, st, p, d)
}

/// The rules report `alerts` at `t`: the dispatcher flushes and what it decided is queued.
async fn report(
    d: &mut sidewatch::notify::dispatch::Dispatcher,
    p: &Plan,
    st: &Storage,
    alerts: Vec<ActiveAlert>,
    t: i64,
) {
    d.update("g", alerts, t);
    let out = d.flush(t);
    sidewatch::notify::enqueue(p, st, out, t).await.unwrap();
}

fn row_of(kind: &str, status: &str) -> (String, String) {
    (kind.to_string(), status.to_string())
}

#[tokio::test]
async fn a_re_fire_after_resolve_is_delivered_within_the_cooldown() {
    let (_dir, st, p, mut d) = sequence("1h").await;
    let t0 = now_ms();
    let firing = alert("A", "1");
    let mut resolved = firing.clone();
    resolved.ends_at = Some(t0 + 500);
    // Fire, resolve, fire again, resolve again: four changes of state within the cooldown.
    for (i, a) in [&firing, &resolved, &firing, &resolved].into_iter().enumerate() {
        report(&mut d, &p, &st, vec![a.clone()], t0 + i as i64 * 1000).await;
    }
    assert_eq!(
        kinds(&st).await,
        vec![
            row_of("firing", "pending"),
            row_of("resolved", "pending"),
            row_of("firing", "pending"),
            row_of("resolved", "pending")
        ],
        "every change of state is queued for delivery: the receiver's last word matches the alert"
    );
}

#[tokio::test]
async fn repeat_interval_reminders_pass_the_cooldown_and_duplicates_do_not() {
    let (_dir, st, p, mut d) = sequence("5s").await;
    let t0 = now_ms();
    d.update("g", vec![alert("A", "1")], t0);
    let first = d.flush(t0);
    sidewatch::notify::enqueue(&p, &st, first.clone(), t0).await.unwrap();
    // A replica or a restart queues the same notification again: dropped by the cooldown.
    sidewatch::notify::enqueue(&p, &st, first, t0 + 100).await.unwrap();
    // Nothing changes for 12 s: the dispatcher reminds after 5 s and after 10 s.
    let mut t = t0;
    for _ in 0..12 {
        t += 1000;
        report(&mut d, &p, &st, vec![alert("A", "1")], t).await;
    }
    assert_eq!(
        kinds(&st).await,
        vec![
            row_of("firing", "pending"),
            row_of("firing", "suppressed"),
            row_of("firing", "pending"),
            row_of("firing", "pending")
        ],
        "the first, a dropped duplicate, then reminders at 5 s and 10 s"
    );
}

#[tokio::test]
async fn an_alert_joining_or_leaving_a_group_is_delivered() {
    let (_dir, st, p, mut d) = sequence("1h").await;
    let t0 = now_ms();
    let (a, b) = (alert("A", "1"), alert("A", "2"));
    let mut b_resolved = b.clone();
    b_resolved.ends_at = Some(t0 + 1500);
    // A fires; B joins; B leaves; A alone again is what was told first, but it is a change.
    for (i, set) in [vec![a.clone()], vec![a.clone(), b.clone()], vec![a.clone(), b_resolved]].into_iter().enumerate() {
        report(&mut d, &p, &st, set, t0 + i as i64 * 1000).await;
    }
    let r = rows(&st).await;
    let statuses: Vec<String> = r.iter().rev().map(|r| r.status.to_string()).collect();
    assert_eq!(statuses, ["pending", "pending", "pending"], "first, join and leave are all delivered");
}

/// A receiver that answers 400 echoing its request (path, `?token=`, the `Basic` header made
/// from the URL's credentials) leaves no secret in the stored error text.
#[tokio::test]
async fn secrets_echoed_by_a_receiver_never_reach_the_error_text() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    hook.behaviour.status.store(400, Ordering::SeqCst);
    hook.behaviour.echo.store(true, Ordering::SeqCst);
    let url = hook.url("/hooks/T0PSECRETPATH?token=tok-secret-42").replace("http://", "http://alice:pw-secret-9@");
    let p = plan(dir.path(), &format!("[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{url}\" }}]\n"));
    let (n, stop) = start(p, &st);
    n.update("g".into(), vec![alert("A", "1")]);
    let row = eventually(10, "the row failed", || async {
        rows(&st).await.into_iter().find(|r| r.status == "failed" && r.error_text.is_some())
    })
    .await;
    let text = row.error_text.unwrap();
    assert!(text.starts_with("HTTP 400"), "{text}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:pw-secret-9");
    for leaked in ["T0PSECRETPATH", "tok-secret-42", "pw-secret-9", basic.as_str()] {
        assert!(!text.contains(leaked), "{leaked} leaked into error_text: {text}");
    }
    let _ = stop.send(true);
}

/// The dispatcher retries `enqueue` after a storage error; when the first attempt had in fact
/// committed (a timeout on our side), the retry writes nothing again — not the notifications,
/// not the suppressed rows a silence made.
#[tokio::test]
async fn a_retried_enqueue_writes_each_row_once() {
    let (_dir, st, p, mut d) = sequence("1h").await;
    let t0 = now_ms();
    d.update("g", vec![alert("A", "1"), alert("A", "2")], t0);
    let out = d.flush(t0);
    let first = sidewatch::notify::enqueue(&p, &st, out.clone(), t0).await.unwrap();
    let again = sidewatch::notify::enqueue(&p, &st, out, t0).await.unwrap();
    assert_eq!(rows(&st).await.len(), first, "the retry added nothing ({again} rows offered)");
}

#[tokio::test]
async fn a_storm_over_the_rate_limit_is_summarised_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(dir.path()).await;
    let hook = Recorder::start().await;
    let now = now_ms();
    let rows_in: Vec<_> = (0..10).map(|i| row_for("r/webhook/0", &format!("g{i}"), now)).collect();
    st.enqueue(&rows_in).await.unwrap();
    let p = plan(
        dir.path(),
        &format!(
            "rate_limit_per_minute = 3\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\n",
            hook.url("/h")
        ),
    );
    let (_n, stop) = start(p, &st);
    eventually(10, "all ten rows sent", || async { rows(&st).await.iter().all(|r| r.status == "sent").then_some(()) })
        .await;
    let got = hook.received();
    assert_eq!(got.len(), 3, "two single notifications and one summary");
    assert_eq!(got[2].json()["groupKey"], "storm summary of 8 notifications");
    let _ = stop.send(true);
}

/// Two workers (as two sidecars would) drain one outbox; every row is sent exactly once.
async fn two_workers_one_outbox(a: Storage, b: Storage) {
    let hook = Recorder::start().await;
    let now = now_ms();
    let rows_in: Vec<_> = (0..60).map(|i| row_for("r/webhook/0", &format!("g{i}"), now)).collect();
    a.enqueue(&rows_in).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        &format!(
            "rate_limit_per_minute = 0\n[[notify.receivers]]\nname = \"r\"\nwebhook = [{{ url = \"{}\" }}]\n",
            hook.url("/h")
        ),
    );
    let target = p.targets[0].clone();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    for (i, st) in [a.clone(), b].into_iter().enumerate() {
        let w = Arc::new(Worker {
            storage: st,
            templates: p.templates.clone(),
            metrics: NotifyMetrics::unregistered(),
            id: format!("worker-{i}"),
            rate_per_minute: 0,
            claim_grace_ms: 60_000,
            max_alerts: 0,
        });
        tokio::spawn(w.run(target.clone(), stop.clone()));
    }
    eventually(30, "all rows sent", || async { rows(&a).await.iter().all(|r| r.status == "sent").then_some(()) }).await;
    let _ = stop_tx.send(true);
    let keys: Vec<String> =
        hook.received().iter().map(|r| r.json()["groupKey"].as_str().unwrap().to_string()).collect();
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(keys.len(), 60, "no row sent twice");
    assert_eq!(distinct.len(), 60);
}

#[tokio::test]
async fn two_workers_on_sqlite_never_send_a_row_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sqlite(dir.path()).await, sqlite(dir.path()).await);
    two_workers_one_outbox(a, b).await;
}

#[tokio::test]
async fn two_workers_on_postgres_never_send_a_row_twice() {
    let Some(db) = crate::common::pg_test_db("two_workers_on_postgres_never_send_a_row_twice").await else { return };
    let cfg: sidewatch::storage::StorageConfig = toml::from_str(&format!("url = \"{}\"", db.url)).unwrap();
    let a = Storage::connect(&cfg, std::path::Path::new(".")).await.unwrap();
    let b = Storage::connect(&cfg, std::path::Path::new(".")).await.unwrap();
    two_workers_one_outbox(a, b).await;
}
