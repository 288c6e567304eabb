//! A loopback TCP proxy the test can stop (closing every connection) and start again on the
//! same port: how the tests cut a database connection without touching the shared server.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections from `addr` to `upstream` while running.
pub(crate) struct Proxy {
    /// The proxy's own address (stable across stop/start).
    pub addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port.
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let mut p = Proxy { addr, upstream, task: None };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            // Aborting this task drops `conns`' handles but not the tasks, so abort them on drop.
            struct AbortAll<'a>(&'a mut Vec<JoinHandle<()>>);
            impl Drop for AbortAll<'_> {
                fn drop(&mut self) {
                    for c in self.0.iter() {
                        c.abort();
                    }
                }
            }
            let guard = AbortAll(&mut conns);
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                guard.0.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        }));
    }

    /// Closes the listener and every forwarded connection.
    pub(crate) async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    pub(crate) async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind proxy on the same port");
        self.serve(listener);
    }
}
