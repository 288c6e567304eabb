//! Fake services for scrape tests: a real HTTP server on 127.0.0.1 running the test's axum
//! router, which the test can take down (listener closed, idle connections closed) and bring
//! back on the same port.

use axum::Router;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running fake service.
pub(crate) struct FakeServer {
    /// Where it listens.
    pub addr: SocketAddr,
    router: Router,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Serves `router` on a free loopback port.
    pub(crate) async fn start(router: Router) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake server");
        let addr = listener.local_addr().unwrap();
        let mut s = FakeServer { addr, router, stop: None, task: None };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let router = self.router.clone();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Takes the service down: new connections are refused.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), t).await;
        }
    }

    /// Brings it back on the same port.
    pub(crate) async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind fake server");
        self.serve(listener);
    }
}
