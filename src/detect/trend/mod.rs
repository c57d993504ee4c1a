//! Sustained trends ("top movers"), judged by the Mann-Kendall test with a Theil-Sen magnitude.
//!
//! `type = "trend"`. The math is [`mann_kendall::mann_kendall`] / [`mann_kendall::seasonal_mann_kendall`]
//! (pymannkendall 1.4.3 semantics, the test behind Kats' `MKDetector`), [`mann_kendall::theil_sen`]
//! slopes and, for comparison with the AWS trend notebook, [`mann_kendall::ols_slope`].
//!
//! Semantics:
//! - One judgement per analysed window: the runtime cuts the series at the end of each analysed day
//!   (`ctx.eval` = that day's buckets), and the detector tests the **whole cut series** (baseline and
//!   analysed days up to that day's end) once, for the last bucket of `ctx.eval`. A trend that lasts
//!   is therefore reported on every analysed day, one finding per day and series; its anomaly spans
//!   `ctx.eval`.
//! - Test: seasonal Mann-Kendall with the bucket's weekly period ([`crate::series::Bucket::period`])
//!   when `seasonal` and the series holds at least [`SEASONAL_MIN_CYCLES`] periods (each weekday /
//!   hour-of-week is only compared with itself, so the working-week rhythm does not blur the
//!   test); plain Mann-Kendall otherwise. Why three: with two cycles each season holds two points,
//!   |S| ≤ 7 and z ≤ 2.27 (p ≥ 0.023 before any correction), so on a nightly run's 14-day
//!   baseline the seasonal test could never report a trend — a range run only found them on its
//!   later days, which saw more history than any nightly run does. Reported when p < `alpha` and |relative change per week| ≥ `min_rel_change_per_week`.
//! - Magnitude: relative change per week = Theil-Sen slope per bucket × buckets per week /
//!   max(|mean of the cut series|, 1). The seasonal Sen slope is per cycle (pymannkendall's
//!   `seasonal_sens_slope`) and is divided by the period here. The sign must agree with the test's Z.
//! - `select` keeps, per analysed window, the `top_n` increasing and `top_n` decreasing series by
//!   |relative change per week| (the notebook's "top movers", ranked robustly instead of by the OLS
//!   slope in counts/day, which only ranks the biggest series; the OLS slope is kept in `details`).

pub mod mann_kendall;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{capitalise, confidence_of, precheck, Anomaly, Detector, Evidence, Overlay, SeriesContext, Severity, SkipReason, Subject};
use crate::series::Series;
use mann_kendall::{mann_kendall, ols_slope, seasonal_mann_kendall, MkResult};

/// Fewest weekly cycles the cut series needs for the seasonal test (see the module docs).
pub const SEASONAL_MIN_CYCLES: usize = 3;

/// Settings of `type = "trend"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrendConfig {
    /// Significance level of the Mann-Kendall test (Kats' `alpha`, 0.05).
    #[serde(default = "d_alpha")]
    pub alpha: f64,
    /// At most this many series per analysed window and direction, strongest first, among those
    /// significant after the Benjamini-Hochberg correction (a cap on the report, not a quota).
    #[serde(default = "d_top_n")]
    pub top_n: usize,
    /// Minimum buckets in the cut series.
    #[serde(default = "d_min_points")]
    pub min_points: usize,
    /// Use the seasonal test (weekly period) when the series holds [`SEASONAL_MIN_CYCLES`] periods.
    #[serde(default = "d_true")]
    pub seasonal: bool,
    /// Minimum |Theil-Sen slope × buckets per week| / max(|mean|, 1).
    #[serde(default = "d_min_rel")]
    pub min_rel_change_per_week: f64,
}

fn d_alpha() -> f64 {
    0.05
}
fn d_top_n() -> usize {
    10
}
fn d_min_points() -> usize {
    14
}
fn d_true() -> bool {
    true
}
fn d_min_rel() -> f64 {
    0.1
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            alpha: d_alpha(),
            top_n: d_top_n(),
            min_points: d_min_points(),
            seasonal: true,
            min_rel_change_per_week: d_min_rel(),
        }
    }
}

