//! *Rules*: Prometheus rule files ([`file`]), the templates in their labels and annotations
//! ([`template`]), the evaluation of a *group* — its rules in order at one time ([`eval`]) —
//! and promtool's rule unit tests ([`unittest`]).

pub(crate) mod config;
pub(crate) mod eval;
pub mod file;
pub(crate) mod lint;
pub mod manager;
pub(crate) mod packs;
pub(crate) mod persist;
mod publish;
pub(crate) mod template;
#[cfg(test)]
mod tests;
pub(crate) mod unittest;

pub use eval::{Context, GroupState, Health, PARALLEL_AFTER_S};
pub(crate) use file::{Group, RuleError};

/// The files matching `patterns` (globs, relative to `base`), sorted, without repeats.
pub(crate) fn matching_files(
    base: &std::path::Path,
    patterns: &[String],
) -> Result<Vec<std::path::PathBuf>, RuleError> {
    let mut files = Vec::new();
    for p in patterns.iter().filter(|p| !p.starts_with(BUILTIN)) {
        let full = base.join(p).display().to_string();
        let paths = glob::glob(&full).map_err(|e| RuleError {
            file: p.clone(),
            line: 0,
            column: 0,
            msg: format!("bad glob: {e}"),
        })?;
        files.extend(paths.flatten());
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The prefix of a `rules.files` pattern that names built-in packs (`builtin:*.yml`,
/// `builtin:http.yml`): they are read from the binary, not from disk.
pub(crate) const BUILTIN: &str = "builtin:";

/// The built-in packs that the `builtin:` patterns among `patterns` name.
pub(crate) fn builtin_packs(patterns: &[String]) -> Result<Vec<(&'static str, &'static str)>, RuleError> {
    let mut out = Vec::new();
    for p in patterns.iter().filter_map(|p| p.strip_prefix(BUILTIN)) {
        let pat = glob::Pattern::new(p).map_err(|e| RuleError {
            file: format!("{BUILTIN}{p}"),
            line: 0,
            column: 0,
            msg: format!("bad glob: {e}"),
        })?;
        out.extend(packs::RULES.iter().filter(|(n, _)| pat.matches(n)).copied());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Loads every file matching `patterns` (globs, relative to `base`), in a stable order.
/// Errors of all files are returned together; a pattern matching nothing is not an error.
pub(crate) fn load_globs(
    base: &std::path::Path,
    patterns: &[String],
    default_interval_ms: i64,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in builtin_packs(patterns).map_err(|e| vec![e])? {
        match file::parse(text, &format!("{BUILTIN}{name}"), default_interval_ms) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e),
        }
    }
    for f in matching_files(base, patterns).map_err(|e| vec![e])? {
        match file::load(&f, default_interval_ms) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}
