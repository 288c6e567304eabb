//! The *admin settings*: `[admin]`, who may use the admin API (`/api/v1/admin/*`,
//! `/api/v2/*` silences, `/-/reload`) — bearer tokens with a role, the addresses allowed, the
//! proxies whose `X-Forwarded-For` is believed, the read-only switch — and the operator
//! *signals* the ops view reports.

use crate::config::{Invalid, Secret};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[admin]`: the guarded admin API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AdminConfig {
    /// A name for this deployment (`DEVELOPMENT`, `PRODUCTION`, …), shown by `/ops` and
    /// `GET /api/v1/admin/ops` so an operator knows where they are.
    pub(crate) environment: String,
    /// The read-only switch: when false (the default) every admin write (retry, run a job,
    /// silences, reload) answers 403 `read_only`; reads still work.
    pub(crate) write_enabled: bool,
    /// Source addresses allowed to use the admin API, as CIDRs (IPv4 and IPv6, e.g.
    /// `"10.0.0.0/8"`, `"::1/128"`); empty allows any address.
    pub(crate) ip_allowlist: Vec<String>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` header is believed; from any other peer the
    /// header is ignored and the connection's address is the source.
    pub(crate) trusted_proxies: Vec<String>,
    /// Also require a token (either role) for the query API, `/api/v1/targets|rules|alerts`
    /// and `/metrics`; `/healthz` and `/readyz` stay open.
    pub(crate) read_requires_token: bool,
    /// Failed authentications (no token, wrong token, address refused) one source address may
    /// make per minute; past it, the admin API answers that address 429 for the rest of the
    /// minute.
    pub(crate) max_auth_failures_per_minute: u32,
    /// The tokens. None: the admin API is off (every admin route answers 403 naming this key).
    pub(crate) tokens: Vec<TokenConfig>,
    /// Operator signals: a name shown by the ops view (`fallbackTriggered`) → the alert whose
    /// state it reports. Every alerting rule is also a signal under its own name.
    pub(crate) signals: BTreeMap<String, String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            environment: "DEVELOPMENT".into(),
            write_enabled: false,
            ip_allowlist: Vec::new(),
            trusted_proxies: Vec::new(),
            read_requires_token: false,
            max_auth_failures_per_minute: 10,
            tokens: Vec::new(),
            signals: BTreeMap::new(),
        }
    }
}

/// `[[admin.tokens]]`: one bearer token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenConfig {
    /// The token's name: recorded in the audit log as the token used (never the token).
    pub(crate) name: String,
    /// The token itself (at least 16 characters), usually `"${SIDEWATCH_ADMIN_TOKEN}"`, or
    /// read from a file with `token_file` (the loader's `<key>_file`).
    pub(crate) token: Secret,
    /// `read` (GET requests) or `write` (everything).
    pub(crate) role: Role,
}

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Read the admin API.
    Read,
    /// Read and change.
    Write,
}

/// The shortest token accepted.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// Parses a CIDR, or a bare address as a one-address network.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a CIDR such as \"10.0.0.0/8\" or \"::1/128\""))
}

/// Checks `[admin]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(c: &AdminConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    for (key, list) in [("ip_allowlist", &c.ip_allowlist), ("trusted_proxies", &c.trusted_proxies)] {
        for (i, s) in list.iter().enumerate() {
            if let Err(e) = parse_net(s) {
                errors.push(invalid(&["admin", key, &i.to_string()], &e));
            }
        }
    }
    if c.max_auth_failures_per_minute == 0 {
        errors.push(invalid(&["admin", "max_auth_failures_per_minute"], "must be at least 1"));
    }
    let mut names = std::collections::HashSet::new();
    for (i, t) in c.tokens.iter().enumerate() {
        let err = |k: &str, m: &str| invalid(&["admin", "tokens", &i.to_string(), k], m);
        if t.name.trim().is_empty() {
            errors.push(err("name", "must not be empty"));
        } else if !names.insert(t.name.as_str()) {
            errors.push(err("name", &format!("{:?} is used by two tokens", t.name)));
        }
        if t.token.is_empty() {
            errors.push(err("token", "set token (or token_file)"));
        } else if t.token.expose().trim().len() < MIN_TOKEN_LEN {
            errors.push(err("token", &format!("must be at least {MIN_TOKEN_LEN} characters")));
        }
    }
    for (name, alert) in &c.signals {
        if alert.trim().is_empty() {
            errors.push(invalid(&["admin", "signals", name], "must name an alert"));
        }
    }
    errors
}
