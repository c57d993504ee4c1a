//! Detectors: one module per family, one [`Detector`] interface, one registry.
//!
//! A detector sees one [`Series`] at a time with the range of buckets under evaluation (the days the
//! run analyses; the buckets before them are the baseline) and returns [`Anomaly`]s: what was
//! observed, what was expected, how far off, and the evidence. Turning an anomaly into a finding
//! (ids, severity, titles, investigation SQL, MITRE) is the `findings` stage's job, so detectors stay
//! pure numerics that are easy to test against their reference.
//!
//! Adding a detector = one new module + one variant in [`DetectorConfig`] (the only `match`).

pub mod changepoint;
pub mod kats;
pub mod outlier;
pub mod trend;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::series::{Bucket, Series};

/// A detector's settings in the job file, tagged by `type`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// Seasonal-residual IQR outliers (Kats `OutlierDetector` semantics).
    SeasonalIqr(outlier::SeasonalIqrConfig),
    /// Level shifts by CUSUM (Kats `CUSUMDetector`; binary segmentation for several).
    Cusum(changepoint::CusumConfig),
    /// Mann-Kendall trends with Theil-Sen magnitude, top movers per direction.
    Trend(trend::TrendConfig),
}

impl DetectorConfig {
    /// Problems with the settings, each starting with the field name.
    pub fn validate(&self) -> Vec<String> {
        match self {
            DetectorConfig::SeasonalIqr(c) => c.validate(),
            DetectorConfig::Cusum(c) => c.validate(),
            DetectorConfig::Trend(c) => c.validate(),
        }
    }

    /// Build the runtime detector.
    pub fn build(&self, name: &str) -> Box<dyn Detector> {
        match self {
            DetectorConfig::SeasonalIqr(c) => Box::new(outlier::SeasonalIqr::new(name, c.clone())),
            DetectorConfig::Cusum(c) => Box::new(changepoint::Cusum::new(name, c.clone())),
            DetectorConfig::Trend(c) => Box::new(trend::MannKendallTrend::new(name, c.clone())),
        }
    }
}

/// What a detector needs to know about the series besides its values.
#[derive(Debug, Clone)]
pub struct SeriesContext {
    /// Bucket width.
    pub bucket: Bucket,
    /// Buckets under evaluation; anomalies are only reported inside it.
    pub eval: Range<usize>,
    /// Minimum buckets of history before the series is analysed.
    pub min_history: usize,
}

/// One anomalous stretch of a series.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// First bucket index.
    pub start: usize,
    /// One past the last bucket index.
    pub end: usize,
    /// Observed value (sum over the stretch).
    pub observed: f64,
    /// Expected value (sum over the stretch).
    pub expected: f64,
    /// Lower bound of the normal band (for one bucket).
    pub lower: f64,
    /// Upper bound of the normal band (for one bucket).
    pub upper: f64,
    /// Detector score, larger = more anomalous (for ordering within a detector).
    pub score: f64,
    /// 0..1 confidence.
    pub confidence: f64,
    /// Signed deviation in units the detector states in `details` (IQRs for the outlier detector).
    pub deviation: f64,
    /// `spike`, `dip`, `increase`, `decrease`, …
    pub kind: &'static str,
    /// Detector-specific evidence (parameters, band, strength).
    pub details: serde_json::Value,
}

/// Why a series was not analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Fewer buckets with data than `min_history`, or fewer than two seasons.
    TooShort,
    /// Every value is the same.
    Constant,
    /// The values contain NaN/inf that could not be filled.
    NonFinite,
}

/// The interface every detector implements.
pub trait Detector: Send + Sync {
    /// The name given in the job file.
    fn name(&self) -> &str;
    /// The family (`outlier`, `changepoint`, `trend`, …), for findings and labels.
    fn family(&self) -> &'static str;
    /// Look at one series.
    fn detect(&self, series: &Series, ctx: &SeriesContext) -> Result<Vec<Anomaly>, SkipReason>;

    /// Choose among everything the detector found in one series family, e.g. keep the top-N movers.
    /// `found` pairs a series index with an anomaly. The default keeps everything.
    fn select(&self, found: Vec<(usize, Anomaly)>) -> Vec<(usize, Anomaly)> {
        found
    }
}

/// Common input checks: length, constant, non-finite. Negative values are kept (a series of
/// deltas may be negative) but NaN/inf make the series unusable.
pub fn precheck(values: &[f64], ctx: &SeriesContext, seasons: usize) -> Result<(), SkipReason> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(SkipReason::NonFinite);
    }
    let with_data = values.iter().filter(|v| **v != 0.0).count();
    if values.len() < ctx.min_history.max(seasons * ctx.bucket.short_period()) || with_data < ctx.min_history.min(values.len()) / 2 {
        return Err(SkipReason::TooShort);
    }
    let first = values[0];
    if values.iter().all(|v| *v == first) {
        return Err(SkipReason::Constant);
    }
    Ok(())
}
