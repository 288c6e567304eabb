//! A small W3C WebDriver client for the browser tests: it starts Debian's `chromedriver` on a
//! free loopback port and drives headless `chromium` over plain HTTP + JSON (the protocol is a
//! dozen REST calls; no client crate needed). Elements are found by CSS selector, waiting up
//! to a deadline, so tests read like what an operator does.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The chromedriver and chromium binaries, when installed.
pub(crate) fn browser_binaries() -> Option<(&'static str, &'static str)> {
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let chrome =
        ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].into_iter().find(|p| std::path::Path::new(p).exists())?;
    Some((driver, chrome))
}

/// A browser session; the driver process is killed on drop.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless chromium session with a `width`×`height` window.
    pub(crate) async fn start(width: u32, height: u32) -> Browser {
        let (driver_bin, chrome) = browser_binaries().expect("chromium and chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{root}/status")).send().await
                && r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}"), "--lang=en-US"]}}}});
        let r: Value = http.post(format!("{root}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        Browser { http, base: format!("{root}/session/{id}"), driver }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    /// Opens `url`.
    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The element matching `css`, waiting up to 10 s for it.
    pub(crate) async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "no element {css}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many elements match `css` now.
    pub(crate) async fn count(&self, css: &str) -> usize {
        let v =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_array().map_or(0, Vec::len)
    }

    /// Clicks the element matching `css`.
    pub(crate) async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let v = self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
        assert!(v.is_null(), "click {css}: {v}");
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// The rendered text of the element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits up to `secs` until the text of `css` contains `want`; returns that text.
    pub(crate) async fn wait_text(&self, css: &str, want: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text(css).await;
            if t.contains(want) {
                return t;
            }
            assert!(Instant::now() < deadline, "{css} never showed {want:?}; it shows: {t}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// A DOM property of the element matching `css` (`disabled`, `value`, `title`).
    pub(crate) async fn prop(&self, css: &str, name: &str) -> Value {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/property/{name}"), None).await
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub(crate) async fn exec(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// The text of an open JavaScript alert, if one is open.
    pub(crate) async fn alert_text(&self) -> Option<String> {
        self.call(reqwest::Method::GET, "/alert/text", None).await.as_str().map(String::from)
    }

    /// Saves a PNG of the element matching `css` (or the page, for `None`) to `path`.
    pub(crate) async fn screenshot(&self, css: Option<&str>, path: &std::path::Path) {
        use base64::Engine;
        let v = match css {
            Some(c) => {
                let id = self.find(c).await;
                self.call(reqwest::Method::GET, &format!("/element/{id}/screenshot"), None).await
            }
            None => self.call(reqwest::Method::GET, "/screenshot", None).await,
        };
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).expect("PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session.
    pub(crate) async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
