//! The *exposition parser*: reads the Prometheus text format 0.0.4 and OpenMetrics 1.0 text
//! into [`Entry`]s that borrow from the body (`&str` slices; no `String` per line). A sample
//! carries its raw series text (`name{labels}`), which the scrape loop uses as a cache key, so
//! label pairs are only decoded ([`Sample::labels`]) for series seen for the first time.
//!
//! It is quote- and escape-aware: metric names with colons, label values holding `,` `=` `{`
//! `}` `\"` `\\` `\n`, spaces after commas, trailing commas, timestamps, `NaN`/`±Inf`,
//! `# HELP`/`# TYPE`/`# UNIT`, exemplars (checked, then dropped) and `# EOF`. A malformed line
//! is an error naming its line and column; nothing panics.
//!
//! Written by hand (see docs/ARCHITECTURE.md): the `prometheus-parse` crate drops names with
//! colons, truncates values with `,`, loses labels whose value holds `=`, does not unescape
//! `\"`, and allocates per line.

mod labels;
mod lex;
mod stream;
#[cfg(test)]
mod tests;
mod unchecked;

pub(crate) use labels::{LabelIter, escape, unescape};
pub(crate) use stream::{StreamError, StreamParser};
pub(crate) use unchecked::Unchecked;

use lex::Cursor;
use std::fmt;

/// Which wire format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (also the fallback for missing or unknown content types).
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header announces; anything unknown is text 0.0.4, as in
    /// Prometheus 2.
    pub(crate) fn from_content_type(ct: Option<&str>) -> Format {
        match ct {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// A metric family's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    Untyped,
}

impl MetricType {
    fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "stateset" => MetricType::StateSet,
            "info" => MetricType::Info,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// One sample line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<'a> {
    /// The raw series text, `name` or `name{…}` exactly as written (a stable cache key).
    pub(crate) series: &'a str,
    /// The metric name.
    pub(crate) name: &'a str,
    /// The raw text between the braces (empty when there are none); decode with [`Sample::labels`].
    pub(crate) label_text: &'a str,
    /// The value; `NaN` and `±Inf` included.
    pub value: f64,
    /// The sample's own timestamp in milliseconds, if it has one.
    pub(crate) timestamp_ms: Option<i64>,
}

impl<'a> Sample<'a> {
    /// The label pairs (name, unescaped value), in written order, excluding `__name__`.
    pub(crate) fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.label_text)
    }
}

