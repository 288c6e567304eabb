//! *Validation*: the checks serde's types cannot express (an address that parses, a URL
//! scheme we support, a log filter that compiles). Each failure is reported with its key.

use super::Config;

/// Checks `config`; `invalid(path, message)` formats an error for the key at `path`.
/// Returns every error found, not only the first.
pub(super) fn validate(config: &Config, invalid: &dyn Fn(&[&str], &str) -> String) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let s = &config.server;
    if !is_host_port(&s.listen) {
        errors.push(invalid(
            &["server", "listen"],
            &format!("{:?} is not host:port; expected e.g. \"127.0.0.1:9465\"", s.listen),
        ));
    }
    let url_ok = |u: &str| u.is_empty() || u.starts_with("http://") || u.starts_with("https://");
    if !url_ok(&s.external_url) {
        errors.push(invalid(&["server", "external_url"], "expected an http:// or https:// URL"));
    }
    if s.max_body_bytes.bytes() == 0 {
        errors.push(invalid(&["server", "max_body_bytes"], "must be larger than 0"));
    }
    let st = &config.storage;
    let url = st.url.expose();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        errors.push(invalid(
            &["storage", "url"],
            &format!("{} is not supported; expected sqlite://PATH or postgres://user@host:port/db", st.url),
        ));
    }
    if st.max_connections == 0 {
        errors.push(invalid(&["storage", "max_connections"], "must be at least 1"));
    }
    if st.connect_timeout.get().is_zero() {
        errors.push(invalid(&["storage", "connect_timeout"], "must be longer than 0s"));
    }
    if let Err(e) = check_log_filter(&config.log.level) {
        errors.push(invalid(
            &["log", "level"],
            &format!("{e}; expected error, warn, info, debug, trace or a filter like \"info,sqlx=warn\""),
        ));
    }
    errors.extend(super::scrape::validate(&config.scrape, &config.store, &config.targets, invalid));
    errors.extend(super::query::validate(&config.query, invalid));
    errors.extend(super::rules::validate(&config.rules, invalid));
    errors.extend(super::reports::validate(config, invalid));
    for e in crate::notify::check(&config.notify) {
        let (path, msg) = e.split_once(": ").unwrap_or(("notify", &e));
        let segments: Vec<&str> = path.split('.').collect();
        errors.push(invalid(&segments, msg));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// A log filter: comma-separated directives, each a level or `target=level`. (tracing's own
/// parser takes a bare word as a target name, which hides typos like `level = "infoo"`.)
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!("{level:?} is not a log level"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map(|_| ()).map_err(|e| e.to_string())
}
