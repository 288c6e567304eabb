//! *Charts*: one SVG line chart per key metric (plotters' SVG backend), linked from the
//! digest's Markdown and listed in its JSON.

use plotters::prelude::*;

crate::error::message_error! {
    /// Why a chart could not be drawn.
    pub(crate) ChartError
}

/// Renders `points` (x = ms, y) as an SVG line chart titled `title`.
pub(crate) fn line_svg(title: &str, points: &[(i64, f64)]) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let pts: Vec<(f64, f64)> =
            points.iter().filter(|p| p.1.is_finite()).map(|(x, y)| (*x as f64 / 86_400_000.0, *y)).collect();
        let (x0, x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let (x0, x1) = if pts.is_empty() {
            (0.0, 1.0)
        } else if x1 > x0 {
            (x0, x1)
        } else {
            (x0 - 0.5, x0 + 0.5)
        };
        let (y0, y1) = if pts.is_empty() {
            (0.0, 1.0)
        } else if y1 > y0 {
            (y0, y1)
        } else {
            (y0 - 1.0, y0 + 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|d| {
                chrono::DateTime::from_timestamp((d * 86_400.0) as i64, 0)
                    .map(|t| t.format("%m-%d").to_string())
                    .unwrap_or_default()
            })
            .draw()
            .map_err(|e| e.to_string())?;
        chart.draw_series(LineSeries::new(pts, &BLUE)).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_svg_comes_out_even_for_no_points() {
        let svg = super::line_svg("dau", &[(0, 1.0), (86_400_000, 3.0)]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("dau"));
        assert!(super::line_svg("empty", &[]).unwrap().contains("<svg"));
    }
}
