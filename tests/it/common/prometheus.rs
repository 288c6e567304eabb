//! A real Prometheus (Debian's `prometheus` package; its service is not started) on a free
//! loopback port, for the tests that compare sidewatch with it or feed it. Outside CI a missing
//! binary makes the test say SKIPPED; in CI it fails (`.ci/run` installs the package).

use tempfile::TempDir;

/// The binary, or `None` (after saying SKIPPED for `test`) when it is missing outside CI.
pub(crate) fn binary(test: &str) -> Option<&'static str> {
    let found =
        ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].into_iter().find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("prometheus is not installed, but CI must run {test} (.ci/run installs it)");
        }
        eprintln!("SKIPPED {test}: prometheus is not installed (apt-get install prometheus)");
    }
    found
}

/// A running Prometheus, stopped when dropped.
pub(crate) struct Prometheus {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its folder: `prometheus.yml`, the TSDB, and what the test wrote beside them.
    pub(crate) dir: TempDir,
    child: std::process::Child,
}

impl Prometheus {
    /// Starts `bin` with the configuration `config(dir)` returns (it may write rule files into
    /// `dir` first) and `args`; it answers on `http://127.0.0.1:<port>` soon after.
    pub(crate) fn start(bin: &str, config: impl FnOnce(&std::path::Path) -> String, args: &[&str]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = config(dir.path());
        std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
        let child = std::process::Command::new(bin)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus { port, dir, child }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
