//! The probe's picture: one SVG with the cumulative distribution of lateness for every mode, on a log scale, so
//! the floors, the baselines and taskwheel's two modes can be compared at every percentile at a glance.

use std::path::Path;

use plotters::prelude::*;

/// Fractions at which each curve is sampled: every 0.1 % up to 99 %, then finer into the tail.
fn fractions() -> impl Iterator<Item = f64> {
    let body = (0..=990).map(|k| k as f64 / 1_000.0);
    let tail = (1..=100).map(|k| 0.99 + k as f64 / 10_000.0);
    body.chain(tail)
}

/// One distinct colour per curve, in the probe's order (taskwheel relaxed ×2, standard ×2, precise ×2, the heap
/// with and without slack, tokio, the three floors); cycled if there are more.
const COLORS: [RGBColor; 12] = [
    RGBColor(240, 150, 150),
    RGBColor(200, 110, 110),
    RGBColor(220, 30, 30),
    RGBColor(140, 0, 0),
    RGBColor(30, 90, 230),
    RGBColor(0, 20, 120),
    RGBColor(255, 140, 0),
    RGBColor(190, 120, 0),
    RGBColor(150, 0, 180),
    RGBColor(0, 160, 0),
    RGBColor(0, 190, 190),
    RGBColor(120, 120, 120),
];

/// Lateness below this (in µs) is drawn at it: a log axis has no zero.
const FLOOR_US: f64 = 0.05;

/// Draws the lateness CDF of each `(mode, sorted lateness in ns)` into an SVG at `path`.
pub(crate) fn cdf_svg(path: &Path, curves: &[(&str, &[i64])]) -> Result<(), Box<dyn std::error::Error>> {
    let max_us = curves.iter().filter_map(|(_, v)| v.last()).map(|&ns| ns as f64 / 1_000.0).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("taskwheel precision probe: lateness CDF (start − instant asked for)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        // Room right of the slowest curve's maximum, where the legend goes (every curve ends at its maximum).
        .build_cartesian_2d((FLOOR_US..max_us * 40.0).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("lateness, µs (log scale; ≤ 0.05 µs drawn at 0.05)")
        .y_desc("fraction of timers started")
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .draw()?;
    for (index, (mode, sorted)) in curves.iter().enumerate() {
        if sorted.is_empty() {
            continue;
        }
        let color = COLORS[index % COLORS.len()];
        let points = fractions().map(|q| {
            let at = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            ((sorted[at] as f64 / 1_000.0).max(FLOOR_US), q)
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(*mode)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
