//! The *scrape client*: one HTTP GET with the headers Prometheus sends, a deadline over the
//! whole exchange, and a cap on the (decompressed) body so a huge or gzip-bomb answer fails
//! the scrape instead of exhausting memory.

use std::time::Duration;

/// The `Accept` header Prometheus 2 sends: OpenMetrics preferred, text 0.0.4 as fallback.
pub(crate) const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Why a fetch failed; the text is what `/api/v1/targets` shows as `lastError`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// Non-success status.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The deadline passed.
    #[error("scrape timed out after {0:.1}s")]
    Timeout(f64),
    /// Body over the limit.
    #[error("body size limit exceeded: the response is larger than {0} bytes (body_size_limit)")]
    TooLarge(u64),
    /// Connection, TLS, decoding or protocol failure.
    #[error("{0}")]
    Transport(String),
}

/// A successful response.
pub(crate) struct Fetched {
    /// The body bytes (decompressed).
    pub(crate) body: Vec<u8>,
    /// HTTP status code.
    pub(crate) status: u16,
}

/// Where [`fetch_to`] hands a response: its `Content-Type` first, then each piece of the
/// (decompressed) body as it arrives, so a scrape can parse while it reads instead of holding
/// the whole body.
pub(crate) trait BodySink {
    /// A failure of the exchange or of the sink.
    type Error: From<FetchError>;
    /// The response's `Content-Type`, before any body.
    fn start(&mut self, content_type: Option<&str>);
    /// The next piece of the body.
    fn piece(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// Collects the body (health checks, which look at it as a whole and cap it low).
struct Collect(Vec<u8>);

impl BodySink for Collect {
    type Error = FetchError;
    fn start(&mut self, _: Option<&str>) {}
    fn piece(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// A client shared by all scrapes: gzip on, no cookies, no proxy from the environment.
pub(crate) fn build_client() -> reqwest::Client {
    client_builder().build().unwrap_or_default()
}

/// The scrape client's settings, for a target that adds credentials or TLS.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("sidewatch/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .gzip(true)
        .pool_idle_timeout(Duration::from_secs(90))
}

/// The error and its causes, without the URL (it is shown separately as `scrapeUrl`).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// One GET: the URL, the `Accept` header, a deadline over the whole exchange and a cap on the
/// (decompressed) body.
#[derive(Clone, Copy)]
pub(crate) struct Get<'a> {
    pub(crate) url: &'a str,
    pub(crate) accept: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) limit: u64,
}

/// Runs `get`, collecting the body. `ok` decides which statuses count as success (metrics: 200
/// only; health checks: any, judged later).
pub(crate) async fn fetch(
    client: &reqwest::Client,
    get: Get<'_>,
    ok: impl Fn(u16) -> bool,
) -> Result<Fetched, FetchError> {
    let mut body = Collect(Vec::new());
    let status = fetch_to(client, get, ok, &mut body).await?;
    Ok(Fetched { body: body.0, status })
}

/// [`fetch`], handing the body to `sink` piece by piece; returns the status. The deadline
/// covers the sink's work too.
pub(crate) async fn fetch_to<S: BodySink>(
    client: &reqwest::Client,
    Get { url, accept, timeout, limit }: Get<'_>,
    ok: impl Fn(u16) -> bool,
    sink: &mut S,
) -> Result<u16, S::Error> {
    let work = async {
        let mut resp = client
            .get(url)
            .header(reqwest::header::ACCEPT, accept)
            .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{:.3}", timeout.as_secs_f64()))
            .send()
            .await
            .map_err(|e| FetchError::Transport(describe(e)))?;
        let status = resp.status();
        if !ok(status.as_u16()) {
            return Err(FetchError::Status(status.to_string()).into());
        }
        if resp.content_length().is_some_and(|n| n > limit) && resp.headers().get("content-encoding").is_none() {
            return Err(FetchError::TooLarge(limit).into());
        }
        sink.start(resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
        let mut read = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Transport(describe(e)))? {
            read += chunk.len() as u64;
            if read > limit {
                return Err(FetchError::TooLarge(limit).into());
            }
            sink.piece(&chunk)?;
        }
        Ok(status.as_u16())
    };
    tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| Err(FetchError::Timeout(timeout.as_secs_f64()).into()))
}
