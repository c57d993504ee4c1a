//! One picture per finding (PNG and SVG), the plots the AWS sample notebooks drew: the series,
//! the expected band over the judged window, the anomalous buckets marked, a change point as a
//! vertical line and a trend's Theil-Sen line.
//!
//! Drawn with `plotters`; text uses DejaVu Sans compiled into the binary (`assets/fonts`), so a
//! container without system fonts draws the same picture.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use crate::findings::plot::{Overlay, PlotSpec};

/// Errors of drawing.
#[derive(Debug, thiserror::Error)]
#[error("plot: {0}")]
pub struct PlotError(String);

const W: u32 = 900;
const H: u32 = 360;

fn font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // Registration only fails on a font the parser rejects; the compiled-in one parses.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Draw `p` as (PNG bytes, SVG text).
pub fn render(p: &PlotSpec) -> Result<(Vec<u8>, String), PlotError> {
    font();
    let mut svg = String::new();
    draw(SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area(), p)?;
    let mut rgb = vec![0u8; (W * H * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area(), p)?;
    let mut png = Vec::new();
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, W, H, image::ColorType::Rgb8)
        .map_err(|e| PlotError(e.to_string()))?;
    Ok((png, svg))
}

fn label(ms: i64, bucket_ms: i64) -> String {
    let fmt = if bucket_ms >= 86_400_000 { "%m-%d" } else { "%m-%d %Hh" };
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format(fmt).to_string())
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, p: &PlotSpec) -> Result<(), PlotError> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| PlotError(x.to_string());
    root.fill(&WHITE).map_err(e)?;
    let n = p.values.len().max(1);
    let finite = p.values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite
        .chain([p.band.0, p.band.1].into_iter().filter(|v| v.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-9);
    let (ymin, ymax) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, ymin..ymax)
        .map_err(e)?;
    let (start_ms, bucket_ms) = (p.start_ms, p.bucket_ms);
    let xfmt = move |x: &f64| label(start_ms + (*x as i64) * bucket_ms, bucket_ms);
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&xfmt)
        .y_desc(p.measure.as_str())
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let (ws, we) = (p.window.0.min(n), p.window.1.min(n).max(p.window.0.min(n) + 1));
    if p.band.0.is_finite() && p.band.1.is_finite() {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(ws as f64, p.band.0), (we as f64, p.band.1)],
                RGBColor(46, 139, 87).mix(0.25).filled(),
            )))
            .map_err(e)?
            .label("expected band")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], RGBColor(46, 139, 87).mix(0.4).filled()));
    }
    chart
        .draw_series(LineSeries::new(
            p.values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i as f64 + 0.5, *v)),
            RGBColor(31, 119, 180).stroke_width(2),
        ))
        .map_err(e)?
        .label(p.measure.as_str())
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RGBColor(31, 119, 180)));
    match p.overlay {
        Overlay::ChangeAt => {
            let x = ws as f64;
            chart
                .draw_series(LineSeries::new(vec![(x, ymin), (x, ymax)], RED.stroke_width(2)))
                .map_err(e)?
                .label("change point")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED));
        }
        Overlay::Slope(k) => {
            if k.is_finite() {
                let b = median(p.values.iter().enumerate().map(|(i, v)| v - k * i as f64).collect());
                chart
                    .draw_series(LineSeries::new(
                        [0.0, (n - 1) as f64].map(|x| (x + 0.5, b + k * x)),
                        RED.stroke_width(2),
                    ))
                    .map_err(e)?
                    .label("Theil-Sen trend")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED));
            }
        }
        Overlay::Points => {
            chart
                .draw_series(
                    (ws..we)
                        .filter(|i| p.values.get(*i).is_some_and(|v| v.is_finite()))
                        .map(|i| Circle::new((i as f64 + 0.5, p.values[i]), 5, RED.filled())),
                )
                .map_err(e)?
                .label("anomaly")
                .legend(|(x, y)| Circle::new((x + 6, y), 4, RED.filled()));
        }
        Overlay::None => {}
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(overlay: Overlay, values: Vec<f64>) -> PlotSpec {
        PlotSpec {
            title: "API calls by alice: spike".into(),
            measure: "API calls".into(),
            overlay,
            start_ms: 1_740_787_200_000,
            bucket_ms: 86_400_000,
            window: (values.len() - 1, values.len()),
            values,
            band: (8.0, 12.0),
        }
    }

    #[test]
    fn every_family_draws_a_png_and_an_svg() {
        let mut v: Vec<f64> = (0..30).map(|i| 10.0 + (i % 7) as f64).collect();
        v.push(80.0);
        for fam in [Overlay::Points, Overlay::ChangeAt, Overlay::Slope(0.5), Overlay::None] {
            let (png, svg) = render(&input(fam, v.clone())).unwrap();
            assert_eq!(&png[1..4], b"PNG", "{fam:?}");
            let img = image::load_from_memory(&png).unwrap();
            assert_eq!((img.width(), img.height()), (W, H));
            assert!(svg.starts_with("<svg") && svg.contains("API calls by alice"), "{fam:?}");
        }
    }

    #[test]
    fn degenerate_values_still_draw() {
        for v in [vec![f64::NAN; 5], vec![0.0], vec![3.0, 3.0, 3.0], vec![-1e300, 1e300]] {
            render(&input(Overlay::Points, v)).unwrap();
        }
    }
}
