//! The *stop signal* every background task watches: a `watch` channel that turns `true` when
//! the application shuts down.

use tokio::sync::watch;

/// Completes once `rx` holds `true` or its sender is gone (the borrow guard is not held across
/// awaits, so callers can use it inside `select!`).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
