//! The *loader* of settings: one TOML file (`--config PATH`, else `sidewatch.toml` in the
//! working directory, else built-in defaults), with `${VAR}` expansion, `<key>_file` secrets
//! and `SIDEWATCH_<SECTION>__<KEY>` environment overrides, deserialized into any [`Settings`]
//! tree and validated by it; plus the value types every section shares ([`Duration`],
//! [`ByteSize`], [`Secret`], [`SecretUrl`]). This module sits at the bottom of the import
//! order: it knows no stage. Each stage owns and validates its own section type; the
//! program's whole tree is `settings::Config`.

mod error;
mod load;
mod types;

pub(crate) use error::ConfigError;
pub(crate) use load::{Loaded, load, load_from_str, resolve_path};
pub use types::{ByteSize, Duration, Secret, SecretUrl};
pub(crate) use types::{ValueError, Zone, unit_duration_ms};

/// How a section reports a bad value: `invalid(path, message)` formats one error for the key
/// at `path` (file, section and line when known).
pub(crate) type Invalid<'a> = &'a dyn Fn(&[&str], &str) -> String;

/// A settings tree the loader can fill: deserialized with unknown keys refused, defaults for
/// what is left out (also used to type environment overrides), then checked as a whole.
pub(crate) trait Settings: serde::de::DeserializeOwned + serde::Serialize + Default {
    /// Every problem the types cannot express, one message per problem (empty: valid).
    fn validate(&self, invalid: Invalid<'_>) -> Vec<String>;
}
