//! The *cursor*: a position inside one line of an exposition, with the small scanners the
//! parser is built from. Errors are `(absolute byte offset, message)`; the parser turns the
//! offset into a column.

pub(super) type LexResult<T> = Result<T, (usize, String)>;

pub(super) struct Cursor<'a> {
    line: &'a str,
    bytes: &'a [u8],
    i: usize,
    start: usize,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

pub(super) fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line: &'a str, start: usize) -> Self {
        Cursor { line, bytes: line.as_bytes(), i: 0, start }
    }

    pub(super) fn abs(&self) -> usize {
        self.start + self.i
    }

    pub(super) fn line_start(&self) -> usize {
        self.start
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.line[self.i..]
    }

    pub(super) fn at_end(&self) -> bool {
        self.i >= self.bytes.len()
    }

    pub(super) fn peek_is(&self, b: u8) -> bool {
        self.bytes.get(self.i) == Some(&b)
    }

    pub(super) fn bump(&mut self) {
        self.i += 1;
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.i = (self.i + n).min(self.bytes.len());
    }

    fn err<T>(&self, msg: impl Into<String>) -> LexResult<T> {
        Err((self.abs(), msg.into()))
    }

    fn found(&self) -> String {
        match self.rest().chars().next() {
            None => "end of line".into(),
            Some(c) => format!("{c:?}"),
        }
    }

    /// Skips spaces and tabs; true when at least one was skipped.
    pub(super) fn skip_space(&mut self) -> bool {
        let from = self.i;
        while matches!(self.bytes.get(self.i), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > from
    }

    pub(super) fn require_space(&mut self) -> LexResult<()> {
        if self.skip_space() { Ok(()) } else { self.err(format!("expected a space, found {}", self.found())) }
    }

    pub(super) fn metric_name(&mut self) -> LexResult<&'a str> {
        let from = self.i;
        if !self.bytes.get(self.i).copied().is_some_and(is_name_start) {
            return self.err(format!("expected a metric name, found {}", self.found()));
        }
        while self.bytes.get(self.i).copied().is_some_and(is_name_char) {
            self.i += 1;
        }
        Ok(&self.line[from..self.i])
    }

    /// A quoted string without escapes (UTF-8 metric or label names); returns its inside.
    fn quoted_name(&mut self) -> LexResult<&'a str> {
        self.bump();
        let from = self.i;
        while let Some(&b) = self.bytes.get(self.i) {
            match b {
                b'"' => {
                    let s = &self.line[from..self.i];
                    self.i += 1;
                    return Ok(s);
                }
                b'\\' => return self.err("escapes in quoted names are not supported"),
                _ => self.i += 1,
            }
        }
        self.err("unterminated quoted name")
    }

    /// `name`, `name{labels}` or `{"name", labels}`: returns (name, label text, series text).
    pub(super) fn sample_head(&mut self) -> LexResult<(&'a str, &'a str, &'a str)> {
        let from = self.i;
        let mut name = "";
        if !self.peek_is(b'{') {
            name = self.metric_name()?;
            let after_name = self.i;
            self.skip_space();
            if !self.peek_is(b'{') {
                self.i = after_name;
                return Ok((name, "", &self.line[from..self.i]));
            }
        }
        self.bump();
        let mut labels_from = self.i;
        if name.is_empty() {
            self.skip_space();
            if !self.peek_is(b'"') {
                return self.err(format!("expected a metric name, found {}", self.found()));
            }
            name = self.quoted_name()?;
            if name.is_empty() {
                return self.err("empty metric name");
            }
            self.skip_space();
            if self.peek_is(b',') {
                self.bump();
            } else if !self.peek_is(b'}') {
                return self.err(format!("expected ',' or '}}' after the metric name, found {}", self.found()));
            }
            labels_from = self.i;
        }
        let labels_to = self.label_body()?;
        Ok((name, &self.line[labels_from..labels_to], &self.line[from..self.i]))
    }

    /// Checks `a="x", b="y",}` up to and including the closing brace; returns the offset of
    /// the brace (end of the label text).
    pub(super) fn label_body(&mut self) -> LexResult<usize> {
        loop {
            self.skip_space();
            match self.bytes.get(self.i) {
                Some(b'}') => {
                    let end = self.i;
                    self.i += 1;
                    return Ok(end);
                }
                Some(b'"') => {
                    self.quoted_name()?;
                }
                Some(&b) if is_label_start(b) => {
                    while self.bytes.get(self.i).copied().is_some_and(is_label_char) {
                        self.i += 1;
                    }
                }
                _ => return self.err(format!("expected a label name or '}}', found {}", self.found())),
            }
            self.skip_space();
            if !self.peek_is(b'=') {
                return self.err(format!("expected '=' after the label name, found {}", self.found()));
            }
            self.bump();
            self.skip_space();
            if !self.peek_is(b'"') {
                return self.err(format!("expected '\"' to start the label value, found {}", self.found()));
            }
            let quote = self.abs();
            self.bump();
            loop {
                match self.bytes.get(self.i) {
                    None => return Err((quote, "unterminated label value".into())),
                    Some(b'\\') => self.i += 2,
                    Some(b'"') => {
                        self.i += 1;
                        break;
                    }
                    Some(_) => self.i += 1,
                }
            }
            self.skip_space();
            match self.bytes.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return self.err(format!("expected ',' or '}}' after the label value, found {}", self.found())),
            }
        }
    }

    fn token(&mut self) -> &'a str {
        let from = self.i;
        while let Some(&b) = self.bytes.get(self.i) {
            if b == b' ' || b == b'\t' {
                break;
            }
            self.i += 1;
        }
        &self.line[from..self.i]
    }

    /// A sample value: a float, `NaN`, `+Inf`, `-Inf` (any case, as Go's ParseFloat).
    pub(super) fn float(&mut self) -> LexResult<f64> {
        let at = self.abs();
        let tok = self.token();
        parse_float(tok).ok_or_else(|| (at, format!("invalid value {tok:?}; expected a number, NaN, +Inf or -Inf")))
    }

    /// A sample's value and optional timestamp (text: integer milliseconds; OpenMetrics:
    /// seconds), leaving the cursor at the end, at an exemplar's `#`, or at what follows.
    pub(super) fn value_and_timestamp(&mut self, om: bool) -> LexResult<(f64, Option<i64>)> {
        let value = self.float()?;
        let mut timestamp_ms = None;
        if self.skip_space() && !self.at_end() && !self.peek_is(b'#') {
            timestamp_ms = Some(if om { self.om_timestamp() } else { self.int_timestamp() }?);
            self.skip_space();
        }
        Ok((value, timestamp_ms))
    }

    /// Text format: integer milliseconds.
    pub(super) fn int_timestamp(&mut self) -> LexResult<i64> {
        let at = self.abs();
        let tok = self.token();
        tok.parse::<i64>().map_err(|_| (at, format!("invalid timestamp {tok:?}; expected integer milliseconds")))
    }

    /// OpenMetrics: seconds, possibly fractional; returned in milliseconds.
    pub(super) fn om_timestamp(&mut self) -> LexResult<i64> {
        let at = self.abs();
        let tok = self.token();
        match parse_float(tok) {
            Some(s) if s.is_finite() => Ok((s * 1000.0).round() as i64),
            _ => Err((at, format!("invalid timestamp {tok:?}; expected seconds"))),
        }
    }

    /// `# {labels} value [timestamp]`: checked and discarded.
    pub(super) fn exemplar(&mut self) -> LexResult<()> {
        self.bump();
        self.require_space()?;
        if !self.peek_is(b'{') {
            return self.err(format!("expected '{{' to start the exemplar labels, found {}", self.found()));
        }
        self.bump();
        self.label_body()?;
        self.require_space()?;
        self.float()?;
        if self.skip_space() && !self.at_end() {
            self.om_timestamp()?;
            self.skip_space();
        }
        Ok(())
    }
}

