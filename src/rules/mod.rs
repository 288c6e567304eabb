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
    for p in patterns {
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

/// Loads every file matching `patterns` (globs, relative to `base`), in a stable order.
/// Errors of all files are returned together; a pattern matching nothing is not an error.
pub(crate) fn load_globs(
    base: &std::path::Path,
    patterns: &[String],
    default_interval_ms: i64,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for f in matching_files(base, patterns).map_err(|e| vec![e])? {
        match file::load(&f, default_interval_ms) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}
