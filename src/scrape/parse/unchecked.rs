//! An *unchecked sample*: a sample line read fast, for a scrape loop that has seen its series
//! before. Most of a steady-state scrape's parsing went into checking label text character by
//! character (quotes, escapes, names) that was checked, byte for byte the same, on an earlier
//! scrape. The fast reading delimits the series text with `memchr` — up to the line's last
//! `}`, or the bare name — and reads the value and timestamp after it. That delimiting is only
//! right for a well-formed line; the caller proves it by finding the text among series texts
//! it checked before (then it is one of those, so it is well formed and ends exactly there),
//! and otherwise calls [`Unchecked::check`], which parses the line in full: the same entry, or
//! the same error, a plain parser gives.

use super::lex::Cursor;
use super::{Entry, Format, MetricType, ParseError, Parser, Sample};

/// A sample line whose series text is delimited but not checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unchecked<'a> {
    /// The line's series text if the line is well formed.
    pub(crate) series: &'a str,
    /// The value.
    pub(crate) value: f64,
    /// The sample's own timestamp in milliseconds, if it has one.
    pub(crate) timestamp_ms: Option<i64>,
    /// The whole line (without its line end).
    line: &'a str,
    /// Lines of the body before this one.
    before: usize,
    format: Format,
    family: (&'a str, MetricType),
}

impl<'a> Unchecked<'a> {
    /// Parses the line in full: its sample, `None` for a line Prometheus does not ingest (an
    /// OpenMetrics `_created` series), or the error naming its line and column.
    pub(crate) fn check(&self) -> Result<Option<Sample<'a>>, ParseError> {
        let mut p = Parser::resume(self.line, self.format, self.before, false, self.family, false);
        match p.next() {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(Entry::Sample(s))) => Ok(Some(s)),
            Some(Ok(_)) => unreachable!("a sample line parses to a sample"),
        }
    }
}

/// Reads a sample line (not a comment, not blank) the fast way; `None` when the line needs the
/// full parse: a name in quotes, a space between the name and `{`, an exemplar, an OpenMetrics
/// `_created` series, or anything that does not read as a value and an optional timestamp.
/// `line_no` is the line's 1-based number.
pub(super) fn read<'a>(
    line: &'a str,
    start: usize,
    line_no: usize,
    format: Format,
    family: (&'a str, MetricType),
) -> Option<Unchecked<'a>> {
    let b = line.as_bytes();
    let name_end = memchr::memchr3(b'{', b' ', b'\t', b)?;
    if name_end == 0 {
        return None;
    }
    // The last `}`: label values may hold braces (route templates such as `/users/{id}`), a
    // value or timestamp never does.
    let series_end = if b[name_end] == b'{' { memchr::memrchr(b'}', b)? + 1 } else { name_end };
    let om = format == Format::OpenMetrics;
    if om && line[..name_end].ends_with("_created") {
        return None;
    }
    let mut c = Cursor::new(line, start);
    c.advance(series_end);
    if !c.skip_space() || c.peek_is(b'{') {
        return None;
    }
    let (value, timestamp_ms) = c.value_and_timestamp(om).ok()?;
    if !c.at_end() {
        return None;
    }
    Some(Unchecked { series: &line[..series_end], value, timestamp_ms, line, before: line_no - 1, format, family })
}
