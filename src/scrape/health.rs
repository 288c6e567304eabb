//! A *health check*: an HTTP endpoint such as `/healthz` or `/readyz`, probed every target
//! interval. It passes when the status is expected (default any 2xx), the answer came within
//! `max_latency`, and the body condition (substring, or a JSON field's value) holds. Results
//! become `probe_success`, `probe_http_status_code` and `probe_duration_seconds`.

use super::client::{FetchError, Get, fetch};
use crate::scrape::HealthCheckConfig;
use std::time::{Duration, Instant};

/// Largest health-check body read.
const BODY_LIMIT: u64 = 1 << 20;

/// What one probe found.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProbeOutcome {
    /// Whether every condition held.
    pub(crate) success: bool,
    /// The HTTP status, if an answer came.
    pub(crate) status: Option<u16>,
    /// Seconds from request to full body (or failure).
    pub(crate) duration: f64,
    /// Why it failed; empty on success.
    pub(crate) error: String,
}

/// Probes `check` once with `timeout`.
pub(crate) async fn probe(client: &reqwest::Client, check: &HealthCheckConfig, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let result = fetch(client, Get { url: &check.url, accept: "*/*", timeout, limit: BODY_LIMIT }, |_| true).await;
    let duration = started.elapsed().as_secs_f64();
    let fetched = match result {
        Ok(f) => f,
        Err(e) => {
            let error = match e {
                FetchError::Timeout(s) => format!("no answer within {s:.1}s"),
                other => other.to_string(),
            };
            return ProbeOutcome { success: false, status: None, duration, error };
        }
    };
    let status = fetched.status;
    let error = judge(check, status, duration, &fetched.body);
    ProbeOutcome { success: error.is_none(), status: Some(status), duration, error: error.unwrap_or_default() }
}

/// The first failed condition, or `None` when healthy.
pub(crate) fn judge(check: &HealthCheckConfig, status: u16, duration: f64, body: &[u8]) -> Option<String> {
    let status_ok = if check.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        check.expect_status.contains(&status)
    };
    if !status_ok {
        let want =
            if check.expect_status.is_empty() { "2xx".to_string() } else { format!("{:?}", check.expect_status) };
        return Some(format!("HTTP status {status}, expected {want}"));
    }
    if let Some(max) = check.max_latency.filter(|m| duration > m.get().as_secs_f64()) {
        return Some(format!("answered in {duration:.3}s, over max_latency {max}"));
    }
    let text = String::from_utf8_lossy(body);
    if let Some(needle) = check.body_contains.as_ref().filter(|n| !text.contains(n.as_str())) {
        return Some(format!("body does not contain {needle:?}"));
    }
    if let (Some(field), Some(want)) = (&check.json_field, &check.json_equals) {
        let json: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("body is not JSON ({e}); json_field {field:?} cannot be checked")),
        };
        let got = field.split('.').try_fold(&json, |v, key| v.get(key));
        let got_text = match got {
            None => return Some(format!("JSON field {field:?} is missing")),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if &got_text != want {
            return Some(format!("JSON field {field:?} is {got_text:?}, expected {want:?}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HealthCheckConfig {
        HealthCheckConfig { name: "readyz".into(), url: "http://x/readyz".into(), ..Default::default() }
    }

    #[test]
    fn conditions() {
        assert_eq!(judge(&check(), 204, 0.1, b""), None);
        assert_eq!(judge(&check(), 503, 0.1, b"").unwrap(), "HTTP status 503, expected 2xx");
        let c = HealthCheckConfig { expect_status: vec![200, 429], ..check() };
        assert_eq!(judge(&c, 429, 0.1, b""), None);
        let c = HealthCheckConfig { max_latency: Some(crate::config::Duration::from_secs(1)), ..check() };
        assert!(judge(&c, 200, 1.5, b"").unwrap().contains("over max_latency 1s"));
        let c = HealthCheckConfig { body_contains: Some("ok".into()), ..check() };
        assert_eq!(judge(&c, 200, 0.1, b"all ok"), None);
        assert!(judge(&c, 200, 0.1, b"degraded").is_some());
        let c = HealthCheckConfig { json_field: Some("checks.db".into()), json_equals: Some("up".into()), ..check() };
        assert_eq!(judge(&c, 200, 0.1, br#"{"checks":{"db":"up"}}"#), None);
        assert_eq!(
            judge(&c, 200, 0.1, br#"{"checks":{"db":"down"}}"#).unwrap(),
            "JSON field \"checks.db\" is \"down\", expected \"up\""
        );
        assert!(judge(&c, 200, 0.1, b"<html>").unwrap().contains("not JSON"));
        let c = HealthCheckConfig { json_field: Some("ready".into()), json_equals: Some("true".into()), ..check() };
        assert_eq!(judge(&c, 200, 0.1, br#"{"ready":true}"#), None);
    }
}
