//! *Query limits* checked before a query is parsed: its size and its *depth* — how deep its
//! syntax tree can be, bounded by the deepest nesting of parentheses plus the number of binary
//! operators (a chain `1+1+…+1` of n terms is a tree n deep). The parser and the evaluator
//! recurse over the tree, so a query deeper than the limit is refused as `bad_data` in
//! microseconds instead of overflowing a thread's stack.

use super::QueryError;

/// Deepest syntax tree the engine accepts (`query.max_depth`'s default).
pub(crate) const DEFAULT_MAX_DEPTH: usize = 200;
/// Longest query text accepted, in bytes (`query.max_length`'s default).
pub(crate) const DEFAULT_MAX_LENGTH: usize = 64 * 1024;

/// The depth bound of `query`: deepest `(` nesting plus binary operators (and unary minus),
/// counted outside string literals, label matchers (`{…}`) and ranges (`[…]`).
pub(crate) fn depth(query: &str) -> usize {
    let b = query.as_bytes();
    let (mut parens, mut max_parens, mut ops) = (0usize, 0usize, 0usize);
    let (mut braces, mut brackets) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                // A string literal: skip to its end (backslash escapes, not in backquotes).
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => braces += 1,
            b'}' => braces = braces.saturating_sub(1),
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            _ if braces > 0 || brackets > 0 => {}
            b'(' => {
                parens += 1;
                max_parens = max_parens.max(parens);
            }
            b')' => parens = parens.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' => ops += 1,
            b'=' if b.get(i + 1) == Some(&b'=') => {
                ops += 1;
                i += 1;
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                ops += 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"].iter().any(|k| word.eq_ignore_ascii_case(k)) {
                    ops += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    max_parens + ops
}

/// Refuses a query longer than `max_length` bytes or deeper than `max_depth` (see [`depth`]).
pub(crate) fn check(query: &str, max_length: usize, max_depth: usize) -> Result<(), QueryError> {
    if query.len() > max_length {
        return Err(QueryError::bad(format!(
            "invalid parameter \"query\": the query is {} bytes long; the limit is {max_length} (query.max_length)",
            query.len()
        )));
    }
    let d = depth(query);
    if d > max_depth {
        return Err(QueryError::bad(format!(
            "invalid parameter \"query\": the query nests {d} levels of parentheses and operators; the limit is \
             {max_depth} (query.max_depth)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_and_operators_but_not_matchers_ranges_or_strings() {
        assert_eq!(depth("up"), 0);
        assert_eq!(depth("sum by (job) (rate(http_requests_total{code=~\"5..\", a!=\"x-y+z\"}[5m:1m]))"), 2);
        assert_eq!(depth("a + b * c"), 2);
        assert_eq!(depth("a and b or c unless d"), 3);
        assert_eq!(depth("label_replace(up, \"a\", \"((((\", \"b\", \"x\")"), 1);
        assert_eq!(depth(&format!("1{}", "+1".repeat(3000))), 3000);
        assert_eq!(depth(&format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000))), 100_000);
    }

    #[test]
    fn bombs_are_refused_as_bad_data_and_ordinary_queries_pass() {
        let chain = format!("1{}", "+1".repeat(3000));
        let e = check(&chain, DEFAULT_MAX_LENGTH, DEFAULT_MAX_DEPTH).unwrap_err();
        assert!(e.msg.contains("query.max_depth"), "{}", e.msg);
        let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = check(&parens, 1 << 20, DEFAULT_MAX_DEPTH).unwrap_err();
        assert!(e.msg.contains("100000 levels"), "{}", e.msg);
        let e = check(&parens, DEFAULT_MAX_LENGTH, DEFAULT_MAX_DEPTH).unwrap_err();
        assert!(e.msg.contains("query.max_length"), "{}", e.msg);
        let ok = "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m]))) > 1";
        assert!(check(ok, DEFAULT_MAX_LENGTH, DEFAULT_MAX_DEPTH).is_ok());
    }

    /// At the default depth the parser and the evaluator stay well inside a 2 MiB thread stack
    /// (tokio's), for chains, nested parentheses and nested calls alike.
    #[test]
    fn the_deepest_accepted_queries_evaluate_on_a_small_stack() {
        let n = DEFAULT_MAX_DEPTH;
        let queries = [
            format!("1{}", "+1".repeat(n)),
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}vector(1){}", "abs(".repeat(n), ")".repeat(n)),
            format!("{}vector(1){}", "-".repeat(n), ""),
        ];
        for q in queries {
            assert!(check(&q, DEFAULT_MAX_LENGTH, n + 1).is_ok());
            let r = std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    let store = std::sync::Arc::new(crate::store::Store::new(10, 3_600_000));
                    let engine = super::super::Engine::new(store, Default::default());
                    engine.instant(&q, 0).map(|_| ()).map_err(|e| e.msg)
                })
                .unwrap()
                .join();
            assert!(r.is_ok(), "evaluation overflowed a 1 MiB stack");
        }
    }
}