impl TrendConfig {
    /// Problems, each starting with the field name.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            e.push(format!("alpha: {} must be within (0, 1)", self.alpha));
        }
        if self.top_n == 0 {
            e.push("top_n: must be at least 1".into());
        }
        if self.min_points < 4 {
            e.push("min_points: must be at least 4".into());
        }
        if !(self.min_rel_change_per_week.is_finite() && self.min_rel_change_per_week >= 0.0) {
            e.push("min_rel_change_per_week: must be ≥ 0".into());
        }
        e
    }
}

/// The runtime detector.
#[derive(Debug, Clone)]
pub struct MannKendallTrend {
    name: String,
    cfg: TrendConfig,
}

impl MannKendallTrend {
    /// Build from settings.
    pub fn new(name: &str, cfg: TrendConfig) -> Self {
        MannKendallTrend { name: name.into(), cfg }
    }
}

fn mean(a: &[f64]) -> f64 {
    a.iter().sum::<f64>() / a.len().max(1) as f64
}

/// The evidence of a trend: the Mann-Kendall test and the slopes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrendEvidence {
    /// `seasonal_mann_kendall` or `mann_kendall`.
    pub method: &'static str,
    /// The season length of the seasonal test, in buckets.
    pub period: Option<usize>,
    /// Buckets tested.
    pub points: usize,
    /// Least-squares slope per bucket (the AWS notebook's "top movers").
    pub slope_ols: f64,
    /// Theil-Sen slope per bucket.
    pub slope_theil_sen: f64,
    /// Unit of the slopes.
    pub slope_unit: &'static str,
    /// Kendall's tau.
    pub tau: f64,
    /// Mann-Kendall S.
    pub s: f64,
    /// Its z score.
    pub z: f64,
    /// Its p-value.
    pub p: f64,
    /// The test level.
    pub alpha: f64,
    /// Mean of the tested buckets.
    pub mean: f64,
    /// The finding's deviation.
    pub relative_change_per_week: f64,
    /// The unit of the finding's deviation.
    pub deviation_unit: &'static str,
    /// Buckets averaged at each end for observed and expected.
    pub compared_buckets: usize,
    /// What the band is.
    pub band: &'static str,
}

impl Evidence for TrendEvidence {
    fn family(&self) -> &'static str {
        "trend"
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Relative change per week: 0.25 Low, 0.75 Medium, 2 High.
    fn severity(&self, a: &Anomaly) -> Severity {
        Severity::graded(a.deviation, (2.0, 0.75, 0.25))
    }

    fn title(&self, a: &Anomaly, s: &Subject<'_>) -> String {
        format!(
            "{} trend in {}: {:+.0}% per week for {} {}",
            capitalise(a.kind),
            s.measure,
            a.deviation * 100.0,
            s.entity_type,
            s.entity
        )
    }

    fn overlay(&self) -> Overlay {
        Overlay::Slope(self.slope_theil_sen)
    }
}

impl Detector for MannKendallTrend {
    fn name(&self) -> &str {
        &self.name
    }

