//! The *guard*: one middleware in front of every admin and lifecycle route. In order: the
//! source address (the peer, or `X-Forwarded-For` when the peer is a trusted proxy); the rate
//! limit on failed authentications (429); the address allowlist (403 `ip_not_allowed`); the
//! bearer token, compared in constant time (401 with `WWW-Authenticate: Bearer`); the role
//! (403 `insufficient_role`); the read-only switch (403 `read_only`); and on writes the
//! `X-Actor` header (400 `actor_required`). Every refusal and every write is an audit row.

use super::Caller;
use super::audit;
use super::config::{AdminConfig, Role, parse_net};
use crate::http::{AppState, json_error};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// One usable token: its name, role and SHA-256 digest (the token itself is not kept).
struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The guard's state, built once from `[admin]`.
pub(crate) struct Guard {
    tokens: Vec<Token>,
    allow: Vec<IpNet>,
    proxies: Vec<IpNet>,
    /// `admin.write_enabled`.
    pub(crate) write_enabled: bool,
    /// `admin.read_requires_token`.
    pub(crate) read_requires_token: bool,
    failures: Limiter,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("tokens", &self.tokens.len()).finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Guard {
    /// Builds the guard from `[admin]` (checked: every token long enough).
    pub(crate) fn build(c: &AdminConfig) -> Guard {
        let tokens = c
            .tokens
            .iter()
            .map(|t| Token { name: t.name.clone(), role: t.role, digest: digest(t.token.expose().trim()) })
            .collect();
        let nets = |l: &[String]| l.iter().filter_map(|s| parse_net(s).ok()).collect::<Vec<_>>();
        Guard {
            tokens,
            allow: nets(&c.ip_allowlist),
            proxies: nets(&c.trusted_proxies),
            write_enabled: c.write_enabled,
            read_requires_token: c.read_requires_token,
            failures: Limiter::new(c.max_auth_failures_per_minute),
        }
    }

    /// True when at least one token is configured.
    pub(crate) fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The token that `presented` is, compared in constant time against every token.
    fn identify(&self, presented: &str) -> Option<(&str, Role)> {
        let d = digest(presented);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&d)) {
                found = Some((t.name.as_str(), t.role));
            }
        }
        found
    }

    /// The request's source: the peer, or — when the peer is a trusted proxy — the rightmost
    /// `X-Forwarded-For` address that is not itself a trusted proxy.
    pub(crate) fn source(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        let mut source = peer;
        for hop in hops.iter().rev() {
            source = *hop;
            if !self.trusted(*hop) {
                break;
            }
        }
        source
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|n| n.contains(&canonical(ip)))
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&canonical(ip)))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Failed authentications per source address in the current minute.
struct Limiter {
    max: u32,
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    fn new(max: u32) -> Limiter {
        Limiter { max: max.max(1), seen: Mutex::new(HashMap::new()) }
    }

    /// Seconds until `ip` may try again, when it is over the limit.
    fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (n, start) = seen.get(&ip)?;
        let left = WINDOW.saturating_sub(start.elapsed());
        (*n >= self.max && !left.is_zero()).then(|| left.as_secs().max(1))
    }

    /// Counts one failure; true when it is the one that reaches the limit.
    fn fail(&self, ip: IpAddr) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 4096 {
            seen.retain(|_, (_, start)| start.elapsed() < WINDOW);
        }
        let e = seen.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        e.0 == self.max
    }
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A sane `X-Actor`: 1–64 printable characters.
fn actor(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(v) = headers.get("x-actor") else { return Ok(None) };
    let s = v.to_str().map_err(|_| ())?.trim();
    let ok = !s.is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control);
    if ok { Ok(Some(s.to_string())) } else { Err(()) }
}

fn unauthorized(message: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sidewatch\""));
    r
}

