//! Seasonal-residual IQR outliers, with Kats `OutlierDetector` semantics.
//!
//! The math is [`super::kats::kats_outliers_with`] (classical decomposition, seasonal strength,
//! residual, `iqr_mult` × IQR fences), run over the baseline and the evaluated buckets together;
//! only flags inside the evaluated range are reported. On top of Kats, and documented as lakesight's
//! own choices because they answer complaints in Kats' tracker:
//! - fences are strict by default (`strict = true`), so a flat series is never flagged everywhere;
//! - consecutive flagged buckets merge into one anomaly, so one burst is one finding;
//! - `directions` picks spikes, dips or both (security counts care about spikes by default);
//! - a flag must also clear `min_abs_deviation` (in the series' unit) and `min_rel_deviation`
//!   (relative to the expected value), so a jump from 0 to 2 API calls is not a finding.

use serde::{Deserialize, Serialize};

use super::kats::{kats_outliers_with, Decomp};
use super::{precheck, Anomaly, Detector, SeriesContext, SkipReason};
use crate::series::Series;

/// Decomposition model (Kats `decomp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecompModel {
    /// y = T + S + R.
    Additive,
    /// y = T · S · R (needs positive values; falls back to additive otherwise).
    Multiplicative,
}

/// Which side of the band to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Values above the band.
    Spike,
    /// Values below the band.
    Dip,
}

/// Settings of `type = "seasonal_iqr"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalIqrConfig {
    /// Fence width in IQRs (Kats' default 3.0).
    #[serde(default = "d_iqr")]
    pub iqr_mult: f64,
    /// Decomposition model.
    #[serde(default = "d_decomp")]
    pub decomp: DecompModel,
    /// Seasonal period in buckets; default from the bucket width (7 for days, 24 for hours).
    #[serde(default)]
    pub period: Option<usize>,
    /// Strict fences (r > U) instead of Kats 0.2.0's inclusive ones (r ≥ U).
    #[serde(default = "d_true")]
    pub strict: bool,
    /// Sides to report.
    #[serde(default = "d_sides")]
    pub directions: Vec<Side>,
    /// Minimum |observed − expected| in the series' unit.
    #[serde(default = "d_abs")]
    pub min_abs_deviation: f64,
    /// Minimum |observed − expected| / max(expected, 1).
    #[serde(default = "d_rel")]
    pub min_rel_deviation: f64,
}

fn d_iqr() -> f64 {
    3.0
}
fn d_decomp() -> DecompModel {
    DecompModel::Additive
}
fn d_true() -> bool {
    true
}
fn d_sides() -> Vec<Side> {
    vec![Side::Spike]
}
fn d_abs() -> f64 {
    5.0
}
fn d_rel() -> f64 {
    0.5
}

impl Default for SeasonalIqrConfig {
    fn default() -> Self {
        SeasonalIqrConfig {
            iqr_mult: d_iqr(),
            decomp: d_decomp(),
            period: None,
            strict: true,
            directions: d_sides(),
            min_abs_deviation: d_abs(),
            min_rel_deviation: d_rel(),
        }
    }
}

impl SeasonalIqrConfig {
    /// Problems, each starting with the field name.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !(self.iqr_mult.is_finite() && self.iqr_mult > 0.0) {
            e.push(format!("iqr_mult: {} must be a positive number", self.iqr_mult));
        }
        if self.period.is_some_and(|p| !(2..=1000).contains(&p)) {
            e.push("period: must be within 2..=1000".into());
        }
        if self.directions.is_empty() {
            e.push("directions: name at least one of \"spike\", \"dip\"".into());
        }
        if !(self.min_abs_deviation.is_finite() && self.min_abs_deviation >= 0.0) {
            e.push("min_abs_deviation: must be ≥ 0".into());
        }
        if !(self.min_rel_deviation.is_finite() && self.min_rel_deviation >= 0.0) {
            e.push("min_rel_deviation: must be ≥ 0".into());
        }
        e
    }
}

/// The runtime detector.
#[derive(Debug, Clone)]
pub struct SeasonalIqr {
    name: String,
    cfg: SeasonalIqrConfig,
}

impl SeasonalIqr {
    /// Build from settings.
    pub fn new(name: &str, cfg: SeasonalIqrConfig) -> Self {
        SeasonalIqr { name: name.into(), cfg }
    }
}

impl Detector for SeasonalIqr {
    fn name(&self) -> &str {
        &self.name
    }

