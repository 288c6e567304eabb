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
    if tok.is_empty() || tok.contains('_') {
        return None;
    }
    tok.parse::<f64>().ok()
}