/// The admin guard (admin and lifecycle routes).
pub(crate) async fn admin(State(state): State<AppState>, route: MatchedPath, mut req: Request, next: Next) -> Response {
    let guard = state.admin.clone();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let source = guard.source(peer, req.headers());
    let write = is_write(req.method());
    let mut row = audit::Row::new(&req, route.as_str(), source);
    let storage = state.storage.clone();
    let refuse = |row: audit::Row, kind: &'static str, resp: Response| {
        let storage = storage.clone();
        async move {
            row.refused(&storage, kind, resp.status().as_u16()).await;
            resp
        }
    };
    if let Some(secs) = guard.failures.blocked(source) {
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed authentications from {source}; try again in {secs}s"),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        // Not audited: the failures that led here were, and a flood must not fill the log.
        return r;
    }
    if !guard.enabled() {
        let r = json_error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: configure at least one token in [[admin.tokens]] (admin.tokens)",
        );
        return refuse(row, "admin_disabled", r).await;
    }
    if !guard.allowed(source) {
        guard.failures.fail(source);
        let r = json_error(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!("source address {source} is not in admin.ip_allowlist"),
        );
        return refuse(row, "ip_not_allowed", r).await;
    }
    let Some((name, role)) = bearer(req.headers()).and_then(|t| guard.identify(t)) else {
        let missing = bearer(req.headers()).is_none();
        guard.failures.fail(source);
        let r = unauthorized(if missing {
            "an admin token is required: send Authorization: Bearer <token>"
        } else {
            "the token is not valid"
        });
        return refuse(row, "unauthorized", r).await;
    };
    row.token_name = name.to_string();
    if write && role != Role::Write {
        let r = json_error(
            StatusCode::FORBIDDEN,
            "insufficient_role",
            format!("token {name:?} has role read; this request needs role write"),
        );
        return refuse(row, "insufficient_role", r).await;
    }
    if write && !guard.write_enabled {
        let r =
            json_error(StatusCode::FORBIDDEN, "read_only", "this sidewatch is read-only: admin.write_enabled is false");
        return refuse(row, "read_only", r).await;
    }
    let actor = match actor(req.headers()) {
        Ok(a) => a,
        Err(()) => {
            let r = json_error(StatusCode::BAD_REQUEST, "bad_actor", "X-Actor must be 1–64 printable characters");
            return refuse(row, "bad_actor", r).await;
        }
    };
    // Alertmanager's silence API carries its author in the body (`createdBy`), and amtool
    // sends no X-Actor: those routes take the actor from the body, or the token's name.
    let am_route = route.as_str().starts_with("/api/v2/");
    if write && actor.is_none() && !am_route {
        let r = json_error(
            StatusCode::BAD_REQUEST,
            "actor_required",
            "writes must name who does them: send an X-Actor header",
        );
        return refuse(row, "actor_required", r).await;
    }
    row.actor = actor.clone().unwrap_or_else(|| name.to_string());
    req.extensions_mut().insert(Caller { token_name: name.to_string(), actor });
    let resp = next.run(req).await;
    if write || resp.status().is_client_error() {
        let finished = row.outcome(&resp);
        finished.write(&state.storage).await;
    }
    resp
}

/// The read guard (query API, `/metrics`): a token of either role when
/// `admin.read_requires_token` is set; otherwise open.
pub(crate) async fn reader(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let guard = &state.admin;
    if !guard.read_requires_token {
        return next.run(req).await;
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let source = guard.source(peer, req.headers());
    if let Some(secs) = guard.failures.blocked(source) {
        let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many failed authentications");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    if bearer(req.headers()).and_then(|t| guard.identify(t)).is_none() {
        guard.failures.fail(source);
        return unauthorized("admin.read_requires_token is set: send Authorization: Bearer <token>");
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::admin::config::TokenConfig;

    fn guard(proxies: &[&str], allow: &[&str]) -> Guard {
        let c = AdminConfig {
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            ip_allowlist: allow.iter().map(|s| s.to_string()).collect(),
            tokens: vec![TokenConfig {
                name: "ops".into(),
                token: crate::config::Secret::new("0123456789abcdef-write"),
                role: Role::Write,
            }],
            ..AdminConfig::default()
        };
        Guard::build(&c)
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let g = guard(&["10.0.0.0/8"], &[]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not a proxy: the header is ignored.
        assert_eq!(g.source(Some(ip("192.0.2.7")), &xff("10.1.1.1")), ip("192.0.2.7"));
        // A proxy: the rightmost address that is not a proxy.
        assert_eq!(g.source(Some(ip("10.0.0.2")), &xff("198.51.100.1, 203.0.113.9, 10.0.0.3")), ip("203.0.113.9"));
        // Garbage in the header stops the walk at the last good hop.
        assert_eq!(g.source(Some(ip("10.0.0.2")), &xff("nonsense")), ip("10.0.0.2"));
    }

    #[test]
    fn allowlist_matches_ipv4_mapped_ipv6() {
        let g = guard(&[], &["127.0.0.1/32"]);
        assert!(g.allowed("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!g.allowed("127.0.0.2".parse().unwrap()));
        assert!(guard(&[], &[]).allowed("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn tokens_are_recognised_only_whole() {
        let g = guard(&[], &[]);
        assert_eq!(g.identify("0123456789abcdef-write").map(|t| t.0), Some("ops"));
        assert!(g.identify("0123456789abcdef-writ").is_none());
        assert!(g.identify("").is_none());
    }

    #[test]
    fn the_limiter_blocks_after_the_limit_within_the_window() {
        let l = Limiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!l.fail(ip) && !l.fail(ip));
        assert!(l.blocked(ip).is_none());
        assert!(l.fail(ip));
        assert!(l.blocked(ip).is_some_and(|s| s <= 60));
        assert!(l.blocked("192.0.2.2".parse().unwrap()).is_none());
    }
}
