//! Reads Prometheus' *promqltest* scripts: `load` blocks of series in the expanding notation
//! (`1+2x3 _ stale`), `clear`, and `eval instant|range` commands with their `expect` lines and
//! expected results.

use crate::promql::promqltest::ScriptError;
use crate::store::Labels;

/// One expected or loaded value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Point {
    /// No sample (`_`).
    Missing,
    /// A staleness marker (`stale`).
    Stale,
    /// A float.
    Value(f64),
}

/// A series line: labels and points; `native` when it holds native histograms (`{{…}}`).
#[derive(Clone, Debug)]
pub(crate) struct SeriesLine {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<Point>,
    pub(crate) native: bool,
}

/// An `expect` line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expect {
    Fail(Option<Match>),
    Warn(Option<Match>),
    Info(Option<Match>),
    NoWarn,
    NoInfo,
    Ordered,
    String(String),
    /// `expect range vector from A to B step S`: the timestamps of an instant query's matrix.
    RangeVector {
        start: i64,
        end: i64,
        step: i64,
    },
}

/// How an `expect` message is compared.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Match {
    Exact(String),
    Regex(String),
}

/// An `eval` command.
#[derive(Clone, Debug)]
pub(crate) struct Eval {
    pub(crate) line: usize,
    pub(crate) query: String,
    /// `None` for an instant query at `start`.
    pub(crate) range: Option<(i64, i64)>,
    pub(crate) start: i64,
    pub(crate) expects: Vec<Expect>,
    /// Expected scalar result, if the body is a bare number.
    pub(crate) scalar: Option<f64>,
    pub(crate) series: Vec<SeriesLine>,
}

/// A command of a script.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Load { interval: i64, series: Vec<SeriesLine>, nhcb: bool },
    Clear,
    Eval(Box<Eval>),
}

/// Parses a duration (`1m`, `1h30m`, `500ms`, `-5m`, or bare seconds) into ms.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ms = if let Ok(secs) = s.parse::<f64>() {
        (secs * 1000.0).round() as i64
    } else {
        i64::try_from(crate::config::unit_duration_ms(s).ok()?).ok()?
    };
    Some(if neg { -ms } else { ms })
}

fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b.starts_with("0x") => i64::from_str_radix(&b[2..], 16).ok()? as f64,
        _ => body.parse::<f64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Expands one token of the series notation.
fn expand(tok: &str, out: &mut Vec<Point>) -> Option<()> {
    let (base, times) = match tok.rfind('x') {
        Some(i) if i + 1 < tok.len() && tok[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&tok[..i], Some(tok[i + 1..].parse::<usize>().ok()?))
        }
        _ => (tok, None),
    };
    match (base, times) {
        ("_", None) => out.push(Point::Missing),
        ("_", Some(n)) => out.extend(std::iter::repeat_n(Point::Missing, n)),
        ("stale", None) => out.push(Point::Stale),
        ("stale", Some(n)) => out.extend(std::iter::repeat_n(Point::Stale, n)),
        (_, None) => out.push(Point::Value(parse_float(base)?)),
        (_, Some(n)) => {
            // `a+bxN`, `a-bxN` or `axN`: split at a sign that is not the value's own or an exponent's.
            let bytes = base.as_bytes();
            let split = (1..bytes.len())
                .rev()
                .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
            let (start, delta) = match split {
                Some(i) => (parse_float(&base[..i])?, parse_float(&base[i..])?),
                None => (parse_float(base)?, 0.0),
            };
            for k in 0..=n {
                out.push(Point::Value(start + delta * k as f64));
            }
        }
    }
    Some(())
}

/// Splits `metric{a="b"} rest` into the labels and the rest.
fn split_series(line: &str) -> Result<(Labels, &str), ScriptError> {
    let line = line.trim();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        let mut key = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 1);
                    break;
                }
                ',' | ' ' | '\t' => {}
                '"' | '\'' => {
                    let s = read_quoted(&mut chars, c)?;
                    // A quoted string alone is the metric name (UTF-8 syntax) unless `=` follows.
                    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                    if chars.peek().is_some_and(|(_, c)| *c == '=') {
                        key = s;
                    } else if key.is_empty() {
                        pairs.push(("__name__".into(), s));
                    } else {
                        pairs.push((std::mem::take(&mut key), s));
                    }
                }
                '=' => {}
                _ => {
                    key.push(c);
                    while let Some((_, c)) = chars.peek().copied() {
                        if c == '=' || c.is_whitespace() {
                            break;
                        }
                        key.push(c);
                        chars.next();
                    }
                }
            }
        }
        let end = end.ok_or_else(|| format!("unclosed label set in {line:?}"))?;
        rest = &body[end..];
    }
    Ok((Labels::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty())), rest))
}

