//! The *ops console*: `/ops`, the operator's page, served from assets embedded at build time
//! (no files to deploy, no Node toolchain, no CDN). It reads and writes only through the
//! guarded admin API with the token the operator enters (kept in `sessionStorage`); the page
//! itself holds no data and needs no token. Every answer carries a strict
//! `Content-Security-Policy` (scripts and styles from this origin only, no inline script, no
//! framing), and the scripts render every outside value as text.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The console's files: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 4] = [
    ("index.html", "text/html; charset=utf-8", include_str!("index.html")),
    ("ops.css", "text/css; charset=utf-8", include_str!("ops.css")),
    ("core.js", "text/javascript; charset=utf-8", include_str!("core.js")),
    ("panels.js", "text/javascript; charset=utf-8", include_str!("panels.js")),
];

/// What the page may load and do: its own scripts, styles and API; images from itself, `data:`
/// and `blob:` (report charts fetched with the token); nothing else, and no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/ops` and its assets.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ops", get(|| async { asset("index.html") }))
        .route("/ops/", get(|| async { asset("index.html") }))
        .route("/ops/{file}", get(|Path(file): Path<String>| async move { asset(&file) }))
}

fn asset(name: &str) -> Response {
    let Some((_, ctype, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return super::json_error(StatusCode::NOT_FOUND, "not_found", "no such console file");
    };
    let mut r = (*body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The console's total size in bytes (the page weight, before compression).
#[cfg(test)]
pub(crate) fn weight() -> usize {
    ASSETS.iter().map(|(_, _, b)| b.len()).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_console_weighs_under_200_kb_and_has_no_inline_script() {
        assert!(super::weight() < 200 * 1024, "{} bytes", super::weight());
        let html = super::ASSETS[0].2;
        for tag in html.split("<script").skip(1) {
            assert!(tag.trim_start().starts_with("src="), "inline script: {tag}");
        }
        assert!(!html.contains(" on") || !html.contains("onclick="), "inline handler");
    }
}
