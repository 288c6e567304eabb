//! *Admin audit rows*: every admin request that changes something, and every refused one, is
//! one row of the audit log — time, actor, token name (never the token), source address,
//! request id, method, route, action, target, outcome and status. Handlers name the action
//! and target of a write by attaching [`Audited`] to their response.

use crate::http::{AppState, ErrorKind};
use crate::storage::{AuditRepo, NewAuditEntry, Storage};
use axum::extract::Request;
use axum::response::Response;
use std::net::IpAddr;

/// What a write did, attached by its handler to the response.
#[derive(Clone, Debug, Default)]
pub(crate) struct Audited {
    /// The action, e.g. `alerts.retry`, `silence.create`.
    pub(crate) action: String,
    /// What it was done to (a silence id, a job name, a filter).
    pub(crate) target: String,
    /// Particulars (JSON).
    pub(crate) detail: String,
    /// The actor when the body names it (an Alertmanager silence's `createdBy`).
    pub(crate) actor: Option<String>,
}

impl Audited {
    /// An action on a target.
    pub(crate) fn new(action: &str, target: impl Into<String>) -> Audited {
        Audited { action: action.into(), target: target.into(), ..Audited::default() }
    }

    /// With particulars.
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Audited {
        self.detail = detail.into();
        self
    }

    /// Attaches itself to `resp`.
    pub(crate) fn on(self, mut resp: Response) -> Response {
        resp.extensions_mut().insert(self);
        resp
    }
}

/// An audit row being filled in by the guard.
pub(crate) struct Row {
    pub(crate) actor: String,
    pub(crate) token_name: String,
    source: String,
    request_id: Option<String>,
    method: String,
    route: String,
}

impl Row {
    /// A row for `req` on `route` from `source`.
    pub(crate) fn new(req: &Request, route: &str, source: IpAddr) -> Row {
        let actor = req
            .headers()
            .get("x-actor")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect())
            .unwrap_or_default();
        Row {
            actor,
            token_name: String::new(),
            source: source.to_string(),
            request_id: req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(String::from),
            method: req.method().to_string(),
            route: route.to_string(),
        }
    }

    fn default_action(&self) -> String {
        format!("{} {}", self.method, self.route)
    }

    /// Records a refused request; `kind` (the refusal's errorType) is the detail.
    pub(crate) async fn refused(self, storage: &Storage, kind: &str, status: u16) {
        let action = self.default_action();
        self.write(storage, &action, "", kind, "refused", status).await;
    }

    /// What a request that reached its handler comes to: a write, or a request the handler
    /// refused (4xx, with its errorType as the detail). Read from `resp` before any await
    /// (a response is not `Sync`).
    pub(crate) fn outcome(mut self, resp: &Response) -> Finished {
        let what = resp.extensions().get::<Audited>().cloned().unwrap_or_default();
        if let Some(a) = &what.actor {
            self.actor = a.clone();
        }
        let action = if what.action.is_empty() { self.default_action() } else { what.action.clone() };
        let status = resp.status();
        let kind = resp.extensions().get::<ErrorKind>().map(|k| k.0.clone());
        let (outcome, detail) = if status.is_success() {
            ("ok", what.detail.clone())
        } else if status.is_client_error() {
            ("refused", kind.unwrap_or_else(|| what.detail.clone()))
        } else {
            ("failed", kind.unwrap_or_else(|| what.detail.clone()))
        };
        Finished { row: self, action, target: what.target, detail, outcome, status: status.as_u16() }
    }

    async fn write(&self, storage: &Storage, action: &str, target: &str, detail: &str, outcome: &str, status: u16) {
        let entry = NewAuditEntry {
            actor: if self.actor.is_empty() { "anonymous" } else { &self.actor },
            action,
            target,
            detail,
            request_id: self.request_id.as_deref(),
            token_name: &self.token_name,
            source: &self.source,
            method: &self.method,
            route: &self.route,
            outcome,
            status: i64::from(status),
        };
        if let Err(e) = storage.append_audit(entry).await {
            tracing::warn!(error = %e, action, "cannot write the audit log");
        }
    }
}

/// A row whose outcome is known, ready to write.
pub(crate) struct Finished {
    row: Row,
    action: String,
    target: String,
    detail: String,
    outcome: &'static str,
    status: u16,
}

impl Finished {
    /// Appends it to the audit log (a failure to do so is logged).
    pub(crate) async fn write(self, storage: &Storage) {
        self.row.write(storage, &self.action, &self.target, &self.detail, self.outcome, self.status).await;
    }
}

/// The admin routes' path prefixes (for refusals made before routing).
const ADMIN_PREFIXES: [&str; 4] = ["/api/v1/admin/", "/api/v2/", "/-/reload", "/api/v1/notifications"];

/// The audit row of a refusal made before routing (a declared body over
/// `server.max_body_bytes`), when the request was meant for an admin route.
pub(crate) fn early(state: &AppState, req: &Request) -> Option<Row> {
    let path = req.uri().path();
    if !ADMIN_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let source = state.admin.source(peer, req.headers());
    Some(Row::new(req, path, source))
}
