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

/// A finding's series as `lakesight explain` prints it: the buckets up to the end of the finding's
/// window (at most [`SeriesSnapshot::MAX_BUCKETS`] of them), kept beside the findings in
/// `series/dt=…/series.json` for every finding that has a series — plotted or not — so any
/// finding id can be explained without rerunning the job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesSnapshot {
    /// The series' measure (the plot's y-axis label).
    pub measure: String,
    /// First kept bucket, epoch ms.
    pub start_ms: i64,
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// One value per bucket (a missing bucket, NaN, is `null` in the JSON).
    #[serde(deserialize_with = "nan_for_null")]
    pub values: Vec<f64>,
    /// The finding's window, bucket indices `[start, end)` into `values`.
    pub window: (usize, usize),
    /// The expected band `(lower, upper)` over the window (`null` when not finite).
    #[serde(deserialize_with = "band_nan_for_null")]
    pub band: (f64, f64),
}

/// serde_json writes a non-finite f64 as `null`; read it back as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = serde::Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

fn band_nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
    let (a, b): (Option<f64>, Option<f64>) = serde::Deserialize::deserialize(d)?;
    Ok((a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)))
}

impl SeriesSnapshot {
    /// Two weeks of hourly buckets: more than a terminal line shows, enough to see the baseline.
    pub const MAX_BUCKETS: usize = 336;

    /// The last [`Self::MAX_BUCKETS`] buckets of a plot's series (the window kept whole).
    pub fn of(p: &PlotSpec) -> SeriesSnapshot {
        let end = p.values.len();
        let from = end.saturating_sub(Self::MAX_BUCKETS).min(p.window.0);
        SeriesSnapshot {
            measure: p.measure.clone(),
            start_ms: p.start_ms + from as i64 * p.bucket_ms,
            bucket_ms: p.bucket_ms,
            values: p.values[from..end].to_vec(),
            window: (p.window.0 - from, p.window.1.min(end) - from),
            band: p.band,
        }
    }
}
