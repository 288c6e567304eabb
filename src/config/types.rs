//! Value types of the settings tree: a *duration* (`"15s"`, `"1h30m"`, `"7d"`), a *byte size*
//! (`"512KiB"`, `"32MiB"`, or a plain number of bytes) and a *secret* (a string that never
//! prints). Each deserializes from the forms `config-contract.toml` allows and serializes back
//! to a form the loader accepts, so `sidewatch config print` output is itself a valid config.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration as StdDuration;

crate::error::message_error! {
    /// A setting's value that does not parse (a duration, a size).
    pub(crate) ValueError
}

/// A duration written as a Prometheus-style string: one or more `<number><unit>` parts with
/// units `ms`, `s`, `m`, `h`, `d`, `w`, `y` (e.g. `"90s"`, `"1h30m"`). A bare integer means seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// A duration of `secs` seconds.
    pub(crate) const fn from_secs(secs: u64) -> Self {
        Duration(StdDuration::from_secs(secs))
    }

    /// The wrapped standard-library duration.
    pub(crate) fn get(self) -> StdDuration {
        self.0
    }

    /// Parses `"1h30m"`-style text. Returns an error message naming the first bad part.
    pub(crate) fn parse(text: &str) -> Result<Self, ValueError> {
        let s = text.trim();
        if s.is_empty() {
            return Err("empty duration; expected e.g. \"15s\", \"5m\", \"1h\"".into());
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        let total_ms = unit_duration_ms(s)?;
        let ms = u64::try_from(total_ms).map_err(|_| format!("duration {text:?} is too large"))?;
        Ok(Duration(StdDuration::from_millis(ms)))
    }
}

