//! *Syntax error positions*: where in a PromQL expression a parse error is, and what was
//! unexpected there, as Prometheus reports them (`1:19: parse error: unexpected end of input`).
//!
//! The parser crate only says "invalid promql query" on a syntax error. The position is found
//! from the outside, with the crate's own lexer and parser: a prefix of the expression is
//! *completable* when some short ending (an operand, a duration, a label value, the closing
//! brackets it still needs) makes it parse. Every prefix before the error is completable and
//! none after it is, so a binary search over token starts finds the first token that cannot
//! be there; if the whole text is completable, the input ended too early. Lexer errors (an
//! unterminated string, a stray character) are found the same way: the shortest prefix that
//! gives the same lexer error ends at the bad character.
//!
//! Costs about 15 parses of the prefix per halving step, and runs only for a query that
//! failed to parse.

/// Endings tried to complete a prefix, each followed by the closers of its open brackets.
const FILLERS: &[&str] =
    &["", " 0", " x", "5m", " 5m", "=\"\"", "\"\"", " \"\"", " (x)", "(x)", " x)", "0)", " 0]", ":]", " x)(x"];

/// A located syntax error: byte `offset` into the expression and Prometheus' wording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    /// Byte offset of the unexpected token (the expression's length at its end).
    pub(crate) offset: usize,
    /// "unexpected end of input", `unexpected identifier "bar"`, the lexer's message, …
    pub(crate) message: String,
}