/// One parsed line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text` (text still escaped).
    Help { name: &'a str, text: &'a str },
    /// `# TYPE name type`.
    Type { name: &'a str, kind: MetricType },
    /// `# UNIT name unit` (OpenMetrics).
    Unit { name: &'a str, unit: &'a str },
    /// A sample.
    Sample(Sample<'a>),
    /// A sample line whose series text was not checked (only from a [trusting](Parser::trusting)
    /// parser); [`Unchecked::check`] checks it.
    Unchecked(Unchecked<'a>),
}

/// A malformed exposition: where and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column (in bytes).
    pub(crate) column: usize,
    /// What was wrong.
    pub(crate) message: String,
}

/// Iterates over the entries of one exposition body.
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    format: Format,
    eof_seen: bool,
    /// The family of the last `# TYPE` (OpenMetrics: to drop `_created` series as Prometheus does).
    family: (&'a str, MetricType),
    failed: bool,
    /// Whether `text` ends the body (then a missing OpenMetrics `# EOF` is an error).
    last: bool,
    /// Sample lines are read without checking their series text first ([`Parser::trusting`]).
    trusting: bool,
}

impl<'a> Parser<'a> {
    /// A parser over `text` in `format`.
    pub fn new(text: &'a str, format: Format) -> Self {
        Parser::resume(text, format, 0, false, ("", MetricType::Untyped), true)
    }

    /// A parser over a part of a body that starts at a line start, after `line` lines, with the
    /// state the earlier part left ([`Parser::state`]); `last` when the part ends the body.
    pub(crate) fn resume(
        text: &'a str,
        format: Format,
        line: usize,
        eof_seen: bool,
        family: (&'a str, MetricType),
        last: bool,
    ) -> Self {
        Parser { text, pos: 0, line, format, eof_seen, family, failed: false, last, trusting: false }
    }

    /// Makes the parser hand out sample lines as [`Entry::Unchecked`] where it can: their value
    /// and timestamp are read, their series text is only delimited (up to the last `}`, or the
    /// name), not checked. For a caller that knows the series texts of earlier scrapes, which
    /// were checked when first seen: a line whose series text is one of them needs no check of
    /// its own, and any other it checks with [`Unchecked::check`]. Lines the fast reading cannot
    /// take whole (a quoted name, a space before `{`, an exemplar, a malformed value) are
    /// checked as usual.
    pub(crate) fn trusting(mut self, on: bool) -> Self {
        self.trusting = on;
        self
    }

    /// Lines read, whether `# EOF` was seen, and the family of the last `# TYPE`.
    pub(crate) fn state(&self) -> (usize, bool, (&'a str, MetricType)) {
        (self.line, self.eof_seen, self.family)
    }

    fn next_line(&mut self) -> Option<(&'a str, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match memchr_newline(rest.as_bytes()) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        let start = self.pos;
        self.pos += advance;
        self.line += 1;
        Some((line.strip_suffix('\r').unwrap_or(line), start))
    }

    fn error(&mut self, line_start: usize, at: usize, message: impl fmt::Display) -> ParseError {
        self.failed = true;
        ParseError { line: self.line, column: at - line_start + 1, message: message.to_string() }
    }

    fn parse_line(&mut self, line: &'a str, start: usize) -> Result<Option<Entry<'a>>, ParseError> {
        let om = self.format == Format::OpenMetrics;
        if self.eof_seen {
            return Err(self.error(start, start, "unexpected content after # EOF"));
        }
        // A line that starts with a name, `#` or `{` is not blank (no trim of every line).
        let first = line.as_bytes().first().copied().unwrap_or(b' ');
        if !(first.is_ascii_alphabetic() || matches!(first, b'_' | b':' | b'#' | b'{')) && line.trim().is_empty() {
            return Ok(None);
        }
        let mut c = Cursor::new(line, start);
        if line.starts_with('#') {
            return self.parse_comment(&mut c);
        }
        if self.trusting
            && let Some(u) = unchecked::read(line, start, self.line, self.format, self.family)
        {
            return Ok(Some(Entry::Unchecked(u)));
        }
        let sample = c.sample_head().map_err(|(at, m)| self.error(start, at, m))?;
        let (name, label_text, series) = sample;
        c.require_space().map_err(|(at, m)| self.error(start, at, m))?;
        let (value, timestamp_ms) = c.value_and_timestamp(om).map_err(|(at, m)| self.error(start, at, m))?;
        if c.peek_is(b'#') {
            if !om {
                return Err(self.error(start, c.abs(), "unexpected '#' after the value (exemplars need OpenMetrics)"));
            }
            c.exemplar().map_err(|(at, m)| self.error(start, at, m))?;
        }
        if !c.at_end() {
            return Err(self.error(start, c.abs(), format!("unexpected {:?} after the sample", c.rest())));
        }
        if om && name.len() > self.family.0.len() && name.ends_with("_created") && name.starts_with(self.family.0) {
            // Prometheus ingests no `_created` series from OpenMetrics (they carry created
            // timestamps, not samples) for counters, histograms and summaries.
            if matches!(
                self.family.1,
                MetricType::Counter | MetricType::Histogram | MetricType::Summary | MetricType::GaugeHistogram
            ) {
                return Ok(None);
            }
        }
        Ok(Some(Entry::Sample(Sample { series, name, label_text, value, timestamp_ms })))
    }

    fn parse_comment(&mut self, c: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, ParseError> {
        let start = c.line_start();
        let om = self.format == Format::OpenMetrics;
        c.bump(); // '#'
        if om && c.rest() == " EOF" {
            self.eof_seen = true;
            return Ok(None);
        }
        let keyword_is = |c: &Cursor<'_>, kw: &str| {
            let r = c.rest().trim_start_matches([' ', '\t']);
            r.starts_with(kw) && r[kw.len()..].starts_with([' ', '\t'])
        };
        let kind = ["HELP", "TYPE", "UNIT"].into_iter().find(|kw| keyword_is(c, kw));
        let Some(kind) = kind else {
            if om {
                return Err(self.error(
                    start,
                    c.abs(),
                    "OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF comments",
                ));
            }
            return Ok(None); // a plain comment
        };
        if kind == "UNIT" && !om {
            return Ok(None); // text 0.0.4 has no UNIT; treat as a comment
        }
        c.skip_space();
        c.advance(4);
        c.require_space().map_err(|(at, m)| self.error(start, at, m))?;
        let name = c.metric_name().map_err(|(at, m)| self.error(start, at, m))?;
        let text = if c.at_end() {
            ""
        } else {
            c.require_space().map_err(|(at, m)| self.error(start, at, m))?;
            c.rest()
        };
        Ok(Some(match kind {
            "HELP" => Entry::Help { name, text },
            "UNIT" => Entry::Unit { name, unit: text.trim() },
            _ => {
                let Some(kind) = MetricType::parse(text.trim()) else {
                    return Err(self.error(start, c.abs(), format!("invalid metric type {:?}", text.trim())));
                };
                self.family = (name, kind);
                Entry::Type { name, kind }
            }
        }))
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    /// The next entry, or an error; after an error the iteration ends. In OpenMetrics a
    /// missing `# EOF` is reported as an error at the end of the body.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let Some((line, start)) = self.next_line() else {
                if self.last && self.format == Format::OpenMetrics && !self.eof_seen {
                    self.failed = true;
                    return Some(Err(ParseError {
                        line: self.line + 1,
                        column: 1,
                        message: "missing # EOF at the end".into(),
                    }));
                }
                return None;
            };
            match self.parse_line(line, start) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}
