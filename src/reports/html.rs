//! *Digest HTML and chart PNGs*: the digest's Markdown rendered to one self-contained HTML page
//! (written beside the Markdown, served to the console, sent as the email body), with the chart
//! links turned into images; and the SVG charts rasterized to PNG (resvg) for mail clients,
//! which do not show SVG. Raw HTML in the Markdown — a label value such as `<img onerror=…>` —
//! is escaped, never passed through.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d232a;max-width:900px;margin:16px auto;padding:0 12px}\
table{border-collapse:collapse;margin:8px 0}th,td{border-bottom:1px solid #d8dee4;padding:4px 8px;text-align:left}\
th{background:#f7f9fb}img{max-width:100%;height:auto;display:block;margin:6px 0}code{background:#f2f5f8;padding:0 3px}";

/// `md` as an HTML page titled `title`; a link to an `.svg` chart becomes an image whose
/// source is `chart_src(link)` (a relative path for the file, `cid:` for email).
pub(crate) fn page(title: &str, md: &str, chart_src: &dyn Fn(&str) -> String) -> String {
    let mut events = Vec::new();
    let mut in_chart = false;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Link { dest_url, title, .. }) if dest_url.ends_with(".svg") => {
                in_chart = true;
                let src = chart_src(&dest_url);
                events.push(Event::Start(Tag::Image {
                    link_type: LinkType::Inline,
                    dest_url: CowStr::from(src),
                    title,
                    id: CowStr::from(""),
                }));
            }
            Event::End(TagEnd::Link) if in_chart => {
                in_chart = false;
                events.push(Event::End(TagEnd::Image));
            }
            // Outside text stays text.
            Event::Html(h) | Event::InlineHtml(h) => events.push(Event::Text(h)),
            other => events.push(other),
        }
    }
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events.into_iter());
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `svg` rasterized to PNG at twice its size (sharp on high-density screens), with the system's
/// fonts for its text.
pub(crate) fn png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    static FONTS: std::sync::OnceLock<std::sync::Arc<usvg::fontdb::Database>> = std::sync::OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        std::sync::Arc::new(db)
    });
    let opt = usvg::Options { fontdb: fonts.clone(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| format!("chart SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let (w, h) = (size.width() * 2, size.height() * 2);
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or("chart has no size")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(2.0, 2.0), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("PNG: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn charts_become_images_and_outside_html_stays_text() {
        let md = "# D\n\n| a |\n|---|\n| <img src=x onerror=alert(1)> |\n\n- [dau](2026-12-06/dau.svg)\n";
        let html = super::page("D <x>", md, &|l| format!("cid:{}", l.replace('/', "-")));
        assert!(html.contains("<img src=\"cid:2026-12-06-dau.svg\" alt=\"dau\""), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("<title>D &lt;x&gt;</title>") && html.contains("<table>"));
    }

    #[test]
    fn an_svg_chart_rasterizes_to_png() {
        let svg = crate::reports::charts::line_svg("dau", &[(0, 1.0), (3_600_000, 3.0), (7_200_000, 2.0)]).unwrap();
        let png = super::png(&svg).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 1000);
    }
}
