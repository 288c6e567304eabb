//! *Rules*: Prometheus rule files ([`file`]), the templates in their labels and annotations
//! ([`template`]), the evaluation of a *group* — its rules in order at one time ([`eval`]) —
//! and promtool's rule unit tests ([`unittest`]).

pub mod eval;
pub mod file;
pub mod lint;
pub mod manager;
pub mod persist;
pub mod template;
pub mod unittest;

pub use eval::{Context, GroupState, Health};
pub use file::{Group, Rule, RuleError};

/// Loads every file matching `patterns` (globs, relative to `base`), in a stable order.
/// Errors of all files are returned together; a pattern matching nothing is not an error.
pub fn load_globs(
    base: &std::path::Path,
    patterns: &[String],
    default_interval_ms: i64,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let mut files = Vec::new();
    for p in patterns {
        let full = if std::path::Path::new(p).is_absolute() { p.clone() } else { base.join(p).display().to_string() };
        match glob::glob(&full) {
            Ok(paths) => files.extend(paths.flatten()),
            Err(e) => {
                return Err(vec![RuleError { file: p.clone(), line: 0, column: 0, msg: format!("bad glob: {e}") }]);
            }
        }
    }
    files.sort();
    files.dedup();
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match file::load(&f, default_interval_ms) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}
