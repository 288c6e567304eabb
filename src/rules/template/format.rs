//! Template functions and Go's number formatting (`%v`, `%.4g`, `printf`), so rendered alert
//! text matches what Prometheus renders for the same rule.

use super::Val;
use crate::rules::template::ExpandError;

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits, exponent
/// form when the decimal exponent is < -4 or ≥ 6 (`1e+06`, `1.23456789e+08`).
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return exp_suffix(mant, exp);
    }
    format!("{v}")
}

/// Go's `%e` (`strconv.FormatFloat(v, 'e', prec, 64)`; shortest digits without `prec`):
/// `1e+00`, `5.5e-01`.
pub(crate) fn go_e(v: f64, prec: Option<usize>) -> String {
    if !v.is_finite() {
        return go_float(v);
    }
    let s = match prec {
        Some(p) => format!("{v:.p$e}"),
        None => format!("{v:e}"),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    exp_suffix(mant, exp.parse().unwrap_or(0))
}

/// `mant` with Go's exponent: sign and at least two digits.
fn exp_suffix(mant: &str, exp: i32) -> String {
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `%.{prec}g`.
pub(crate) fn go_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let prec = prec.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
    };
    if exp < -4 || exp >= prec as i32 {
        exp_suffix(&trim(mant), exp)
    } else {
        trim(&format!("{:.*}", (prec as i32 - 1 - exp).max(0) as usize, v))
    }
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        (v, prefix) = sub_unit(v);
    }
    format!("{}{prefix}", go_g(v, 4))
}

/// A value under 1 scaled up by thousands with its prefix (`0.0012` → `1.2`, `"m"`).
fn sub_unit(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, 4))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g(v, 4))
        };
    }
    let (v, prefix) = sub_unit(v);
    format!("{}{prefix}s", go_g(v, 4))
}

fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    let secs = v.floor() as i64;
    let nanos = ((v - v.floor()) * 1e9).round() as u32;
    match chrono::DateTime::from_timestamp(secs, nanos.min(999_999_999)) {
        Some(t) => {
            let frac =
                if nanos == 0 { String::new() } else { format!(".{nanos:09}").trim_end_matches('0').to_string() };
            format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
        }
        None => go_g(v, 4),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %%`, with width
/// and precision.
fn printf(fmt: &str, args: &[Val]) -> Result<String, ExpandError> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == ' ' || c == '0' {
                spec.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else { break };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let (width, prec) = match spec.trim_start_matches(['-', '+', ' ']).split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok().or(Some(0))),
            None => (spec.trim_start_matches(['-', '+', ' ', '0']).parse::<usize>().ok(), None),
        };
        let s = match verb {
            's' | 'v' => match (arg, prec) {
                (Val::Num(n), Some(p)) if verb == 'v' => go_g(*n, p),
                _ => arg.text(),
            },
            'q' => format!("{:?}", arg.text()),
            'd' => format!("{}", arg.num()? as i64),
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), arg.num()?),
            'e' => go_e(arg.num()?, Some(prec.unwrap_or(6))),
            'g' => match prec {
                Some(p) => go_g(arg.num()?, p),
                None => go_float(arg.num()?),
            },
            'x' => format!("{:x}", arg.num()? as i64),
            other => format!("%!{other}(unsupported)"),
        };
        let w = width.unwrap_or(0);
        if s.len() < w {
            if spec.starts_with('-') {
                out.push_str(&format!("{s:<w$}"));
            } else if spec.starts_with('0') && verb != 's' {
                out.push_str(&format!("{s:0>w$}"));
            } else {
                out.push_str(&format!("{s:>w$}"));
            }
        } else {
            out.push_str(&s);
        }
    }
    Ok(out)
}

fn cmp(args: &[Val]) -> Result<std::cmp::Ordering, ExpandError> {
    let [a, b] = args else { return Err("comparison needs two arguments".into()) };
    Ok(match (a, b) {
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        _ => a.num()?.partial_cmp(&b.num()?).unwrap_or(std::cmp::Ordering::Equal),
    })
}

/// Calls template function `f` (the piped value, if any, is the last argument).
pub(super) fn call(f: &str, args: Vec<Val>) -> Result<Val, ExpandError> {
    let one = |args: &[Val]| -> Result<Val, ExpandError> {
        args.last()
            .cloned()
            .ok_or_else(|| format!("wrong number of args for {f}: want 1 got 0"))
            .map_err(ExpandError::from)
    };
    Ok(match f {
        "humanize" => Val::Str(humanize(one(&args)?.num()?)),
        "humanize1024" => Val::Str(humanize1024(one(&args)?.num()?)),
        "humanizePercentage" => Val::Str(format!("{}%", go_g(one(&args)?.num()? * 100.0, 4))),
        "humanizeDuration" => Val::Str(humanize_duration(one(&args)?.num()?)),
        "humanizeTimestamp" => Val::Str(humanize_timestamp(one(&args)?.num()?)),
        "toUpper" => Val::Str(one(&args)?.text().to_uppercase()),
        "toLower" => Val::Str(one(&args)?.text().to_lowercase()),
        "title" => Val::Str(
            one(&args)?
                .text()
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "printf" => {
            let (fmt, rest) = args.split_first().ok_or("printf needs a format")?;
            Val::Str(printf(&fmt.text(), rest)?)
        }
        "reReplaceAll" => {
            let [pat, repl, text] = args.as_slice() else { return Err("reReplaceAll needs 3 arguments".into()) };
            let re = regex::Regex::new(&pat.text()).map_err(|e| e.to_string())?;
            Val::Str(re.replace_all(&text.text(), repl.text().as_str()).into_owned())
        }
        "index" => {
            let [Val::Map(m), k] = args.as_slice() else { return Err("index needs a map and a key".into()) };
            Val::Str(m.get(&k.text()).cloned().unwrap_or_default())
        }
        "len" => Val::Num(match one(&args)? {
            Val::Map(m) => m.len() as f64,
            v => v.text().chars().count() as f64,
        }),
        "eq" => Val::Bool(cmp(&args)? == std::cmp::Ordering::Equal),
        "ne" => Val::Bool(cmp(&args)? != std::cmp::Ordering::Equal),
        "lt" => Val::Bool(cmp(&args)? == std::cmp::Ordering::Less),
        "le" => Val::Bool(cmp(&args)? != std::cmp::Ordering::Greater),
        "gt" => Val::Bool(cmp(&args)? == std::cmp::Ordering::Greater),
        "ge" => Val::Bool(cmp(&args)? != std::cmp::Ordering::Less),
        "and" => args.iter().find(|v| !v.truthy()).or(args.last()).cloned().unwrap_or(Val::Bool(true)),
        "or" => args.iter().find(|v| v.truthy()).or(args.last()).cloned().unwrap_or(Val::Bool(false)),
        "not" => Val::Bool(!one(&args)?.truthy()),
        other => return Err(ExpandError::from(format!("function {other:?} not defined"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_go_does() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(123456.5), "123456.5");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_g(1234.5678, 4), "1235");
        assert_eq!(go_g(12345.678, 4), "1.235e+04");
        assert_eq!(go_g(0.5, 4), "0.5");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_timestamp(1.0), "1970-01-01 00:00:01 +0000 UTC");
        assert_eq!(printf("%.2f%% of %s", &[Val::Num(12.345), Val::Str("x".into())]).unwrap(), "12.35% of x");
    }
}
