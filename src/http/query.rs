//! The *query API* in Prometheus' shapes, so Grafana can use sidewatch as a Prometheus data
//! source: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and `/api/v1/status/buildinfo`. Each takes its parameters
//! from the URL or from a form-encoded POST body, as Prometheus does; times are RFC 3339 or
//! Unix seconds, `step` and `timeout` seconds or a duration string. Errors use Prometheus'
//! `{"status":"error","errorType":…,"error":…}` with its status codes.

use super::{AppState, json_error};
use crate::promql::{Engine, EngineOptions, ErrorKind, QueryError, QueryOutput};
use crate::store::{Labels, MatchOp, Matcher};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

/// Prometheus' limit on points per series of a range query.
const MAX_POINTS: i64 = 11_000;

/// Request parameters from the query string and a form body, repeated keys kept.
pub(crate) struct Params(Vec<(String, String)>);

/// Extracted from the URL's query string and, for a form POST, the body.
impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let query = req.uri().query().map(str::to_string);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        Ok(Params::new(query, &headers, &body))
    }
}

impl Params {
    fn new(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Params {
        let mut v: Vec<(String, String)> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(v)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

pub(super) fn bad(msg: impl Into<String>) -> QueryError {
    QueryError { kind: ErrorKind::BadData, msg: msg.into() }
}

fn query_error(e: QueryError) -> Response {
    let status = match e.kind {
        ErrorKind::BadData => StatusCode::BAD_REQUEST,
        ErrorKind::Execution => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Timeout => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_error(status, e.kind.as_str(), e.msg)
}

/// A time parameter in ms: RFC 3339 or (fractional) Unix seconds; `default` when absent.
fn time_param(p: &Params, key: &str, default: i64) -> Result<i64, QueryError> {
    let Some(s) = p.get(key) else { return Ok(default) };
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad(format!("invalid parameter \"{key}\": cannot parse \"{s}\" to a valid timestamp")))
}

/// A duration parameter in ms (seconds or `5m`-style).
fn duration_param(p: &Params, key: &str) -> Result<Option<i64>, QueryError> {
    let Some(s) = p.get(key) else { return Ok(None) };
    match crate::promql::parse_duration_ms(s) {
        Some(ms) if ms >= 0 => Ok(Some(ms)),
        _ => Err(bad(format!("invalid parameter \"{key}\": cannot parse \"{s}\" to a valid duration"))),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn engine(state: &AppState, p: &Params) -> Result<Engine, QueryError> {
    let q = &state.config.config.query;
    let mut opts = q.engine_options(EngineOptions::default().default_subquery_step_ms);
    if let Some(ms) = duration_param(p, "timeout")? {
        opts.timeout = opts.timeout.min(std::time::Duration::from_millis(ms as u64));
    }
    Ok(Engine::new(state.store.clone(), opts))
}

fn metric(l: &Labels) -> Json {
    Json::Object(l.0.iter().map(|(k, v)| (k.to_string(), Json::String(v.to_string()))).collect::<Map<_, _>>())
}

fn success(state: &AppState, out: QueryOutput, t: i64) -> Result<Response, QueryError> {
    let max = usize::try_from(state.config.config.query.max_response_bytes.bytes()).unwrap_or(usize::MAX);
    let body = super::query_body::success(out, t, max)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Runs a query off the async workers, once one of `query.max_concurrency` slots is free;
/// waiting for a slot counts against the query's timeout.
async fn run(
    state: &AppState,
    timeout: std::time::Duration,
    f: impl FnOnce() -> Result<QueryOutput, QueryError> + Send + 'static,
) -> Result<QueryOutput, QueryError> {
    let slot = match tokio::time::timeout(timeout, state.query_slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => {
            return Err(QueryError {
                kind: ErrorKind::Timeout,
                msg: "query timed out waiting for a free query slot (query.max_concurrency)".into(),
            });
        }
    };
    let result = tokio::task::spawn_blocking(f).await;
    drop(slot);
    match result {
        Ok(r) => r,
        Err(_) => Err(QueryError { kind: ErrorKind::Execution, msg: "query evaluation panicked".into() }),
    }
}

/// `GET|POST /api/v1/query`
pub(crate) async fn query(State(state): State<AppState>, p: Params) -> Response {
    let handle = || async {
        let expr =
            p.get("query").ok_or_else(|| bad("invalid parameter \"query\": query must not be empty"))?.to_string();
        let t = time_param(&p, "time", now_ms())?;
        let engine = engine(&state, &p)?;
        let timeout = engine.timeout();
        let out = run(&state, timeout, move || engine.instant(&expr, t)).await?;
        success(&state, out, t)
    };
    handle().await.unwrap_or_else(query_error)
}

/// `GET|POST /api/v1/query_range`
pub(crate) async fn query_range(State(state): State<AppState>, p: Params) -> Response {
    let handle = || async {
        let expr =
            p.get("query").ok_or_else(|| bad("invalid parameter \"query\": query must not be empty"))?.to_string();
        let start = time_param(&p, "start", i64::MIN)?;
        let end = time_param(&p, "end", i64::MIN)?;
        for (k, v) in [("start", start), ("end", end)] {
            if v == i64::MIN {
                return Err(bad(format!("invalid parameter \"{k}\": cannot parse \"\" to a valid timestamp")));
            }
        }
        if end < start {
            return Err(bad("invalid parameter \"end\": end timestamp must not be before start time"));
        }
        let step = duration_param(&p, "step")?
            .ok_or_else(|| bad("invalid parameter \"step\": cannot parse \"\" to a valid duration"))?;
        if step <= 0 {
            return Err(bad(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS {
            return Err(bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let engine = engine(&state, &p)?;
        let timeout = engine.timeout();
        let out = run(&state, timeout, move || engine.range(&expr, start, end, step)).await?;
        success(&state, out, end)
    };
    handle().await.unwrap_or_else(query_error)
}

/// The `match[]` selectors as matcher sets.
pub(super) fn selectors(p: &Params) -> Result<Vec<Vec<Matcher>>, QueryError> {
    p.all("match[]").into_iter().map(|m| selector(m, "match[]")).collect()
}

/// One series selector (`up{job="api"}`, `{job="api"}`) given as parameter `param`, as matchers.
pub(super) fn selector(m: &str, param: &str) -> Result<Vec<Matcher>, QueryError> {
    let expr = Engine::parse(m).map_err(|e| bad(format!("invalid parameter \"{param}\": {}", e.msg)))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(bad(format!("invalid parameter \"{param}\": {m:?} is not a series selector")));
    };
    let mut set = Vec::new();
    if let Some(n) = &vs.name {
        set.push(Matcher::eq("__name__", n));
    }
    for m in &vs.matchers.matchers {
        use promql_parser::label::MatchOp as P;
        let op = match m.op {
            P::Equal => MatchOp::Equal,
            P::NotEqual => MatchOp::NotEqual,
            P::Re(_) => MatchOp::Regex,
            P::NotRe(_) => MatchOp::NotRegex,
        };
        set.push(Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| bad(e.to_string()))?);
    }
    Ok(set)
}

/// Label sets of the series matching any of `sets` with samples in `[start, end]`.
fn matching_series(state: &AppState, sets: &[Vec<Matcher>], start: i64, end: i64) -> Vec<Labels> {
    let mut out = std::collections::BTreeSet::new();
    for set in sets {
        state.store.visit(set, start, end, |l, _| {
            out.insert(l.clone());
        });
    }
    out.into_iter().collect()
}

/// `GET|POST /api/v1/series`
pub(crate) async fn series(State(state): State<AppState>, p: Params) -> Response {
    let handle = || {
        let sets = selectors(&p)?;
        if sets.is_empty() {
            return Err(bad("no match[] parameter provided"));
        }
        let (start, end) = (time_param(&p, "start", i64::MIN / 2)?, time_param(&p, "end", i64::MAX / 2)?);
        let data: Vec<Json> = matching_series(&state, &sets, start, end).iter().map(metric).collect();
        Ok::<_, QueryError>(axum::Json(json!({"status": "success", "data": data})).into_response())
    };
    handle().unwrap_or_else(query_error)
}

/// `GET|POST /api/v1/labels`
pub(crate) async fn labels(State(state): State<AppState>, p: Params) -> Response {
    let handle = || {
        let sets = selectors(&p)?;
        let names: Vec<String> = if sets.is_empty() {
            state.store.label_names()
        } else {
            let (start, end) = (time_param(&p, "start", i64::MIN / 2)?, time_param(&p, "end", i64::MAX / 2)?);
            let mut names = std::collections::BTreeSet::new();
            for l in matching_series(&state, &sets, start, end) {
                names.extend(l.0.iter().map(|(k, _)| k.to_string()));
            }
            names.into_iter().collect()
        };
        Ok::<_, QueryError>(axum::Json(json!({"status": "success", "data": names})).into_response())
    };
    handle().unwrap_or_else(query_error)
}

/// `GET /api/v1/label/<name>/values`
pub(crate) async fn label_values(State(state): State<AppState>, Path(name): Path<String>, p: Params) -> Response {
    let handle = || {
        let sets = selectors(&p)?;
        let values: Vec<String> = if sets.is_empty() {
            state.store.label_values(&name)
        } else {
            let (start, end) = (time_param(&p, "start", i64::MIN / 2)?, time_param(&p, "end", i64::MAX / 2)?);
            let set: std::collections::BTreeSet<String> = matching_series(&state, &sets, start, end)
                .iter()
                .filter_map(|l| l.get(&name).map(str::to_string))
                .collect();
            set.into_iter().collect()
        };
        Ok::<_, QueryError>(axum::Json(json!({"status": "success", "data": values})).into_response())
    };
    handle().unwrap_or_else(query_error)
}

/// `GET /api/v1/status/buildinfo`
pub(crate) async fn buildinfo() -> Response {
    axum::Json(json!({
        "status": "success",
        "data": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": env!("SIDEWATCH_GIT_REVISION"),
            "branch": env!("SIDEWATCH_GIT_BRANCH"),
            "buildUser": "",
            "buildDate": env!("SIDEWATCH_BUILD_DATE"),
            "goVersion": concat!("rust (sidewatch ", env!("CARGO_PKG_VERSION"), ")"),
        }
    }))
    .into_response()
}
