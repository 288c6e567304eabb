//! A PostgreSQL database of the test's own, created on the server named by
//! `SIDEWATCH_TEST_POSTGRES_URL` and dropped afterwards, so parallel tests never collide.
//! Without the variable the test says it skipped its PostgreSQL half; under CI (`CI` set) it fails
//! instead, because CI must run it.

use sqlx::Connection;

/// A freshly created database; dropped (with `DROP DATABASE … WITH (FORCE)`) when this drops.
pub(crate) struct PgTestDb {
    /// URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

/// Creates a database for one test, or returns `None` (after saying so) when no PostgreSQL
/// server is configured.
pub(crate) async fn pg_test_db(test: &str) -> Option<PgTestDb> {
    let Ok(admin_url) = std::env::var("SIDEWATCH_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: SIDEWATCH_TEST_POSTGRES_URL is not set, but CI must run the PostgreSQL tests");
        }
        eprintln!("SKIPPED PostgreSQL half of {test}: SIDEWATCH_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("sw_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{test}: cannot reach PostgreSQL at SIDEWATCH_TEST_POSTGRES_URL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let _ = conn.close().await;
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
    Some(PgTestDb { url: format!("{base}/{name}"), admin_url, name })
}

impl PgTestDb {
    /// The URL with host and port replaced, for going through a proxy.
    pub(crate) fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let (scheme_user, rest) = self.url.split_once('@').expect("URL with user@host");
        let db = rest.split_once('/').map_or("", |(_, d)| d);
        format!("{scheme_user}@{addr}/{db}")
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}
