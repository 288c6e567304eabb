//! Functions that rewrite labels (`label_replace`, `label_join`) or order a vector (`sort`,
//! `sort_desc`, `sort_by_label`, `sort_by_label_desc`). They keep the metric name.

use super::QueryError;
use super::eval::{Ctx, R, check_unique};
use super::value::{LabelOps, Value};
use promql_parser::parser::Expr;
use std::cmp::Ordering;

fn string_arg(ctx: &Ctx, e: &Expr, t: i64) -> R<String> {
    match ctx.eval(e, t)? {
        Value::String(s) => Ok(s),
        other => Err(QueryError::bad(format!("expected string, got {}", other.type_name()))),
    }
}

pub(crate) fn call(ctx: &Ctx, name: &str, args: &[&Expr], t: i64) -> R<Value> {
    let mut v = ctx.eval_vector(args[0], t)?;
    if ctx.step > 0 {
        ctx.warn("sort is ineffective for range queries since results are always ordered by labels");
    }
    match name {
        "label_replace" => {
            let dst = string_arg(ctx, args[1], t)?;
            let repl = string_arg(ctx, args[2], t)?;
            let src = string_arg(ctx, args[3], t)?;
            let re_src = string_arg(ctx, args[4], t)?;
            let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
                QueryError::bad(format!("invalid regular expression in label_replace(): {re_src}: {e}"))
            })?;
            if dst.is_empty() {
                return Err(QueryError::bad(format!("invalid destination label name in label_replace(): {dst}")));
            }
            for s in &mut v {
                let value = s.labels.get(&src).unwrap_or("");
                if let Some(caps) = re.captures(value) {
                    let mut out = String::new();
                    caps.expand(&repl, &mut out);
                    s.labels = s.labels.with(&dst, &out);
                }
                s.t = t;
            }
        }
        "label_join" => {
            let dst = string_arg(ctx, args[1], t)?;
            let sep = string_arg(ctx, args[2], t)?;
            let srcs = args[3..].iter().map(|a| string_arg(ctx, a, t)).collect::<R<Vec<String>>>()?;
            if dst.is_empty() {
                return Err(QueryError::bad(format!("invalid destination label name in label_join(): {dst}")));
            }
            for s in &mut v {
                let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                let joined = joined.join(&sep);
                s.labels = s.labels.with(&dst, &joined);
                s.t = t;
            }
        }
        "sort" => v.sort_by(|a, b| nan_last(a.v, b.v).then_with(|| a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal))),
        "sort_desc" => {
            v.sort_by(|a, b| nan_last(a.v, b.v).then_with(|| b.v.partial_cmp(&a.v).unwrap_or(Ordering::Equal)))
        }
        _ => {
            let names = args[1..].iter().map(|a| string_arg(ctx, a, t)).collect::<R<Vec<String>>>()?;
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x != y {
                        let o = natural_cmp(x, y);
                        return if desc { o.reverse() } else { o };
                    }
                }
                let o = a.labels.cmp(&b.labels);
                if desc { o.reverse() } else { o }
            });
        }
    }
    Ok(Value::Vector(check_unique(v)?))
}

fn nan_last(a: f64, b: f64) -> Ordering {
    a.is_nan().cmp(&b.is_nan())
}

/// Natural order: runs of digits compare as numbers, the rest byte-wise.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (x, y) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b'0').count();
    &s[n.min(s.len().saturating_sub(1))..]
}
