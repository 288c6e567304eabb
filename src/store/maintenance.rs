//! *Store maintenance*: the background task that drops samples past their retention, takes
//! chunk-file pages that queries read out of the resident memory and gives back the postings
//! lists' growth room and the sealed-list slots left free every [`UNMAP_EVERY`], and
//! writes the checkpoint every `store.checkpoint_interval`, and once more at shutdown.

use super::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often pages of sealed chunks that queries mapped are unmapped again: often enough that
/// the resident ones are about what the rules' current windows read, rare enough to cost
/// nothing (a lock and one `madvise` per 16 MiB segment).
const UNMAP_EVERY: Duration = Duration::from_secs(10);

/// Runs until `shutdown` turns true, then writes a final checkpoint.
pub(crate) async fn run(
    store: Arc<Store>,
    path: PathBuf,
    checkpoint_every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let gc_every = checkpoint_every.min(Duration::from_secs(60));
    let mut gc_tick = tokio::time::interval(gc_every);
    let mut ck_tick = tokio::time::interval(checkpoint_every);
    let mut unmap_tick = tokio::time::interval(UNMAP_EVERY);
    gc_tick.tick().await;
    ck_tick.tick().await;
    unmap_tick.tick().await;
    loop {
        tokio::select! {
            _ = gc_tick.tick() => {
                // On a blocking thread: a collection of many series takes seconds (in lock
                // holds of milliseconds), which must not occupy one of the runtime's workers.
                let s = store.clone();
                let Ok(r) = tokio::task::spawn_blocking(move || s.gc(chrono::Utc::now().timestamp_millis())).await
                else {
                    continue;
                };
                if r.series > 0 || r.samples > 0 {
                    tracing::debug!(
                        series = r.series,
                        samples = r.samples,
                        longest_lock_ms = r.longest_hold.as_secs_f64() * 1000.0,
                        sweep_ms = r.sweep_hold.as_secs_f64() * 1000.0,
                        "store: dropped data past retention"
                    );
                }
            }
            _ = unmap_tick.tick() => {
                store.unmap_chunk_pages();
                store.shrink_index();
                store.shrink_sealed_lists();
            }
            _ = ck_tick.tick() => checkpoint(&store, &path).await,
            () = crate::shutdown::stopped(&mut shutdown) => break,
        }
    }
    checkpoint(&store, &path).await;
}

/// Writes the checkpoint on a blocking thread, logging the outcome.
pub(crate) async fn checkpoint(store: &Arc<Store>, path: &std::path::Path) {
    let (s, p) = (store.clone(), path.to_path_buf());
    match tokio::task::spawn_blocking(move || s.checkpoint_to(&p)).await {
        Ok(Ok(st)) => {
            tracing::debug!(series = st.series, samples = st.samples, bytes = st.bytes, "store checkpoint written")
        }
        Ok(Err(e)) => tracing::warn!(error = %e, path = %path.display(), "cannot write the store checkpoint"),
        Err(e) => tracing::warn!(error = %e, "store checkpoint task failed"),
    }
}
