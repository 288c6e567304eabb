//! The *connection loop*: HTTP/1 connections served by hyper with the limits axum's own
//! `serve` does not set. A client must send a request's headers within
//! `server.header_read_timeout` — also the longest an idle keep-alive connection stays open —
//! else its connection is closed (3,000 half-sent requests held their sockets for good); at
//! most `server.max_connections` connections are served at once (more wait in the kernel's
//! accept queue); on shutdown every connection finishes its request in flight and closes,
//! within `server.shutdown_timeout`.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The connection limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `server.header_read_timeout`.
    pub(crate) header_read_timeout: Duration,
    /// `server.max_connections`.
    pub(crate) max_connections: usize,
    /// `server.shutdown_timeout`.
    pub(crate) grace: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then lets connections finish their
/// requests for at most `limits.grace`. Returns whether they all finished in time.
pub(crate) async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) -> bool {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request carries its connection's peer address (the admin guard's source).
        let svc = tower::ServiceExt::map_request(app.clone(), move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req
        });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await; // a client that hangs up or times out is no error of ours
            drop(permit);
        });
    }
    drop(listener);
    tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_ok()
}

/// Completes when `stop` turns true (the borrow of its value ends here, so the loop's future
/// stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
