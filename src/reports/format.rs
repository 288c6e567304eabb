//! *Display formats* for what a lead reads: rates as percentages with one decimal, counts as
//! integers with thousands separators, changes with ▲/▼, durations as `1h 4m`. `n/a` stands
//! alone (never `n/a%`). The JSON documents keep full precision; only the Markdown, HTML and
//! messages use these.

/// `0.5577` → `55.8%`; `None` → `n/a`.
pub(crate) fn pct(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => format!("{:.1}%", r * 100.0),
        _ => "n/a".into(),
    }
}

/// `1469.36` → `1,469`; `None` → `n/a`.
pub(crate) fn int(v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else { return "n/a".into() };
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The relative change from `prev` to `cur`: `▲ 12.2%`, `▼ 3.0%`, `no change`; `n/a` when
/// either is missing or `prev` is zero.
pub(crate) fn change(cur: Option<f64>, prev: Option<f64>) -> String {
    match (cur, prev) {
        (Some(c), Some(p)) if c.is_finite() && p.is_finite() && p.abs() > f64::EPSILON => {
            arrow((c - p) / p.abs() * 100.0)
        }
        _ => "n/a".into(),
    }
}

/// A change already in percent: `▲ 12.2%`, `▼ 3.0%`, `no change`.
pub(crate) fn arrow(pct: f64) -> String {
    if !pct.is_finite() {
        "n/a".into()
    } else if pct.abs() < 0.05 {
        "no change".into()
    } else if pct > 0.0 {
        format!("▲ {:.1}%", pct)
    } else {
        format!("▼ {:.1}%", -pct)
    }
}

/// Seconds as `45s`, `12m 5s`, `3h 4m`, `2d 3h`; `None` → `n/a`.
pub(crate) fn duration(secs: Option<i64>) -> String {
    let Some(s) = secs.filter(|s| *s >= 0) else { return "n/a".into() };
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One CSV line of `fields`: quoted where needed, and a cell a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) prefixed with `'` — for exports opened by people.
pub(crate) fn csv_line(fields: &[String]) -> String {
    // A cell a spreadsheet would run as a formula starts with a quote mark instead.
    let guarded = fields.iter().map(|f| if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f.clone() });
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(guarded);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_string()
}

/// The median of `v` (mean of the middle two for an even count); `None` when empty.
pub(crate) fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_as_a_lead_expects() {
        assert_eq!(pct(Some(0.5577)), "55.8%");
        assert_eq!(pct(None), "n/a");
        assert_eq!(int(Some(1469.3571)), "1,469");
        assert_eq!(int(Some(1_234_567.0)), "1,234,567");
        assert_eq!(int(Some(-1234.0)), "-1,234");
        assert_eq!(int(Some(12.0)), "12");
        assert_eq!(change(Some(112.2353), Some(100.0)), "▲ 12.2%");
        assert_eq!(change(Some(87.7647), Some(100.0)), "▼ 12.2%");
        assert_eq!(change(Some(1.0), Some(0.0)), "n/a");
        assert_eq!(change(None, Some(1.0)), "n/a");
        assert_eq!(arrow(0.01), "no change");
        assert_eq!(duration(Some(42)), "42s");
        assert_eq!(duration(Some(725)), "12m 5s");
        assert_eq!(duration(Some(11_040)), "3h 4m");
        assert_eq!(duration(Some(183_600)), "2d 3h");
        assert_eq!(duration(None), "n/a");
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
        assert_eq!(median(vec![]), None);
        for s in [pct(None), int(None), change(None, None), duration(None)] {
            assert!(!s.contains("n/a%"));
        }
    }
}
