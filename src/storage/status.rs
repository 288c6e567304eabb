//! *Statuses* as the database stores them: each is an enum with one mapping to and from its
//! SQL text, so a typo cannot compile into a row. An outbox row's status follows its
//! delivery; a job run's status is its outcome.

use std::fmt;

/// A stored text that is not one of an enum's values.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a valid {what}; expected one of: {expected}")]
pub struct UnknownStatus {
    /// What was parsed.
    pub(crate) what: &'static str,
    /// The text found.
    pub(crate) text: String,
    /// The valid texts, comma-separated.
    pub(crate) expected: &'static str,
}

macro_rules! sql_text_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The SQL text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(text: &str) -> Result<Self, UnknownStatus> {
                match text {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownStatus {
                        what: $what,
                        text: text.to_string(),
                        expected: concat!($($text, " "),*),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

sql_text_enum! {
    /// Where an outbox row is in its delivery.
    OutboxStatus ("outbox status") {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// Claimed by a delivery worker.
        Sending => "sending",
        /// Delivered.
        Sent => "sent",
        /// Given up: a permanent error, or too old.
        Failed => "failed",
        /// Deliberately not sent (cooldown, silence, inhibition…); the reason is its error text.
        Suppressed => "suppressed",
    }
}

sql_text_enum! {
    /// The outcome of one run of a report job.
    JobStatus ("job-run status") {
        /// Started, not finished.
        Running => "running",
        /// Finished and wrote its outputs.
        Ok => "ok",
        /// Held back (evidence gate, an existing draft); the reason is its error.
        Held => "held",
        /// Failed; the reason is its error.
        Failed => "failed",
    }
}

impl OutboxStatus {
    /// Whether a row in this state may still be delivered.
    pub(crate) fn is_open(self) -> bool {
        matches!(self, OutboxStatus::Pending | OutboxStatus::Sending)
    }
}

/// Decodes a status column.
pub(crate) fn decode<T: std::str::FromStr<Err = UnknownStatus>>(text: String) -> Result<T, sqlx::Error> {
    text.parse().map_err(|e: UnknownStatus| sqlx::Error::Decode(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_its_sql_text() {
        for s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>().unwrap(), *s);
        }
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), *s);
        }
        let e = "sennt".parse::<OutboxStatus>().unwrap_err().to_string();
        assert!(e.contains("\"sennt\" is not a valid outbox status") && e.contains("sent"), "{e}");
    }
}