fn read_quoted(chars: &mut std::iter::Peekable<std::str::CharIndices>, quote: char) -> Result<String, ScriptError> {
    let mut s = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' if quote != '`' => match chars.next().map(|x| x.1) {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some(o) => s.push(o),
                None => break,
            },
            c if c == quote => return Ok(s),
            c => s.push(c),
        }
    }
    Err("unterminated string".into())
}

/// Parses `labels points…`.
pub(crate) fn parse_series(line: &str) -> Result<SeriesLine, ScriptError> {
    let (labels, rest) = split_series(line)?;
    let mut points = Vec::new();
    let native = rest.contains("{{");
    if !native {
        for tok in rest.split_whitespace() {
            expand(tok, &mut points).ok_or_else(|| format!("bad value {tok:?}"))?;
        }
    }
    Ok(SeriesLine { labels, points, native })
}

fn parse_expect(rest: &str) -> Result<Expect, ScriptError> {
    let rest = rest.trim();
    let (kind, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let tail = tail.trim();
    let msg = || -> Option<Match> {
        if let Some(m) = tail.strip_prefix("msg:") {
            Some(Match::Exact(unquote(m.trim())))
        } else {
            tail.strip_prefix("regex:").map(|m| Match::Regex(unquote(m.trim())))
        }
    };
    Ok(match kind {
        "fail" => Expect::Fail(msg()),
        "warn" => Expect::Warn(msg()),
        "info" => Expect::Info(msg()),
        "no_warn" => Expect::NoWarn,
        "no_info" => Expect::NoInfo,
        "ordered" => Expect::Ordered,
        "string" => Expect::String(unquote(tail)),
        "range" => {
            let w: Vec<&str> = tail.split_whitespace().collect();
            match w.as_slice() {
                ["vector", "from", a, "to", b, "step", s] => Expect::RangeVector {
                    start: parse_duration(a).ok_or("bad start")?,
                    end: parse_duration(b).ok_or("bad end")?,
                    step: parse_duration(s).ok_or("bad step")?,
                },
                _ => return Err(ScriptError::from(format!("bad expect range: {tail}"))),
            }
        }
        other => return Err(ScriptError::from(format!("unknown expectation {other:?}"))),
    })
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'`') && b[b.len() - 1] == b[0] {
        let inner = &s[1..s.len() - 1];
        return if b[0] == b'"' { inner.replace("\\\"", "\"").replace("\\\\", "\\") } else { inner.to_string() };
    }
    s.to_string()
}

/// `s` without its first `n` whitespace-separated words.
fn skip_words(s: &str, n: usize) -> &str {
    let mut s = s.trim_start();
    for _ in 0..n {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        s = s[end..].trim_start();
    }
    s.trim_end()
}

/// Parses a whole script.
pub(crate) fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    let is_command = |l: &str| l.starts_with("load") || l.starts_with("clear") || l.starts_with("eval");
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lineno = i;
        // The body: following lines up to a blank line or the next command.
        let mut body = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && !is_command(lines[i]) {
            if !lines[i].trim().starts_with('#') {
                body.push(lines[i].trim());
            }
            i += 1;
        }
        let err = |e: ScriptError| ScriptError::from(format!("line {lineno}: {e}"));
        if trimmed == "clear" {
            cmds.push(Command::Clear);
        } else if let Some(rest) = trimmed.strip_prefix("load") {
            let nhcb = rest.starts_with("_with_nhcb");
            let interval = rest.trim_start_matches("_with_nhcb").trim();
            let interval =
                parse_duration(interval).ok_or_else(|| err(ScriptError::from(format!("bad interval {interval:?}"))))?;
            let series = body.iter().map(|l| parse_series(l)).collect::<Result<Vec<_>, _>>().map_err(err)?;
            cmds.push(Command::Load { interval, series, nhcb });
        } else if let Some(rest) = trimmed.strip_prefix("eval") {
            let (fail, rest) = match rest.strip_prefix("_fail") {
                Some(r) => (true, r),
                None => {
                    (false, rest.trim_start_matches("_ordered").trim_start_matches("_warn").trim_start_matches("_info"))
                }
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (range, start, query) = match words.as_slice() {
                ["instant", "at", t, ..] => {
                    let start = parse_duration(t).ok_or_else(|| err(ScriptError::from(format!("bad time {t:?}"))))?;
                    (None, start, skip_words(rest, 3).to_string())
                }
                ["range", "from", a, "to", b, "step", s, ..] => {
                    let start = parse_duration(a).ok_or_else(|| err(ScriptError::from(format!("bad start {a:?}"))))?;
                    let end = parse_duration(b).ok_or_else(|| err(ScriptError::from(format!("bad end {b:?}"))))?;
                    let step = parse_duration(s).ok_or_else(|| err(ScriptError::from(format!("bad step {s:?}"))))?;
                    (Some((end, step)), start, skip_words(rest, 7).to_string())
                }
                _ => return Err(err(ScriptError::from(format!("bad eval command {trimmed:?}")))),
            };
            let mut ev =
                Eval { line: lineno, query, range, start, expects: Vec::new(), scalar: None, series: Vec::new() };
            if fail {
                ev.expects.push(Expect::Fail(None));
            }
            for l in &body {
                if let Some(rest) = l.strip_prefix("expect ") {
                    ev.expects.push(parse_expect(rest).map_err(err)?);
                } else if let Some(v) = parse_float(l) {
                    ev.scalar = Some(v);
                } else {
                    ev.series.push(parse_series(l).map_err(err)?);
                }
            }
            cmds.push(Command::Eval(Box::new(ev)));
        } else {
            return Err(err(ScriptError::from(format!("unknown command {trimmed:?}"))));
        }
    }
    Ok(cmds)
}