    fn detect(&self, s: &Series, ctx: &SeriesContext) -> Result<Vec<Anomaly>, SkipReason> {
        let y = &s.values[..ctx.eval.end.min(s.values.len())];
        precheck(y, ctx, 1)?;
        let n = y.len();
        if n < self.cfg.min_points.max(4) {
            return Err(SkipReason::TooShort);
        }
        if ctx.eval.is_empty() || ctx.eval.start >= n {
            return Ok(Vec::new());
        }
        let period = ctx.bucket.period();
        let seasonal = self.cfg.seasonal && n >= SEASONAL_MIN_CYCLES * period;
        let (mk, slope_ts, method, window): (MkResult, f64, &str, usize) = if seasonal {
            let mk = seasonal_mann_kendall(y, period, self.cfg.alpha).ok_or(SkipReason::TooShort)?;
            let per_bucket = mk.slope / period as f64;
            (mk, per_bucket, "seasonal_mann_kendall", period)
        } else {
            let mk = mann_kendall(y, self.cfg.alpha).ok_or(SkipReason::TooShort)?;
            let slope = mk.slope;
            let w = if n >= 2 * period {
                period
            } else {
                ctx.bucket.short_period().min(n / 2).max(1)
            };
            (mk, slope, "mann_kendall", w)
        };
        if mk.p.is_nan() || mk.p >= self.cfg.alpha || mk.z == 0.0 {
            return Ok(Vec::new());
        }
        let per_week = (7 * 86_400_000 / ctx.bucket.ms()) as f64;
        let level = mean(y);
        let rel = slope_ts * per_week / level.abs().max(1.0);
        if rel * mk.z < 0.0 || rel.abs() < self.cfg.min_rel_change_per_week {
            return Ok(Vec::new());
        }
        let slope_ols = ols_slope(y).map(|(k, _)| k).unwrap_or(f64::NAN);
        let first = &y[..window];
        let last = &y[n - window..];
        let kind = if mk.z > 0.0 { "increasing" } else { "decreasing" };
        // −log10 of the two-sided Mann-Kendall p-value (one test per series and cut), from z so it
        // does not saturate when p underflows.
        let score = (crate::detect::stats::neg_log10_normal_sf(mk.z.abs()) - std::f64::consts::LOG10_2).max(0.0);
        Ok(vec![Anomaly {
            start: ctx.eval.start,
            end: ctx.eval.end.min(n),
            observed: mean(last),
            expected: mean(first),
            lower: first.iter().copied().fold(f64::INFINITY, f64::min),
            upper: first.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            score,
            confidence: confidence_of(score),
            deviation: rel,
            kind,
            evidence: Arc::new(TrendEvidence {
                method,
                period: if seasonal { Some(period) } else { None },
                points: n,
                slope_ols,
                slope_theil_sen: slope_ts,
                slope_unit: "per bucket",
                tau: mk.tau,
                s: mk.s,
                z: mk.z,
                p: mk.p,
                alpha: self.cfg.alpha,
                mean: level,
                relative_change_per_week: rel,
                deviation_unit: "relative change per week: Theil-Sen slope × buckets per week / max(|mean|, 1)",
                compared_buckets: window,
                band: "min..max of the first compared buckets",
            }),
        }])
    }