impl SyntaxError {
    /// `line:column` (1-based, columns in characters) of the error inside `expr`.
    pub(crate) fn line_col(&self, expr: &str) -> (usize, usize) {
        let before = &expr[..self.offset.min(expr.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, col)
    }

    /// Prometheus' text: `1:19: parse error: unexpected end of input`.
    pub(crate) fn render(&self, expr: &str) -> String {
        let (l, c) = self.line_col(expr);
        format!("{l}:{c}: parse error: {}", self.message)
    }
}

/// Locates the syntax error of `expr`, whose parse failed with `err`; `None` when `err` is not
/// a syntax error (a type error the grammar accepted, say).
pub(crate) fn locate(expr: &str, err: &str) -> Option<SyntaxError> {
    if let Err(lex_err) = promql_parser::parser::lexer(expr) {
        return Some(locate_lexer_error(expr, &lex_err));
    }
    if err != "invalid promql query" {
        return None;
    }
    let starts = token_starts(expr);
    if completable(expr) {
        let message = if open_brackets(expr).last() == Some(&'{') {
            "unexpected end of input inside braces"
        } else {
            "unexpected end of input"
        };
        return Some(SyntaxError { offset: expr.len(), message: message.into() });
    }
    // The first token whose prefix through it cannot be completed is the unexpected one; the
    // whole text cannot (checked above), so there is one.
    let through = |i: usize| &expr[..starts.get(i + 1).copied().unwrap_or(expr.len())];
    let (mut lo, mut hi) = (0usize, starts.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if completable(through(mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let offset = starts.get(lo).copied().unwrap_or(0);
    let end = starts.get(lo + 1).copied().unwrap_or(expr.len());
    Some(SyntaxError { offset, message: format!("unexpected {}", describe(expr[offset..end].trim_end())) })
}

/// The shortest prefix giving the same lexer error ends at the offending character; an error
/// only the end of input shows (an unclosed bracket or string) is at the end.
fn locate_lexer_error(expr: &str, err: &str) -> SyntaxError {
    let at_end = ["end", "unterminated", "unclosed", "not terminated"].iter().any(|w| err.contains(w));
    if at_end {
        return SyntaxError { offset: expr.len(), message: err.to_string() };
    }
    let bounds: Vec<usize> = expr.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let same = |end: usize| promql_parser::parser::lexer(&expr[..end]).err().as_deref() == Some(err);
    let (mut lo, mut hi) = (0usize, bounds.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if same(bounds[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let offset = bounds.get(lo).map_or(expr.len(), |&end| expr[..end].char_indices().last().map_or(0, |(i, _)| i));
    SyntaxError { offset, message: err.to_string() }
}

/// True when `prefix` + some ending + its closing brackets parses (or fails only on types).
fn completable(prefix: &str) -> bool {
    let closers: String = open_brackets(prefix)
        .iter()
        .rev()
        .map(|c| match c {
            '(' => ')',
            '[' => ']',
            _ => '}',
        })
        .collect();
    FILLERS.iter().any(|f| {
        let candidate = format!("{prefix}{f}{closers}");
        if promql_parser::parser::lexer(&candidate).is_err() {
            return false;
        }
        match std::panic::catch_unwind(|| promql_parser::parser::parse(&candidate)) {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e != "invalid promql query",
            Err(_) => false,
        }
    })
}

/// The brackets still open at the end of `text`, outermost first (strings and comments skipped).
fn open_brackets(text: &str) -> Vec<char> {
    let mut stack = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => skip_string(&mut chars, c),
            '#' => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
}

fn skip_string(chars: &mut std::str::Chars<'_>, quote: char) {
    while let Some(d) = chars.next() {
        if d == '\\' && quote != '`' {
            chars.next();
        } else if d == quote {
            break;
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.')
}

/// Byte offsets where tokens start: words (names, numbers, durations), strings, and each
/// other non-space character.
fn token_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        starts.push(i);
        if matches!(c, '"' | '\'' | '`') {
            let mut escaped = false;
            for (_, d) in it.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' && c != '`' {
                    escaped = true;
                } else if d == c {
                    break;
                }
            }
        } else if is_word(c) {
            while it.peek().is_some_and(|&(_, d)| is_word(d)) {
                it.next();
            }
        }
    }
    starts
}

const KEYWORDS: &[&str] =
    &["by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "atan2"];

/// Prometheus-like description of an unexpected token.
fn describe(tok: &str) -> String {
    let first = tok.chars().next().unwrap_or(' ');
    if KEYWORDS.contains(&tok.to_ascii_lowercase().as_str()) {
        format!("<{}>", tok.to_ascii_lowercase())
    } else if first.is_ascii_digit() {
        format!("number {tok:?}")
    } else if is_word(first) {
        format!("identifier {tok:?}")
    } else if matches!(first, '"' | '\'' | '`') {
        format!("string {tok}")
    } else {
        format!("{tok:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(expr: &str) -> String {
        let err = promql_parser::parser::parse(expr).unwrap_err();
        locate(expr, &err).map(|e| e.render(expr)).unwrap_or_else(|| format!("no position: {err}"))
    }

    #[test]
    fn positions_match_promtool() {
        // Each as promtool 2.42 reports it.
        assert_eq!(at("sum(rate(x[5m])) >"), "1:19: parse error: unexpected end of input");
        assert_eq!(at("foo bar"), "1:5: parse error: unexpected identifier \"bar\"");
        assert_eq!(
            at("sum by (job) (rate(x[5m]))\n  > on(job) foo{a=\"b\"\n"),
            "3:1: parse error: unexpected end of input inside braces"
        );
        assert_eq!(at("sum(rate(x[5m])) by"), "1:20: parse error: unexpected end of input");
    }

    #[test]
    fn tokens_in_the_middle() {
        assert_eq!(at("sum(x) by (a) bar"), "1:15: parse error: unexpected identifier \"bar\"");
        assert_eq!(at("sum by (a) by (b) (x)"), "1:12: parse error: unexpected <by>");
        assert_eq!(at("(1 + )"), "1:6: parse error: unexpected \")\"");
        assert_eq!(at("x{a=\"b\" c}"), "1:9: parse error: unexpected identifier \"c\"");
        assert!(
            at("foo # comment\n bar").starts_with("2:2: parse error: unexpected identifier"),
            "{}",
            at("foo # c\n bar")
        );
    }

    #[test]
    fn lexer_errors_point_at_the_character() {
        assert_eq!(at("foo{a=\"b\"} $ 1"), "1:12: parse error: unexpected character: '$'");
        assert!(at("foo{a=\"b").starts_with("1:9: parse error:"), "{}", at("foo{a=\"b"));
        assert_eq!(at("sum(rate(x[5m])"), "1:16: parse error: unclosed left parenthesis");
    }

    #[test]
    fn type_errors_have_no_syntax_position() {
        let err = promql_parser::parser::parse("rate(x)").unwrap_err();
        assert_eq!(locate("rate(x)", &err), None);
    }
}
