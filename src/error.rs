//! *Message errors*: the typed errors of modules whose failures callers only report, never
//! branch on (a template that does not render, a matcher that does not parse). Each module
//! gets its own type, so one module's error cannot be passed off as another's, and its
//! `Display` is the message for the user. Modules whose callers branch on the kind of failure
//! have `thiserror` enums instead (`ConfigError`, `StorageError`, `ReportError`, …).

/// Declares `$vis struct $name(String)`: a `thiserror` error whose message is its text,
/// made from a `String` or `&str`, and turned back into a `String` where a caller collects
/// messages.
macro_rules! message_error {
    ($(#[$meta:meta])* $vis:vis $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
        #[error("{0}")]
        $vis struct $name(pub(crate) String);

        impl From<String> for $name {
            fn from(message: String) -> Self {
                $name(message)
            }
        }

        impl From<&str> for $name {
            fn from(message: &str) -> Self {
                $name(message.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(message: &String) -> Self {
                $name(message.clone())
            }
        }

        impl From<$name> for String {
            fn from(e: $name) -> String {
                e.0
            }
        }
    };
}

pub(crate) use message_error;
