//! *Jobs and reports* for operators: `GET /api/v1/admin/jobs` (each report job's schedule and
//! last runs), `POST /api/v1/admin/jobs/{job}/run` (run one now, recorded in `job_runs` like a
//! scheduled occurrence), `GET /api/v1/admin/reports` (the digests, baselines, KPI rollups,
//! incident notes and recovery checks under `reports.dir`) and
//! `GET /api/v1/admin/reports/{kind}/{name}`, which serves only a file of that listing — a
//! name that is not listed (`..`, an absolute path, a link out) is 404.

use super::ops::run_json;
use super::{Audited, Caller, unavailable};
use crate::http::{AppState, json_error};
use crate::jobs::JobKind;
use crate::storage::ReportRepo;
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// The report folders under `reports.dir`, by kind.
const KINDS: [&str; 6] = ["digests", "baseline", "kpi", "incidents", "recovery", "postmortems"];

/// `GET /api/v1/admin/jobs`
pub(crate) async fn list(State(state): State<AppState>) -> Response {
    let mut jobs = Vec::new();
    for kind in JobKind::ALL {
        let runs = match state.storage.list_runs(kind.name(), 10).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        jobs.push(json!({
            "job": kind.name(),
            "schedule": kind.schedule(&state.config.config),
            "runs": runs.into_iter().map(run_json).collect::<Vec<_>>(),
        }));
    }
    Json(json!({"jobs": jobs})).into_response()
}

/// `POST /api/v1/admin/jobs/{job}/run`: runs the job now with its configured parameters.
pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job): Path<String>,
) -> Response {
    let Some(kind) = JobKind::ALL.into_iter().find(|k| k.name() == job) else {
        let names: Vec<&str> = JobKind::ALL.iter().map(|k| k.name()).collect();
        return json_error(StatusCode::NOT_FOUND, "not_found", format!("no job {job:?}; jobs: {}", names.join(", ")));
    };
    let cfg = Arc::new(state.config.config.clone());
    let base = state.config.base_dir.clone();
    let storage = state.storage.clone();
    let runner = format!("admin:{}", caller.who());
    // Runs on its own task: a client that hangs up does not cancel a half-written report.
    let task = tokio::spawn(async move {
        let ctx = crate::reports::Ctx::new(storage.clone(), cfg, &base);
        let at = chrono::Utc::now().timestamp_millis();
        crate::jobs::recorded(&storage, kind.name(), at, &runner, crate::jobs::run_configured(&ctx, kind)).await
    });
    let audited = Audited::new("job.run", kind.name());
    match task.await {
        Ok(Ok(Some(o))) => {
            let body = json!({"job": kind.name(), "status": o.status.as_str(), "error": o.error, "outputs": o.paths});
            audited.detail(json!({"status": o.status.as_str()}).to_string()).on(Json(body).into_response())
        }
        Ok(Ok(None)) => audited.on(json_error(StatusCode::CONFLICT, "conflict", "this occurrence is already running")),
        Ok(Err(e)) => audited.on(unavailable(e)),
        Err(_) => audited.on(json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the job panicked")),
    }
}

/// One report file: its kind, its name within the kind's folder, and its path.
struct Report {
    kind: &'static str,
    name: String,
    path: PathBuf,
    size: u64,
    modified: Option<i64>,
}

fn report_name_ok(name: &str) -> bool {
    let ok_part = |p: &str| {
        !p.is_empty() && !p.starts_with('.') && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    name.split('/').count() <= 2 && name.split('/').all(ok_part)
}

/// Every report file (regular files only, at most one folder deep, names of safe characters).
fn listing(dir: &std::path::Path) -> Vec<Report> {
    let mut out = Vec::new();
    for kind in KINDS {
        let root = dir.join(kind);
        let mut stack = vec![(root.clone(), String::new())];
        while let Some((folder, prefix)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            for e in entries.flatten() {
                let Ok(meta) = e.path().symlink_metadata() else { continue };
                let Some(file) = e.file_name().to_str().map(String::from) else { continue };
                let name = if prefix.is_empty() { file } else { format!("{prefix}/{file}") };
                if !report_name_ok(&name) {
                    continue;
                }
                if meta.is_dir() && prefix.is_empty() {
                    stack.push((e.path(), name));
                } else if meta.is_file() && !name.contains(".tmp-") {
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_millis() as i64);
                    out.push(Report { kind, name, path: e.path(), size: meta.len(), modified });
                }
            }
        }
    }
    out.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| a.name.cmp(&b.name)));
    out
}

fn reports_dir(state: &AppState) -> PathBuf {
    crate::config::resolve_path(&state.config.base_dir, &state.config.config.reports.dir)
}

/// `GET /api/v1/admin/reports`
pub(crate) async fn reports(State(state): State<AppState>) -> Response {
    let dir = reports_dir(&state);
    let list = tokio::task::spawn_blocking(move || listing(&dir)).await.unwrap_or_default();
    let items: Vec<Value> = list
        .iter()
        .map(|r| {
            json!({"kind": r.kind, "name": r.name, "size": r.size, "modified": r.modified.map(super::rfc3339),
                   "url": format!("/api/v1/admin/reports/{}/{}", r.kind, r.name)})
        })
        .collect();
    Json(json!({"reports": items})).into_response()
}

/// `GET /api/v1/admin/reports/{kind}/{name}`
pub(crate) async fn report(State(state): State<AppState>, Path((kind, name)): Path<(String, String)>) -> Response {
    let dir = reports_dir(&state);
    let not_found = || json_error(StatusCode::NOT_FOUND, "not_found", "no such report (see GET /api/v1/admin/reports)");
    if !KINDS.contains(&kind.as_str()) || !report_name_ok(&name) {
        return not_found();
    }
    let ctype = content_type(&name);
    let found = tokio::task::spawn_blocking(move || {
        listing(&dir).into_iter().find(|r| r.kind == kind && r.name == name).map(|r| std::fs::read(&r.path))
    })
    .await
    .ok()
    .flatten();
    let bytes = match found {
        Some(Ok(b)) => b,
        Some(Err(e)) => return unavailable(e),
        None => return not_found(),
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // A report holds alert labels and event names from outside: opened in a browser it must
    // not run script on this origin (where the console keeps its token).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("md") => "text/markdown; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}
