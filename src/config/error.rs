//! A *config error*: why a settings file or override was refused, phrased for the operator
//! with the file, the key (and line when known) and what is expected.

/// Why the configuration could not be loaded. Its `Display` is the full message for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {file}: {error}")]
    Io {
        /// The file as named by the user.
        file: String,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        /// The file as named by the user.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// One or more keys are unknown, of the wrong type or out of range; one message per line.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}