    /// Per analysed window (anomalies with the same `start`), the `top_n` increasing and `top_n`
    /// decreasing series by |deviation|; ties go to the lower series index.
    /// Per analysed window (anomalies with the same `start`): the trends that stay significant at
    /// `alpha` after the Benjamini-Hochberg correction over the `judged` series (each series is
    /// one Mann-Kendall test per window, so with many series some pass at `alpha` by chance), then
    /// at most `top_n` per direction by |deviation|; ties go to the lower series index.
    fn select(&self, found: Vec<(usize, Anomaly)>, judged: usize) -> Vec<(usize, Anomaly)> {
        let mut windows: BTreeMap<usize, Vec<(usize, Anomaly)>> = BTreeMap::new();
        for (i, a) in found {
            windows.entry(a.start).or_default().push((i, a));
        }
        let mut out = Vec::new();
        for (_, w) in windows {
            let m = judged.max(w.len()).max(1);
            // p = 10^-score (the score is −log10 of the uncorrected two-sided p).
            let mut by_p: Vec<(f64, usize)> = w.iter().enumerate().map(|(k, (_, a))| (10f64.powf(-a.score), k)).collect();
            by_p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let keep = by_p
                .iter()
                .enumerate()
                .filter(|(rank, (p, _))| *p <= (rank + 1) as f64 / m as f64 * self.cfg.alpha)
                .map(|(rank, _)| rank + 1)
                .max()
                .unwrap_or(0);
            let kept: std::collections::BTreeSet<usize> = by_p[..keep].iter().map(|(_, k)| *k).collect();
            let mut groups: BTreeMap<&'static str, Vec<(usize, Anomaly)>> = BTreeMap::new();
            for (k, (i, a)) in w.into_iter().enumerate() {
                if kept.contains(&k) {
                    groups.entry(a.kind).or_default().push((i, a));
                }
            }
            for (_, mut g) in groups {
                g.sort_by(|(ia, a), (ib, b)| b.deviation.abs().total_cmp(&a.deviation.abs()).then(ia.cmp(ib)));
                g.truncate(self.cfg.top_n);
                out.extend(g);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Bucket;

    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
    }

    /// Weekly rhythm (quiet weekends), a linear trend and uniform noise of ±`noise`.
    fn weekly(seed: u64, n: usize, base: f64, slope: f64, noise: f64) -> Vec<f64> {
        let mut g = Lcg(seed);
        (0..n)
            .map(|i| {
                let weekend = if i % 7 >= 5 { 0.6 } else { 1.0 };
                ((base + slope * i as f64) * weekend + noise * (2.0 * g.uniform() - 1.0))
                    .max(0.0)
                    .round()
            })
            .collect()
    }

    fn series(values: Vec<f64>) -> Series {
        Series {
            key: vec![Some("k".into())],
            start_ms: 0,
            values,
        }
    }

    fn ctx(n: usize) -> SeriesContext {
        SeriesContext {
            bucket: Bucket::Day,
            eval: n - 1..n,
            min_history: 14,
            values: crate::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        }
    }

    #[test]
    fn a_rising_series_is_a_significant_trend() {
        let y = weekly(1, 42, 50.0, 2.0, 8.0);
        let d = MannKendallTrend::new("t", TrendConfig::default());
        let a = d.detect(&series(y.clone()), &ctx(42)).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        let a = &a[0];
        assert_eq!((a.start, a.end, a.kind), (41, 42, "increasing"));
        assert!(a.details()["p"].as_f64().unwrap() < 0.01, "{}", a.details());
        assert_eq!(a.details()["method"], "seasonal_mann_kendall");
        assert!(a.confidence > 0.5 && a.score > 2.0, "{a:?}");
        assert!(a.observed > a.expected + 50.0, "{a:?}");
        // Slope per bucket, not per week-cycle: about 2 on weekdays, 1.2 on weekends.
        let ts = a.details()["slope_theil_sen"].as_f64().unwrap();
        assert!((1.0..2.5).contains(&ts), "{ts}");
        let ols = a.details()["slope_ols"].as_f64().unwrap();
        assert!((1.0..2.5).contains(&ols), "{ols}");
        let mean = y.iter().sum::<f64>() / 42.0;
        assert!((a.deviation - ts * 7.0 / mean).abs() < 1e-12);
        // A falling one.
        let down: Vec<f64> = weekly(2, 42, 140.0, -2.0, 8.0);
        let a = d.detect(&series(down), &ctx(42)).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "decreasing");
        assert!(a[0].deviation < -0.1);
    }

    #[test]
    fn seasonal_and_plain_slopes_are_both_per_bucket() {
        let y: Vec<f64> = (0..42).map(|i| 10.0 + 0.5 * i as f64).collect();
        for seasonal in [true, false] {
            let d = MannKendallTrend::new(
                "t",
                TrendConfig {
                    seasonal,
                    ..Default::default()
                },
            );
            let a = d.detect(&series(y.clone()), &ctx(42)).unwrap();
            assert_eq!(a.len(), 1);
            assert!((a[0].details()["slope_theil_sen"].as_f64().unwrap() - 0.5).abs() < 1e-12);
            assert!((a[0].details()["slope_ols"].as_f64().unwrap() - 0.5).abs() < 1e-9);
        }
        // From three periods the seasonal test; below, the plain one even when seasonal.
        let d = MannKendallTrend::new("t", TrendConfig::default());
        let a = d.detect(&series(y[..21].to_vec()), &ctx(21)).unwrap();
        assert_eq!(a[0].details()["method"], "seasonal_mann_kendall"); // 21 = 3 × 7
        let a = d.detect(&series(y[..20].to_vec()), &ctx(20)).unwrap();
        assert_eq!(a[0].details()["method"], "mann_kendall");
        let y20: Vec<f64> = (0..20).map(|i| 10.0 + 0.5 * i as f64).collect();
        let d = MannKendallTrend::new(
            "t",
            TrendConfig {
                min_points: 10,
                ..Default::default()
            },
        );
        let a = d
            .detect(&series(y20[..13].to_vec()), &SeriesContext { min_history: 7, ..ctx(13) })
            .unwrap();
        assert_eq!(a[0].details()["method"], "mann_kendall");
    }

    /// A nightly run's cut: 14 days of baseline and the day. A series growing by half its level a
    /// week is found there (the seasonal test on two cycles could not: z ≤ 2.27); flat series
    /// with the weekday rhythm and noise are not, over ten seeds.
    #[test]
    fn a_fifteen_day_cut_finds_a_clear_trend_and_not_the_weekly_rhythm() {
        let d = MannKendallTrend::new("t", TrendConfig::default());
        for seed in 1..=10 {
            let up = weekly(seed, 15, 40.0, 3.0, 6.0);
            let a = d.detect(&series(up), &ctx(15)).unwrap();
            assert_eq!(a.len(), 1, "seed {seed}");
            assert_eq!((a[0].kind, a[0].details()["method"].as_str()), ("increasing", Some("mann_kendall")));
            let flat = weekly(seed, 15, 40.0, 0.0, 6.0);
            assert!(d.detect(&series(flat), &ctx(15)).unwrap().is_empty(), "seed {seed}");
        }
    }

    #[test]
    fn flat_noise_and_slow_drifts_are_not_trends() {
        let d = MannKendallTrend::new("t", TrendConfig::default());
        for seed in 1..=10 {
            let y = weekly(seed, 42, 50.0, 0.0, 10.0);
            assert!(d.detect(&series(y), &ctx(42)).unwrap().is_empty(), "seed {seed}");
        }
        // Significant but tiny: 1000 + 0.5/day is 0.35% a week.
        let y = weekly(3, 42, 1000.0, 0.5, 2.0);
        let strict = MannKendallTrend::new(
            "t",
            TrendConfig {
                min_rel_change_per_week: 0.0,
                ..Default::default()
            },
        );
        assert_eq!(strict.detect(&series(y.clone()), &ctx(42)).unwrap().len(), 1);
        assert!(d.detect(&series(y), &ctx(42)).unwrap().is_empty());
    }

    #[test]
    fn top_movers_are_ranked_and_capped_per_direction_and_window() {
        let d = MannKendallTrend::new(
            "t",
            TrendConfig {
                top_n: 2,
                ..Default::default()
            },
        );
        // Series 0..4 rise with growing slopes, 5..7 fall ever faster, 8 is flat.
        let slopes = [1.5, 2.0, 2.5, 3.0, 3.5, -1.0, -1.3, -1.6, 0.0];
        let all: Vec<Vec<f64>> = slopes
            .iter()
            .enumerate()
            .map(|(k, s)| weekly(k as u64 + 10, 42, if *s > 0.0 { 40.0 } else { 80.0 }, *s, 5.0))
            .collect();
        let mut found = Vec::new();
        for day in [40usize, 41] {
            for (i, y) in all.iter().enumerate() {
                let cut = series(y[..day + 1].to_vec());
                let c = SeriesContext {
                    bucket: Bucket::Day,
                    eval: day..day + 1,
                    min_history: 14,
                    values: crate::series::Values::Infer,
                    fleet: Default::default(),
                    period_before: None,
                };
                found.extend(d.detect(&cut, &c).unwrap().into_iter().map(|a| (i, a)));
            }
        }
        // Everything but the flat series is a trend on both days.
        assert_eq!(found.len(), 16, "{:?}", found.iter().map(|(i, a)| (i, a.start)).collect::<Vec<_>>());
        // The ranking follows the slope.
        let day41: Vec<(usize, f64)> = found
            .iter()
            .filter(|(_, a)| a.start == 41 && a.kind == "increasing")
            .map(|(i, a)| (*i, a.deviation))
            .collect();
        let mut by_dev = day41.clone();
        by_dev.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(by_dev.iter().map(|x| x.0).collect::<Vec<_>>(), vec![4, 3, 2, 1, 0]);
        let kept = d.select(found, 8);
        let got: Vec<(usize, usize, &str)> = kept.iter().map(|(i, a)| (a.start, *i, a.kind)).collect();
        assert_eq!(
            got,
            vec![
                (40, 7, "decreasing"),
                (40, 6, "decreasing"),
                (40, 4, "increasing"),
                (40, 3, "increasing"),
                (41, 7, "decreasing"),
                (41, 6, "decreasing"),
                (41, 4, "increasing"),
                (41, 3, "increasing"),
            ]
        );
    }

    #[test]
    fn select_breaks_ties_by_series_index() {
        let d = MannKendallTrend::new(
            "t",
            TrendConfig {
                top_n: 1,
                ..Default::default()
            },
        );
        let an = |dev: f64| Anomaly {
            start: 5,
            end: 6,
            observed: 0.0,
            expected: 0.0,
            lower: 0.0,
            upper: 0.0,
            score: 5.0,
            confidence: 0.0,
            deviation: dev,
            kind: if dev > 0.0 { "increasing" } else { "decreasing" },
            evidence: Arc::new(TrendEvidence::default()),
        };
        let kept = d.select(vec![(9, an(0.3)), (4, an(0.3)), (2, an(0.2)), (7, an(-0.3)), (3, an(-0.3))], 5);
        assert_eq!(kept.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn bad_series_are_skipped_and_config_is_checked() {
        let d = MannKendallTrend::new("t", TrendConfig::default());
        assert_eq!(d.detect(&series(vec![5.0; 30]), &ctx(30)).unwrap_err(), SkipReason::Constant);
        assert_eq!(d.detect(&series(vec![1.0, 2.0, 3.0]), &ctx(3)).unwrap_err(), SkipReason::TooShort);
        let empty = SeriesContext {
            bucket: Bucket::Day,
            eval: 0..0,
            min_history: 14,
            values: crate::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        };
        assert_eq!(d.detect(&series(vec![]), &empty).unwrap_err(), SkipReason::TooShort);
        // min_history below min_points: min_points decides.
        let short_ok = SeriesContext {
            bucket: Bucket::Day,
            eval: 9..10,
            min_history: 7,
            values: crate::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        };
        let y: Vec<f64> = (0..10).map(|i| i as f64).collect();
        assert_eq!(d.detect(&series(y), &short_ok).unwrap_err(), SkipReason::TooShort);
        let mut y = weekly(1, 42, 50.0, 2.0, 8.0);
        y[20] = f64::NAN;
        assert_eq!(d.detect(&series(y.clone()), &ctx(42)).unwrap_err(), SkipReason::NonFinite);
        y[20] = f64::NEG_INFINITY;
        assert_eq!(d.detect(&series(y), &ctx(42)).unwrap_err(), SkipReason::NonFinite);

        assert!(TrendConfig::default().validate().is_empty());
        let bad = TrendConfig {
            alpha: 0.0,
            top_n: 0,
            min_points: 2,
            seasonal: false,
            min_rel_change_per_week: f64::NAN,
        };
        let e = bad.validate();
        for f in ["alpha:", "top_n:", "min_points:", "min_rel_change_per_week:"] {
            assert!(e.iter().any(|m| m.starts_with(f)), "{f} in {e:?}");
        }
        let parsed: TrendConfig = toml::from_str("alpha = 0.01\nseasonal = false").unwrap();
        assert_eq!((parsed.top_n, parsed.min_points, parsed.seasonal), (10, 14, false));
        assert!(toml::from_str::<TrendConfig>("top = 3").is_err());
    }
}