/// Prometheus' duration syntax, the one parser of it in sidewatch (configuration values, rule
/// `for`, PromQL test scripts, `--since`): a sequence of `<integer><unit>` with units `ms`, `s`,
/// `m`, `h`, `d`, `w`, `y` (`1h30m`, `500ms`, `2d`), as milliseconds. Written by hand because no
/// crate parses exactly this (humantime also takes `1hour`, spaces and other units).
pub(crate) fn unit_duration_ms(s: &str) -> Result<u128, ValueError> {
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(ValueError::from(format!("invalid duration {s:?}; expected e.g. \"15s\", \"5m\", \"1h30m\"")));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("duration {s:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            other => {
                return Err(ValueError::from(format!(
                    "invalid unit {other:?} in duration {s:?}; use ms, s, m, h, d, w or y"
                )));
            }
        };
        rest = &rest[unit_len..];
        total_ms = n
            .checked_mul(unit_ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(total_ms)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"15s\", \"5m\" or \"1h\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v).map(Duration::from_secs).map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes, written as a plain number or with a unit: `B`, `KB`/`MB`/`GB` (powers of
/// 1000) or `KiB`/`MiB`/`GiB` (powers of 1024), e.g. `"512KiB"`, `"32MiB"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` kibibytes.
    pub(crate) const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }

    /// `n` mebibytes.
    pub(crate) const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// The number of bytes.
    pub(crate) fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `"32MiB"`-style text. Returns an error message when the number or unit is bad.
    pub(crate) fn parse(text: &str) -> Result<Self, ValueError> {
        let s = text.trim();
        let digits = s.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (num, unit) = s.split_at(digits);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {text:?}; expected e.g. \"512KiB\", \"32MiB\" or a number of bytes"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(ValueError::from(format!(
                    "invalid unit {other:?} in size {text:?}; use B, KiB, MiB, GiB, KB, MB or GB"
                )));
            }
        };
        Ok(ByteSize((n * mult as f64).round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{unit}", b / size);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"1MiB\" or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret: a token, password, webhook URL or connection string. Its `Debug`, `Display` and
/// `Serialize` all print `***`; only [`Secret::expose`] gives the value, and only code that
/// sends it on the wire should call it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// True when no value was set.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces the password of a URL (`scheme://user:password@host/…`) with `***`, for logs and
/// `config print`. Text without a password is returned unchanged.
pub(super) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_string() };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else { return url.to_string() };
    format!("{}://{}:***@{}", &url[..scheme_end], &userinfo[..colon], &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(Duration::parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(Duration::parse("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(Duration::parse("250ms").unwrap().get().as_millis(), 250);
        assert_eq!(Duration::parse("30").unwrap(), Duration::from_secs(30));
        assert!(Duration::parse("5 minutes").is_err());
        assert!(Duration::parse("m5").is_err());
        assert!(Duration::parse("").is_err());
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::parse("1d2h3m4s5ms").unwrap().to_string(), "1d2h3m4s5ms");
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(ByteSize::parse("1MiB").unwrap(), ByteSize::mib(1));
        assert_eq!(ByteSize::parse("512KiB").unwrap().bytes(), 512 * 1024);
        assert_eq!(ByteSize::parse("1GB").unwrap().bytes(), 1_000_000_000);
        assert_eq!(ByteSize::parse("100").unwrap().bytes(), 100);
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert_eq!(ByteSize::mib(32).to_string(), "32MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(redact_url("smtp://a:b:c@h?tls=1"), "smtp://a:***@h?tls=1");
    }
}

/// A connection URL that may carry a password (`postgres://user:pw@host/db`). It prints with the
/// password replaced by `***` (see [`redact_url`]); [`SecretUrl::expose`] gives the real URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL with its password, for the code that connects.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&redact_url(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretUrl)
    }
}

/// A *time zone* setting: `UTC`, a fixed offset (`+02:00`) or an IANA name (`Europe/Berlin`,
/// daylight saving included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Zone {
    /// UTC or a fixed offset.
    Fixed(chrono::FixedOffset),
    /// A named zone of the IANA database.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses `UTC` (or empty), `+02:00`-style offsets and IANA names.
    pub(crate) fn parse(s: &str) -> Result<Zone, ValueError> {
        let s = s.trim();
        if s.is_empty() || s == "UTC" || s == "Z" {
            return Ok(Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("zero")));
        }
        if let Ok(d) = chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{s}")) {
            return Ok(Zone::Fixed(*d.offset()));
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            ValueError::from(format!(
                "{s:?} is not UTC, a fixed offset like +02:00, or a time zone name like Europe/Berlin"
            ))
        })
    }

    /// Weekday (Monday 0), hour and minute of `ms` in this zone.
    pub(crate) fn local(&self, ms: i64) -> Option<(u32, u32, u32)> {
        use chrono::TimeZone;
        fn parts<T: chrono::Datelike + chrono::Timelike>(t: T) -> (u32, u32, u32) {
            (t.weekday().num_days_from_monday(), t.hour(), t.minute())
        }
        match self {
            Zone::Fixed(z) => z.timestamp_millis_opt(ms).single().map(parts),
            Zone::Named(z) => z.timestamp_millis_opt(ms).single().map(parts),
        }
    }
}

#[cfg(test)]
mod zone_tests {
    use super::Zone;

    #[test]
    fn zones_parse_and_follow_daylight_saving() {
        assert!(matches!(Zone::parse("").unwrap(), Zone::Fixed(_)));
        assert!(matches!(Zone::parse("+02:00").unwrap(), Zone::Fixed(_)));
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // 2026-01-15 12:00 UTC is 13:00 in Berlin (CET); 2026-07-15 12:00 UTC is 14:00 (CEST).
        let winter = chrono::DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").unwrap().timestamp_millis();
        let summer = chrono::DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z").unwrap().timestamp_millis();
        assert_eq!(berlin.local(winter), Some((3, 13, 0)));
        assert_eq!(berlin.local(summer), Some((2, 14, 0)));
        let err = Zone::parse("Mars/Olympus").unwrap_err().to_string();
        assert!(err.contains("Europe/Berlin"), "{err}");
    }
}