    fn family(&self) -> &'static str {
        "outlier"
    }

    fn detect(&self, s: &Series, ctx: &SeriesContext) -> Result<Vec<Anomaly>, SkipReason> {
        let y = &s.values;
        precheck(y, ctx, 2)?;
        let period = self.cfg.period.unwrap_or(ctx.bucket.period());
        let model = match self.cfg.decomp {
            DecompModel::Multiplicative if y.iter().all(|v| *v > 0.0) => Decomp::Multiplicative,
            _ => Decomp::Additive,
        };
        let r = kats_outliers_with(y, period, model, self.cfg.iqr_mult, self.cfg.strict).ok_or(SkipReason::TooShort)?;
        let iqr = (r.q3 - r.q1).max(1e-9);
        let mut flagged: Vec<(usize, Side)> = Vec::new();
        for i in ctx.eval.clone() {
            if i >= y.len() || !r.is_outlier[i] {
                continue;
            }
            let side = if r.resid[i] >= r.upper_limit { Side::Spike } else { Side::Dip };
            if !self.cfg.directions.contains(&side) {
                continue;
            }
            let dev = (y[i] - r.expected[i]).abs();
            if dev < self.cfg.min_abs_deviation || dev < self.cfg.min_rel_deviation * r.expected[i].abs().max(1.0) {
                continue;
            }
            flagged.push((i, side));
        }
        // Merge runs of consecutive buckets on the same side.
        let mut out = Vec::new();
        let mut k = 0;
        while k < flagged.len() {
            let (start, side) = flagged[k];
            let mut end = start + 1;
            while k + 1 < flagged.len() && flagged[k + 1].0 == end && flagged[k + 1].1 == side {
                k += 1;
                end += 1;
            }
            k += 1;
            let observed: f64 = y[start..end].iter().sum();
            let expected: f64 = r.expected[start..end].iter().sum();
            let peak = (start..end)
                .max_by(|a, b| {
                    r.resid[*a]
                        .abs()
                        .partial_cmp(&r.resid[*b].abs())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .unwrap_or(start);
            let beyond = match side {
                Side::Spike => (r.resid[peak] - r.upper_limit) / iqr,
                Side::Dip => (r.resid[peak] - r.lower_limit) / iqr,
            };
            // Deviation in IQRs from the nearer quartile (≥ iqr_mult for a flag).
            let deviation = match side {
                Side::Spike => (r.resid[peak] - r.q3) / iqr,
                Side::Dip => (r.resid[peak] - r.q1) / iqr,
            };
            out.push(Anomaly {
                start,
                end,
                observed,
                expected,
                lower: r.lower[peak].max(0.0),
                upper: r.upper[peak],
                score: r.score[peak],
                confidence: (1.0 - 1.0 / (1.0 + beyond.abs())).clamp(0.5, 0.999),
                deviation,
                kind: match side {
                    Side::Spike => "spike",
                    Side::Dip => "dip",
                },
                details: serde_json::json!({
                    "method": "kats_outlier_detector",
                    "decomp": format!("{model:?}").to_lowercase(),
                    "period": period,
                    "iqr_mult": self.cfg.iqr_mult,
                    "strict": self.cfg.strict,
                    "q1": r.q1, "q3": r.q3,
                    "lower_limit": r.lower_limit, "upper_limit": r.upper_limit,
                    "seasonal_strength": r.strength,
                    "seasonality_removed": r.seasonality_removed,
                    "peak_bucket": peak,
                    "deviation_unit": "IQR from the nearer quartile",
                }),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Bucket;

    fn weekly(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 100.0 + if i % 7 >= 5 { -40.0 } else { 0.0 } + ((i * 37) % 11) as f64)
            .collect()
    }

    fn ctx(n: usize, eval_from: usize) -> SeriesContext {
        SeriesContext {
            bucket: Bucket::Day,
            eval: eval_from..n,
            min_history: 14,
        }
    }

    #[test]
    fn a_spike_in_the_evaluated_days_is_one_anomaly() {
        let mut y = weekly(42);
        y[38] += 400.0;
        let s = Series {
            key: vec![Some("p".into())],
            start_ms: 0,
            values: y,
        };
        let d = SeasonalIqr::new("o", SeasonalIqrConfig::default());
        let a = d.detect(&s, &ctx(42, 35)).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].start, 38);
        assert_eq!(a[0].kind, "spike");
        assert!(a[0].observed > a[0].expected + 300.0);
        // Outside the evaluated range nothing is reported.
        assert!(d.detect(&s, &ctx(42, 40)).unwrap().is_empty());
    }

    #[test]
    fn benign_seasonal_series_gives_nothing_and_bad_series_are_skipped() {
        let d = SeasonalIqr::new("o", SeasonalIqrConfig::default());
        let s = Series {
            key: vec![],
            start_ms: 0,
            values: weekly(42),
        };
        assert!(d.detect(&s, &ctx(42, 0)).unwrap().is_empty());
        let flat = Series {
            key: vec![],
            start_ms: 0,
            values: vec![3.0; 42],
        };
        assert_eq!(d.detect(&flat, &ctx(42, 0)).unwrap_err(), SkipReason::Constant);
        let short = Series {
            key: vec![],
            start_ms: 0,
            values: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(d.detect(&short, &ctx(3, 0)).unwrap_err(), SkipReason::TooShort);
        let mut nan = weekly(42);
        nan[3] = f64::NAN;
        let s = Series {
            key: vec![],
            start_ms: 0,
            values: nan,
        };
        assert_eq!(d.detect(&s, &ctx(42, 0)).unwrap_err(), SkipReason::NonFinite);
        let neg: Vec<f64> = weekly(42).iter().map(|v| -v).collect();
        let s = Series {
            key: vec![],
            start_ms: 0,
            values: neg,
        };
        assert!(d.detect(&s, &ctx(42, 0)).is_ok());
    }
}
