//! Parser tests: a table of edge cases (each the kind `prometheus-parse` gets wrong), malformed
//! input with line and column, and the real expositions in `../shared/conformance/exposition/`.

use super::*;
use std::borrow::Cow;

fn samples(text: &str, format: Format) -> Vec<Sample<'_>> {
    Parser::new(text, format)
        .map(|e| e.unwrap_or_else(|err| panic!("{err} in {text:?}")))
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn one(text: &str) -> (String, Vec<(String, String)>, f64, Option<i64>) {
    let s = samples(text, Format::Text);
    assert_eq!(s.len(), 1, "{text:?}");
    let labels = s[0].labels().map(|(k, v)| (k.to_string(), v.into_owned())).collect();
    (s[0].name.to_string(), labels, s[0].value, s[0].timestamp_ms)
}

fn err(text: &str, format: Format) -> ParseError {
    Parser::new(text, format).find_map(Result::err).unwrap_or_else(|| panic!("no error for {text:?}"))
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn edge_cases_of_names_labels_and_values() {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], f64);
    let cases: &[Case<'_>] = &[
        ("job:http_errors:rate5m 3", "job:http_errors:rate5m", &[], 3.0),
        (r#"m{a="x,y"} 1"#, "m", &[("a", "x,y")], 1.0),
        (r#"m{a="k=v"} 1"#, "m", &[("a", "k=v")], 1.0),
        (r#"m{a="{}",b="}{"} 1"#, "m", &[("a", "{}"), ("b", "}{")], 1.0),
        (r#"m{a="say \"hi\""} 1"#, "m", &[("a", "say \"hi\"")], 1.0),
        (r#"m{a="C:\\path"} 1"#, "m", &[("a", "C:\\path")], 1.0),
        (r#"m{a="line1\nline2"} 1"#, "m", &[("a", "line1\nline2")], 1.0),
        (r#"m{a="x", b="y"} 1"#, "m", &[("a", "x"), ("b", "y")], 1.0),
        (r#"m{a="x",b="y",} 1"#, "m", &[("a", "x"), ("b", "y")], 1.0),
        (r#"m { a = "x" , } 1"#, "m", &[("a", "x")], 1.0),
        ("m{} 2", "m", &[], 2.0),
        ("m 1.5e+06", "m", &[], 1.5e6),
        ("m -0.25", "m", &[], -0.25),
        ("m +Inf", "m", &[], f64::INFINITY),
        ("m -Inf", "m", &[], f64::NEG_INFINITY),
        ("m\t7", "m", &[], 7.0),
        (r#"m{a="ünïcødé ✓"} 1"#, "m", &[("a", "ünïcødé ✓")], 1.0),
        (r#"{"my.dotted.metric", a="x"} 4"#, "my.dotted.metric", &[("a", "x")], 4.0),
        (r#"m{"my.label"="v"} 5"#, "m", &[("my.label", "v")], 5.0),
        (r#"m{a=""} 1"#, "m", &[("a", "")], 1.0),
    ];
    for (text, name, labels, value) in cases {
        let (n, l, v, _) = one(text);
        assert_eq!(&n, name, "{text}");
        assert_eq!(l, pairs(labels), "{text}");
        assert_eq!(v, *value, "{text}");
    }
    let (_, _, v, _) = one("m NaN");
    assert!(v.is_nan());
}

#[test]
fn timestamps_in_both_formats() {
    assert_eq!(one("m 1 1712345678901").3, Some(1_712_345_678_901));
    assert_eq!(one("m 1 -5").3, Some(-5));
    let om = samples("m 1 1712345678.901\n# EOF\n", Format::OpenMetrics);
    assert_eq!(om[0].timestamp_ms, Some(1_712_345_678_901));
}

#[test]
fn series_text_is_the_raw_key_and_escapes_borrow_when_absent() {
    let s = samples("a{x=\"1\"} 1\nb 2\n", Format::Text);
    assert_eq!(s[0].series, "a{x=\"1\"}");
    assert_eq!(s[1].series, "b");
    let l: Vec<_> = s[0].labels().collect();
    assert!(matches!(l[0].1, Cow::Borrowed(_)));
}

#[test]
fn metadata_lines() {
    let text = "# HELP m Some \\n help\n# TYPE m counter\n# a plain comment\nm_total 1\n";
    let e: Vec<_> = Parser::new(text, Format::Text).map(Result::unwrap).collect();
    assert_eq!(e[0], Entry::Help { name: "m", text: "Some \\n help" });
    assert_eq!(e[1], Entry::Type { name: "m", kind: MetricType::Counter });
    assert!(matches!(e[2], Entry::Sample(_)));
    let om = "# TYPE b bytes gauge\n";
    assert!(Parser::new(om, Format::Text).any(|e| e.is_err()));
    let om = "# TYPE d gaugehistogram\n# UNIT d seconds\nd_bucket{le=\"+Inf\"} 1\nd_gcount 1\nd_gsum 2\n# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE u unknown\nu 1\n# EOF\n";
    let e: Vec<_> = Parser::new(om, Format::OpenMetrics).map(Result::unwrap).collect();
    assert_eq!(e[1], Entry::Unit { name: "d", unit: "seconds" });
    assert_eq!(e.iter().filter(|e| matches!(e, Entry::Sample(_))).count(), 6);
}

#[test]
fn openmetrics_exemplars_created_and_eof() {
    let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 3 # {trace_id=\"abc\"} 0.5 1.7e9\nh_bucket{le=\"+Inf\"} 4\nh_count 4\nh_sum 2\nh_created 1.7e9\n# TYPE g gauge\ng_created 5\n# EOF\n";
    let s = samples(text, Format::OpenMetrics);
    let names: Vec<_> = s.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        ["h_bucket", "h_bucket", "h_count", "h_sum", "g_created"],
        "h_created dropped, a gauge named *_created kept"
    );
    assert_eq!(s[0].value, 3.0);
    let e = err("m 1\n", Format::OpenMetrics);
    assert!(e.message.contains("missing # EOF"), "{e}");
    let e = err("m 1\n# EOF\nm 2\n", Format::OpenMetrics);
    assert_eq!((e.line, e.message.as_str()), (3, "unexpected content after # EOF"));
    let e = err("m 1 # {a=\"b\"} 1\n", Format::Text);
    assert!(e.message.contains("exemplars need OpenMetrics"), "{e}");
}

#[test]
fn malformed_lines_name_line_and_column() {
    let table: &[(&str, usize, usize, &str)] = &[
        ("ok 1\nm{a=\"x\" 1\n", 2, 9, "expected ',' or '}'"),
        ("m{a=x} 1", 1, 5, "expected '\"'"),
        ("m{a=\"x} 1", 1, 5, "unterminated label value"),
        ("m{1a=\"x\"} 1", 1, 3, "expected a label name"),
        ("m 1 2 3", 1, 7, "unexpected"),
        ("m abc", 1, 3, "invalid value \"abc\""),
        ("m", 1, 2, "expected a space"),
        ("m{a\"x\"} 1", 1, 4, "expected '='"),
        ("9m 1", 1, 1, "expected a metric name"),
        ("m 1 12.5", 1, 5, "invalid timestamp"),
        ("<html><body>oops</body></html>", 1, 1, "expected a metric name"),
        ("m 1_000", 1, 3, "invalid value"),
    ];
    for (text, line, col, msg) in table {
        let e = err(text, Format::Text);
        assert_eq!((e.line, e.column), (*line, *col), "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: {e}");
    }
    // Iteration stops after the first error.
    let mut p = Parser::new("x{ 1\ny 2\n", Format::Text);
    assert!(p.next().unwrap().is_err());
    assert!(p.next().is_none());
}

#[test]
fn content_types() {
    assert_eq!(Format::from_content_type(Some("application/openmetrics-text; version=1.0.0")), Format::OpenMetrics);
    assert_eq!(Format::from_content_type(Some("text/plain; version=0.0.4")), Format::Text);
    assert_eq!(Format::from_content_type(Some("text/html")), Format::Text);
    assert_eq!(Format::from_content_type(None), Format::Text);
}

#[test]
fn never_panics_on_truncations_of_real_input() {
    let text = "# TYPE h histogram\nh_bucket{le=\"1\",a=\"x\\\"y\"} 3 # {t=\"a\"} 0.5 1\nh_count 4 17\n# EOF\n";
    for cut in 0..=text.len() {
        if text.is_char_boundary(cut) {
            for f in [Format::Text, Format::OpenMetrics] {
                for e in Parser::new(&text[..cut], f) {
                    if let Ok(Entry::Sample(s)) = e {
                        let _ = s.labels().count();
                    }
                }
            }
        }
    }
}

fn conformance(file: &str) -> Option<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance/exposition/");
    match std::fs::read_to_string(format!("{path}{file}")) {
        Ok(t) => Some(t),
        Err(_) => {
            eprintln!("SKIPPED {file}: ../shared/conformance/exposition/ is not beside this clone");
            None
        }
    }
}

/// Every exposition of `../shared/conformance/exposition/` this test suite reads, with its format.
fn conformance_bodies() -> Vec<(String, Format)> {
    [
        ("alltypes.237mfs.prom.txt", Format::Text),
        ("metrics-test.prom", Format::Text),
        ("alltypes.5mfs.om.txt", Format::OpenMetrics),
        ("1histogram.om.txt", Format::OpenMetrics),
    ]
    .into_iter()
    .filter_map(|(file, format)| conformance(file).map(|text| (text, format)))
    .collect()
}

fn value_of(s: &[Sample<'_>], series: &str) -> f64 {
    s.iter().find(|s| s.series == series).unwrap_or_else(|| panic!("{series} present")).value
}

#[test]
fn conformance_text_files() {
    let Some(text) = conformance("alltypes.237mfs.prom.txt") else { return };
    let s = samples(&text, Format::Text);
    let expected = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
    assert_eq!(s.len(), expected);
    assert_eq!(s.len(), 1857);
    assert_eq!(value_of(&s, "go_gc_duration_seconds{quantile=\"0.25\"}"), 0.00010188);
    assert_eq!(value_of(&s, "go_gc_cycles_automatic_gc_cycles_total"), 190932.0);
    let Some(text) = conformance("metrics-test.prom") else { return };
    let s = samples(&text, Format::Text);
    assert_eq!(s.len(), 27);
    assert_eq!(value_of(&s, "prometheus_tsdb_compaction_chunk_size_bytes_bucket{le=\"364.5\"}"), 10493.0);
    assert_eq!(value_of(&s, "prometheus_tsdb_compaction_chunk_size_bytes_sum"), 3.886707e6);
    assert_eq!(s.iter().find(|s| s.name == "go_info").unwrap().labels().next().unwrap().1, "go1.17");
}

#[test]
fn conformance_openmetrics_files() {
    let Some(text) = conformance("alltypes.5mfs.om.txt") else { return };
    let s = samples(&text, Format::OpenMetrics);
    // 53 sample lines, of which 9 are `_created` lines of counters/histograms/summaries.
    assert_eq!(s.len(), 53 - 9);
    assert_eq!(value_of(&s, "rpc_durations_seconds_count{service=\"normal\"}"), 15.0);
    assert_eq!(value_of(&s, "rpc_durations_histogram_seconds_bucket{le=\"-0.0002899999999999998\"}"), 3.0);
    let Some(text) = conformance("1histogram.om.txt") else { return };
    let s = samples(&text, Format::OpenMetrics);
    assert_eq!(s.len(), 42);
    let first: Vec<_> = s[0].labels().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(first, ["address=0.0.0.0", "generation=20", "port=5001", "le=0.005"]);
}

/// Everything a parse yields, as text: entries in order, then the error if there is one.
fn transcript(entries: impl Iterator<Item = Result<String, String>>) -> Vec<String> {
    entries.map(|r| r.unwrap_or_else(|e| format!("ERROR {e}"))).collect()
}

fn whole(text: &str, format: Format) -> Vec<String> {
    transcript(Parser::new(text, format).map(|r| r.map(|e| format!("{e:?}")).map_err(|e| e.to_string())))
}

/// The same, fed to a [`StreamParser`] in pieces of `piece` bytes (cutting lines and UTF-8
/// characters anywhere).
fn streamed(bytes: &[u8], format: Format, piece: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = StreamParser::new(format);
    let mut f = |e: Entry<'_>| -> Result<(), StreamError> {
        out.push(format!("{e:?}"));
        Ok(())
    };
    let fed = bytes.chunks(piece).try_for_each(|c| p.feed(c, &mut f)).and_then(|()| p.finish(&mut f));
    if let Err(e) = fed {
        out.push(match e {
            StreamError::Parse(e) => format!("ERROR {e}"),
            StreamError::Utf8(at) => format!("UTF8 {at}"),
        });
    }
    out
}

#[test]
fn streamed_pieces_parse_as_the_whole_body() {
    let mut bodies: Vec<(String, Format)> = vec![
        ("# TYPE c counter\nc_total{a=\"x,y\"} 1 17\nc_created 5\n# EOF\n".into(), Format::OpenMetrics),
        ("# TYPE c counter\nc_total 1\n".into(), Format::OpenMetrics), // no # EOF: error at the end
        ("a 1\n# EOF\nb 2\n".into(), Format::OpenMetrics),
        ("a{x=\"é\\n\"} 1\r\nb 2\nbroken{ 3\nc 4\n".into(), Format::Text),
        ("last 1".into(), Format::Text), // no final newline
        ("\n\n# plain comment\nm 1\n\n".into(), Format::Text),
    ];
    bodies.extend(conformance_bodies());
    for (text, format) in &bodies {
        let want = whole(text, *format);
        for piece in [1, 2, 7, 64, 4096, 1 << 20] {
            assert_eq!(streamed(text.as_bytes(), *format, piece), want, "{piece}-byte pieces of {text:.60?}");
        }
    }
    // Invalid UTF-8 is reported at its offset in the body, whatever the pieces.
    let bytes = b"a 1\nb{x=\"\xff\"} 2\n";
    for piece in [1, 3, 100] {
        assert_eq!(streamed(bytes, Format::Text, piece).last().unwrap(), "UTF8 9");
    }
}

/// A trusting parse in which every unchecked sample is checked, as the scrape loop does for
/// series it has not seen: the transcript a plain parse gives; and where the fast reading's
/// series text is the checked one, its value and timestamp are the checked ones too.
fn trusted(text: &str, format: Format) -> Vec<String> {
    transcript(Parser::new(text, format).trusting(true).filter_map(|r| match r {
        Ok(Entry::Unchecked(u)) => match u.check() {
            Ok(Some(s)) => {
                if s.series == u.series {
                    assert_eq!(
                        (s.value.to_bits(), s.timestamp_ms),
                        (u.value.to_bits(), u.timestamp_ms),
                        "{}",
                        s.series
                    );
                }
                Some(Ok(format!("{:?}", Entry::Sample(s))))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        },
        r => Some(r.map(|e| format!("{e:?}")).map_err(|e| e.to_string())),
    }))
}

#[test]
fn trusting_parse_checks_to_the_plain_parse() {
    let mut bodies: Vec<(String, Format)> = vec![
        (r#"m{a="{}",b="}{"} 1"#.into(), Format::Text),
        ("m{a=\"x\" b=\"y\"} 1\n".into(), Format::Text), // missing comma: the check finds it
        ("m{a=\"x\"} 1 }\n".into(), Format::Text),
        ("m{a=\"x\"}1\n".into(), Format::Text),
        ("m {a=\"x\"} 1\nm 1\n".into(), Format::Text),
        ("m{a=\"x\"} 1 -5\nm 1 12.5\n".into(), Format::Text),
        ("9m 1\n".into(), Format::Text),
        ("fo-o 1\n".into(), Format::Text),
        ("# TYPE c counter\nc_total{a=\"}\"} 1 17\nc_created 5\n# EOF\n".into(), Format::OpenMetrics),
        ("h_bucket{le=\"1\"} 3 # {trace_id=\"abc\"} 0.5 1.7e9\n# EOF\n".into(), Format::OpenMetrics),
    ];
    for text in [
        "job:http_errors:rate5m 3",
        r#"m{a="say \"hi\""} 1"#,
        r#"m{a="line1\nline2"} 1"#,
        r#"m { a = "x" , } 1"#,
        r#"{"my.dotted.metric", a="x"} 4"#,
        "m\t7\nm NaN\nm -Inf\n",
    ] {
        bodies.push((text.into(), Format::Text));
    }
    bodies.extend(conformance_bodies());
    for (text, format) in &bodies {
        assert_eq!(trusted(text, *format), whole(text, *format), "{text:.80?}");
    }
    if let Some(text) = conformance("alltypes.237mfs.prom.txt") {
        let fast = Parser::new(&text, Format::Text).trusting(true).filter(|e| matches!(e, Ok(Entry::Unchecked(_))));
        assert_eq!(fast.count(), 1857, "every sample line of a real exposition reads fast");
    }
    // Braces inside label values (route templates) read fast: the series text ends at the
    // line's last `}`.
    let mut p = Parser::new("m{route=\"/u/{id}\",b=\"}\"} 1\n", Format::Text).trusting(true);
    assert!(matches!(p.next(), Some(Ok(Entry::Unchecked(u))) if u.series == "m{route=\"/u/{id}\",b=\"}\"}"));
    // A malformed line can read fast; its text is then none the scrape loop checked before,
    // and the check finds the error.
    let Some(Ok(Entry::Unchecked(u))) = Parser::new("m{a=\"} 1\n", Format::Text).trusting(true).next() else {
        panic!("read fast")
    };
    assert_eq!(u.series, "m{a=\"}");
    assert!(u.check().unwrap_err().message.contains("unterminated label value"));
}