/// Parses a sample value as Go's `strconv.ParseFloat` would for exposition values.
pub(crate) fn parse_float(tok: &str) -> Option<f64> {
    if let Some(v) = plain_decimal(tok.as_bytes()) {
        return Some(v);
    }
    if tok.is_empty() || tok.contains('_') {
        return None;
    }
    tok.parse::<f64>().ok()
}

/// Exact powers of ten: every one up to 1e22 is an `f64` without rounding.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The common value shapes, `[+-]digits[.digits]` with at most 2^53 as the digits' integer
/// (95% of the reference workload's values are plain integers), without the general parser:
/// the integer and the power of ten are both exact `f64`s, so one division rounds correctly
/// (Clinger's fast path) and the result is the one `str::parse` gives. `None` for anything
/// else (exponents, `NaN`, more digits), which the general parser takes.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut m: u64 = 0;
    let mut dot = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => m = m * 10 + u64::from(c - b'0'),
            b'.' if dot.is_none() && i > 0 && i + 1 < digits.len() => dot = Some(i),
            _ => return None,
        }
    }
    let frac = dot.map_or(0, |i| digits.len() - i - 1);
    if m > 1 << 53 || frac >= POW10.len() {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::parse_float;
    use proptest::prelude::*;

    fn std_parse(s: &str) -> Option<u64> {
        s.parse::<f64>().ok().map(f64::to_bits)
    }

    #[test]
    fn plain_decimals_parse_as_the_general_parser() {
        for s in [
            "0",
            "-0",
            "+0",
            "40",
            "007",
            "12345.67",
            "0.1",
            "0.3",
            "-0.25",
            "98.813772",
            "0.000102",
            "9007199254740992",
            "9007199254740993",
            "18446744073709551615",
            "99999999999999999999",
            "1.7976931348623157",
            "123456789.0123456789",
            "1.",
            ".5",
            "-",
            "+",
            "1..2",
            "1.2.3",
            "0x10",
            "1e5",
        ] {
            assert_eq!(parse_float(s).map(f64::to_bits), std_parse(s), "{s}");
        }
    }

    proptest! {
        #[test]
        fn any_decimal_parses_as_the_general_parser(s in "[+-]?[0-9]{1,20}(\\.[0-9]{1,20})?") {
            prop_assert_eq!(parse_float(&s).map(f64::to_bits), std_parse(&s), "{}", s);
        }
    }
}
