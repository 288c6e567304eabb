//! *Label decoding*: turns the raw text between a sample's braces (already checked by the
//! parser) into (name, value) pairs, unescaping `\\`, `\"` and `\n` in values. Values without
//! escapes are borrowed; only escaped ones allocate.

use super::lex::is_label_char;
use std::borrow::Cow;

/// Iterator over the label pairs of checked label text.
pub(crate) struct LabelIter<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> LabelIter<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        LabelIter { text, i: 0 }
    }

    fn skip(&mut self, set: &[u8]) {
        let b = self.text.as_bytes();
        while self.i < b.len() && set.contains(&b[self.i]) {
            self.i += 1;
        }
    }
}

/// Escapes a label value for the text format and matchers, the inverse of [`unescape`]:
/// `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Unescapes a label value: `\\` → `\`, `\"` → `"`, `\n` → newline; other sequences stay as
/// written (as Prometheus does).
pub(crate) fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        self.skip(b" \t,");
        if self.i >= b.len() || b[self.i] == b'}' {
            return None;
        }
        let name = if b[self.i] == b'"' {
            let from = self.i + 1;
            let len = self.text[from..].find('"')?;
            self.i = from + len + 1;
            &self.text[from..from + len]
        } else {
            let from = self.i;
            while self.i < b.len() && is_label_char(b[self.i]) {
                self.i += 1;
            }
            &self.text[from..self.i]
        };
        self.skip(b" \t=");
        // Opening quote.
        self.i += 1;
        let from = self.i;
        while self.i < b.len() {
            match b[self.i] {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        let raw = &self.text[from..self.i.min(b.len())];
        self.i += 1;
        Some((name, unescape(raw)))
    }
}
