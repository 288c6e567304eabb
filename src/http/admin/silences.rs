//! *Silences in Alertmanager's v2 API shape* — `GET/POST /api/v2/silences`,
//! `GET/DELETE /api/v2/silence/{id}` — so `amtool silence add|query|expire` and anything else
//! written against Alertmanager work against sidewatch. A silence mutes the alerts its
//! matchers select between `startsAt` and `endsAt`; expiring one ends it now. The matchers are
//! stored in sidewatch's text form (`name="value"`), the same rows `sidewatch silence` writes.

use super::{Audited, Caller, bad, rfc3339, unavailable};
use crate::http::{AppState, json_error};
use crate::notify::matcher::{Matcher, Op};
use crate::storage::{OutboxRepo, StoredSilence};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// How far back expired silences are still listed (Alertmanager keeps them 5 days).
const KEEP_EXPIRED_MS: i64 = 5 * 86_400_000;

/// A matcher in Alertmanager's shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AmMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

/// `PostableSilence`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Postable {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<AmMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

fn to_text(m: &AmMatcher) -> String {
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    format!("{}{op}\"{}\"", m.name, crate::scrape::parse::escape(&m.value))
}

fn from_text(s: &str) -> Option<AmMatcher> {
    let m = Matcher::parse(s).ok()?;
    let (is_regex, is_equal) = match m.op {
        Op::Eq => (false, true),
        Op::Ne => (false, false),
        Op::Re => (true, true),
        Op::NotRe => (true, false),
    };
    Some(AmMatcher { name: m.name, value: m.value, is_regex, is_equal })
}

fn gettable(s: &StoredSilence, now: i64) -> serde_json::Value {
    let state = s.state(now);
    let texts: Vec<String> = serde_json::from_str(&s.matchers).unwrap_or_default();
    let matchers: Vec<AmMatcher> = texts.iter().filter_map(|t| from_text(t)).collect();
    json!({
        "id": s.id, "status": {"state": state}, "updatedAt": rfc3339(s.updated_at), "comment": s.comment,
        "createdBy": s.created_by, "startsAt": rfc3339(s.starts_at), "endsAt": rfc3339(s.ends_at),
        "matchers": matchers,
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn all(state: &AppState, now: i64) -> Result<Vec<StoredSilence>, Response> {
    state.storage.list_silences(now - KEEP_EXPIRED_MS).await.map_err(unavailable)
}

/// `GET /api/v2/silences?filter=…`: silences (in force, to come, expired in the last 5 days);
/// with `filter` matchers, those whose equality matchers satisfy every filter, as Alertmanager.
pub(crate) async fn list(State(state): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut filters = Vec::new();
    for (k, v) in &q {
        if k == "filter" {
            match Matcher::parse(v) {
                Ok(m) => filters.push(m),
                Err(e) => return bad(&format!("filter: {e}")),
            }
        }
    }
    let now = now_ms();
    let rows = match all(&state, now).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let out: Vec<serde_json::Value> = rows
        .iter()
        .filter(|s| {
            let texts: Vec<String> = serde_json::from_str(&s.matchers).unwrap_or_default();
            let labels: BTreeMap<String, String> = texts
                .iter()
                .filter_map(|t| from_text(t))
                .filter(|m| !m.is_regex && m.is_equal)
                .map(|m| (m.name, m.value))
                .collect();
            filters.iter().all(|f| f.matches(&labels))
        })
        .map(|s| gettable(s, now))
        .collect();
    Json(out).into_response()
}

fn time(field: &str, s: &str) -> Result<i64, Response> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| bad(&format!("{field}: {e} (expected RFC 3339, e.g. 2026-01-02T15:04:05Z)")))
}

/// `POST /api/v2/silences`: creates a silence, or replaces the one named by `id`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let p: Postable = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad(&format!("body: {e}")),
    };
    let (starts_at, ends_at) = match (time("startsAt", &p.starts_at), time("endsAt", &p.ends_at)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let now = now_ms();
    if p.matchers.is_empty() || p.matchers.len() > 64 {
        return bad("matchers: between 1 and 64 matchers");
    }
    if ends_at <= starts_at || ends_at <= now {
        return bad("endsAt: must be after startsAt and in the future");
    }
    if p.created_by.trim().is_empty() || p.comment.trim().is_empty() {
        return bad("createdBy and comment: must not be empty");
    }
    if p.comment.len() > 4096 || p.created_by.chars().count() > 64 {
        return bad("comment: at most 4096 bytes; createdBy: at most 64 characters");
    }
    let texts: Vec<String> = p.matchers.iter().map(to_text).collect();
    let parsed = match crate::notify::matcher::parse_all(&texts) {
        Ok(m) => m,
        Err(e) => return bad(&format!("matchers: {e}")),
    };
    // As Alertmanager: a silence that would mute every alert is refused.
    if parsed.iter().all(|m| m.matches(&BTreeMap::new())) {
        return bad("matchers: at least one matcher must not match the empty string");
    }
    let existing = match &p.id {
        Some(id) if !id.is_empty() => match all(&state, now).await {
            Ok(rows) => match rows.into_iter().find(|s| &s.id == id) {
                Some(s) => Some(s),
                None => return json_error(StatusCode::NOT_FOUND, "not_found", format!("no silence {id}")),
            },
            Err(r) => return r,
        },
        _ => None,
    };
    let s = StoredSilence {
        id: existing.as_ref().map_or_else(|| uuid::Uuid::new_v4().to_string(), |e| e.id.clone()),
        matchers: serde_json::to_string(&texts).unwrap_or_else(|_| "[]".into()),
        starts_at,
        ends_at,
        created_by: p.created_by.trim().to_string(),
        comment: p.comment.clone(),
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    if let Err(e) = state.storage.save_silence(&s).await {
        return unavailable(e);
    }
    let mut audited = Audited::new(if existing.is_some() { "silence.update" } else { "silence.create" }, &s.id)
        .detail(json!({"matchers": texts, "endsAt": rfc3339(ends_at), "comment": s.comment}).to_string());
    if caller.actor.is_none() {
        audited.actor = Some(s.created_by.clone());
    }
    audited.on(Json(json!({"silenceID": s.id})).into_response())
}

async fn find(state: &AppState, id: &str) -> Result<StoredSilence, Response> {
    let rows = all(state, now_ms()).await?;
    rows.into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| json_error(StatusCode::NOT_FOUND, "not_found", "no such silence"))
}

/// `GET /api/v2/silence/{id}`
pub(crate) async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(s) => Json(gettable(&s, now_ms())).into_response(),
        Err(r) => r,
    }
}

/// `DELETE /api/v2/silence/{id}`: ends the silence now.
pub(crate) async fn expire(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut s = match find(&state, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = now_ms();
    s.ends_at = s.ends_at.min(now);
    s.updated_at = now;
    if let Err(e) = state.storage.save_silence(&s).await {
        return unavailable(e);
    }
    Audited::new("silence.expire", &s.id).on(StatusCode::OK.into_response())
}
