//! What one finding's plot shows, as data: stages describe plots ([`PlotSpec`]), the sink draws
//! them (`sink::plot`) after the run decides which findings get one.

pub use crate::detect::Overlay;

/// What one plot shows.
#[derive(Debug, Clone)]
pub struct PlotSpec {
    /// Title (the finding's title).
    pub title: String,
    /// Y-axis label (the series' measure).
    pub measure: String,
    /// First bucket, epoch ms.
    pub start_ms: i64,
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// Values, one per bucket (up to the end of the finding's window).
    pub values: Vec<f64>,
    /// The finding's window, bucket indices `[start, end)`.
    pub window: (usize, usize),
    /// Expected band `(lower, upper)` per bucket over the window.
    pub band: (f64, f64),
    /// What is drawn over the series (anomalous points, a change line, a trend line).
    pub overlay: Overlay,
}
