//! A *matcher* selects alerts by one label, as in Alertmanager: `severity="critical"`,
//! `team=~"api|web"`, `env!="dev"`, `job!~"batch.*"`. Values may be double-quoted (with
//! `\"` and `\\` escapes) or bare; regular expressions are anchored at both ends. A label
//! that is absent matches as the empty string.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

crate::error::message_error! {
    /// A label matcher, silence or inhibition rule that does not parse.
    pub(crate) MatcherError
}

/// How a matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// One label matcher.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    /// Label name.
    pub(crate) name: String,
    /// Comparison.
    pub(crate) op: Op,
    /// Value or pattern.
    pub(crate) value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl Matcher {
    /// Parses `name<op>value`.
    pub(crate) fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let t = text.trim();
        let bad = |why: &str| format!("matcher {text:?}: {why} (expected name=\"value\", name!=…, name=~…, name!~…)");
        let pos = t.find(['=', '!']).ok_or_else(|| bad("no operator"))?;
        let name = t[..pos].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(MatcherError::from(bad("invalid label name")));
        }
        let rest = &t[pos..];
        let (op, raw) = if let Some(r) = rest.strip_prefix("=~") {
            (Op::Re, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (Op::NotRe, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (Op::Ne, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (Op::Eq, r)
        } else {
            return Err(MatcherError::from(bad("invalid operator")));
        };
        let raw = raw.trim();
        let value = if let Some(inner) = raw.strip_prefix('"') {
            let inner = inner.strip_suffix('"').ok_or_else(|| bad("unterminated quote"))?;
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(c) => out.push(c),
                        None => return Err(MatcherError::from(bad("dangling backslash"))),
                    }
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            raw.to_string()
        };
        let re = match op {
            Op::Re | Op::NotRe => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| bad(&format!("invalid regex: {e}")))?)
            }
            _ => None,
        };
        Ok(Matcher { name: name.to_string(), op, value, re })
    }

    /// Whether `labels` satisfy this matcher.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
            Op::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            Op::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// Parses a list of matchers; errors name the offending one.
pub(crate) fn parse_all(list: &[String]) -> Result<Vec<Matcher>, MatcherError> {
    list.iter().map(|m| Matcher::parse(m)).collect()
}

/// Whether every matcher matches.
pub(crate) fn all_match(ms: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let ls = l(&[("severity", "critical"), ("team", "api")]);
        assert!(Matcher::parse(r#"severity="critical""#).unwrap().matches(&ls));
        assert!(Matcher::parse("severity=critical").unwrap().matches(&ls));
        assert!(Matcher::parse(r#"team=~"api|web""#).unwrap().matches(&ls));
        assert!(!Matcher::parse(r#"team=~"ap""#).unwrap().matches(&ls), "regex is anchored");
        assert!(Matcher::parse(r#"env!="prod""#).unwrap().matches(&ls));
        assert!(Matcher::parse(r#"env="""#).unwrap().matches(&ls), "absent label is empty");
        assert!(!Matcher::parse(r#"team!~"a.*""#).unwrap().matches(&ls));
        assert_eq!(Matcher::parse(r#"a="x\"y""#).unwrap().value, "x\"y");
    }

    #[test]
    fn errors_name_the_matcher() {
        for bad in ["severity", r#"sev-x="a""#, r#"a="x"#, r#"a=~"(""#, "=x"] {
            let e = Matcher::parse(bad).unwrap_err();
            assert!(e.0.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
