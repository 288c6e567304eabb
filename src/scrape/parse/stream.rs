//! A *stream parser*: the exposition parser fed a body in pieces as they arrive from the
//! network, so a scrape never holds the whole body (9.5 MB for the 100k-series reference
//! target). Each piece's complete lines are parsed in place; only a line cut by the piece's
//! end is copied, into a carry buffer that the next piece completes. Line numbers, byte
//! offsets, `# EOF` and the current metric family carry over, so errors and entries are the
//! same as [`Parser`] gives on the whole body.

use super::{Entry, Format, MetricType, ParseError, Parser};

/// Why a piece could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// Not UTF-8 at this byte offset of the body.
    Utf8(usize),
    /// A malformed line.
    Parse(ParseError),
}

/// Parses a body fed in pieces; see the module docs.
pub(crate) struct StreamParser {
    format: Format,
    /// The start of a line the last piece cut.
    carry: Vec<u8>,
    /// Body bytes before `carry` (for UTF-8 error offsets).
    offset: usize,
    /// Lines parsed so far.
    line: usize,
    eof_seen: bool,
    /// Name and type of the family of the last `# TYPE`.
    family: String,
    family_type: MetricType,
    /// Hands out [`super::Entry::Unchecked`] entries ([`Parser::trusting`]).
    trusting: bool,
}

impl StreamParser {
    /// A parser for a body in `format`.
    pub(crate) fn new(format: Format) -> Self {
        StreamParser {
            format,
            carry: Vec::new(),
            offset: 0,
            line: 0,
            eof_seen: false,
            family: String::new(),
            family_type: MetricType::Untyped,
            trusting: false,
        }
    }

    /// See [`Parser::trusting`].
    pub(crate) fn trusting(mut self, on: bool) -> Self {
        self.trusting = on;
        self
    }

    /// Parses the complete lines `bytes` ends or holds, calling `f` with each entry; keeps a
    /// trailing partial line for the next piece. Stops at the first error (of `f` too).
    pub(crate) fn feed<E: From<StreamError>>(
        &mut self,
        bytes: &[u8],
        f: &mut impl FnMut(Entry<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = bytes;
        if !self.carry.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                self.carry.extend_from_slice(rest);
                return Ok(());
            };
            self.carry.extend_from_slice(&rest[..=nl]);
            rest = &rest[nl + 1..];
            let carry = std::mem::take(&mut self.carry);
            let parsed = self.region(&carry, false, f);
            self.carry = carry;
            self.carry.clear();
            parsed?;
        }
        match memchr::memrchr(b'\n', rest) {
            None => self.carry.extend_from_slice(rest),
            Some(nl) => {
                self.region(&rest[..=nl], false, f)?;
                self.carry.extend_from_slice(&rest[nl + 1..]);
            }
        }
        Ok(())
    }

    /// Parses what is left (a last line without a newline) and checks the end of the body
    /// (OpenMetrics: `# EOF`).
    pub(crate) fn finish<E: From<StreamError>>(
        &mut self,
        f: &mut impl FnMut(Entry<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let carry = std::mem::take(&mut self.carry);
        self.region(&carry, true, f)
    }

    /// Parses `bytes`, which ends at a line end (or the body's end when `last`).
    fn region<E: From<StreamError>>(
        &mut self,
        bytes: &[u8],
        last: bool,
        f: &mut impl FnMut(Entry<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        // SIMD validation (several times std's speed on a 9.5 MB body); std's only to say where
        // invalid input starts.
        let text = match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => std::str::from_utf8(bytes).map_err(|e| StreamError::Utf8(self.offset + e.valid_up_to()))?,
        };
        self.offset += bytes.len();
        let mut p = Parser::resume(text, self.format, self.line, self.eof_seen, (&self.family, self.family_type), last)
            .trusting(self.trusting);
        let mut result = Ok(());
        for entry in p.by_ref() {
            match entry {
                Ok(e) => {
                    if let Err(e) = f(e) {
                        result = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    result = Err(StreamError::Parse(e).into());
                    break;
                }
            }
        }
        let (line, eof_seen, (name, kind)) = p.state();
        let name = (name != self.family).then(|| name.to_string());
        self.line = line;
        self.eof_seen = eof_seen;
        self.family_type = kind;
        if let Some(name) = name {
            self.family = name;
        }
        result
    }
}
