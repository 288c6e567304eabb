//! `GET /runbooks/` and `GET /runbooks/{name}`: the *runbooks* (what an alert means and what to
//! check first) served by sidewatch itself, so that a link in Slack or an email opens a page
//! wherever sidewatch runs: the built-in runbooks plus those in `notify.runbooks_dir` (read at
//! start, as the messages quote them), as HTML (`/runbooks/X`) or as the Markdown file
//! (`/runbooks/X.md`).

use super::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Rendered pages carry their own style and nothing else; links open outside the sandbox.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox allow-popups allow-top-navigation-by-user-activation";

fn html(body: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

/// `GET /runbooks/`: the list of runbooks.
pub(super) async fn index(State(state): State<AppState>) -> Response {
    let md: String = std::iter::once("# Runbooks\n\n".to_string())
        .chain(state.runbooks.names().iter().map(|n| format!("- [{n}]({n})\n")))
        .collect();
    html(crate::reports::html::page("Runbooks", &md, &|s| s.to_string()))
}

/// `GET /runbooks/{name}`: one runbook as HTML, or its Markdown when the name ends in `.md`.
pub(super) async fn runbook(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    let Some(text) = state.runbooks.text(&name).filter(|_| valid && !name.starts_with('.')) else {
        return super::json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no runbook named {name:?}; see /runbooks/"),
        );
    };
    if name.ends_with(".md") {
        return ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text.to_string()).into_response();
    }
    html(crate::reports::html::page(name.trim_end_matches(".md"), text, &|s| s.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::notify::template::{Runbooks, fill_labels, runbook_link};

    #[test]
    fn links_are_absolute_and_steps_name_the_alerts_labels() {
        assert_eq!(
            runbook_link("docs/runbooks/TargetDown.md", "http://sw:9465/runbooks/"),
            "http://sw:9465/runbooks/TargetDown"
        );
        assert_eq!(runbook_link("TargetDown", "https://wiki/rb/"), "https://wiki/rb/TargetDown");
        assert_eq!(runbook_link("https://wiki/x", "http://sw/runbooks/"), "https://wiki/x");
        assert_eq!(runbook_link("", "http://sw/runbooks/"), "");
        let labels = [("job".to_string(), "api".to_string())].into();
        assert_eq!(
            fill_labels("restart $job; not $other; $ alone; $job_x", &labels),
            "restart api; not $other; $ alone; $job_x"
        );
        // The built-in runbooks are there without any folder.
        let books = Runbooks::load(std::path::Path::new("/nonexistent"));
        assert!(books.text("TargetDown").is_some_and(|t| t.starts_with("# TargetDown")));
        assert!(books.names().len() >= 20);
    }
}
