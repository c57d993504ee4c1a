//! Sustained trends ("top movers"), judged by the Mann-Kendall test with a Theil-Sen magnitude.
//!
//! `type = "trend"`. The math is [`mann_kendall::mann_kendall`] / [`mann_kendall::seasonal_mann_kendall`]
//! (pymannkendall 1.4.3 semantics, the test behind Kats' `MKDetector`), [`mann_kendall::theil_sen`]
//! slopes and, for comparison with the AWS trend notebook, [`mann_kendall::ols_slope`].
//!
//! Semantics:
//! - One judgement per analysed window: the runtime cuts the series at the end of each analysed day
//!   (`ctx.eval` = that day's buckets), and the detector tests the **whole cut series** once, for
//!   the last bucket of `ctx.eval`. In a nightly run the cut is `history_days` (default 28) days
//!   before the day and the day, whatever the job's `baseline_days` (the series stage builds the
//!   family that far back; days before the family's first data are left out). A trend that lasts
//!   is therefore reported on every analysed day, one finding per day and series; its anomaly
//!   spans `ctx.eval`.
//! - Test: seasonal Mann-Kendall with the bucket's weekly period ([`crate::series::Bucket::period`])
//!   when `seasonal` and the series holds at least [`SEASONAL_MIN_CYCLES`] periods (each weekday /
//!   hour-of-week is only compared with itself, so the working-week rhythm does not blur the
//!   test); plain Mann-Kendall otherwise. Why eight: the seasonal test compares only points of
//!   the same season, so on four cycles (a nightly run's 28-day cut) it uses 42 of the 378 pairs
//!   — at the false-finding budget's p ≤ 0.001 it found a trend adding the usual level twice a
//!   week on 66% of such cuts against the plain test's 73% — while a weekly rhythm (quiet
//!   weekends, a weekly scan day) did not make the plain test fire on series without a trend
//!   (at most 1 in 1,000 cuts of 15–28 days; `a_weekly_rhythm_is_not_a_trend` here). With two
//!   cycles the seasonal test could not report a trend at all (|S| ≤ 7, z ≤ 2.27). Reported when
//!   p < `alpha`, within the budget below and |relative change per week| ≥
//!   `min_rel_change_per_week`.
//! - Magnitude: relative change per week = Theil-Sen slope per bucket × buckets per week /
//!   max(|mean of the cut series|, 1). The seasonal Sen slope is per cycle (pymannkendall's
//!   `seasonal_sens_slope`) and is divided by the period here. The sign must agree with the test's Z.
//! - The false-finding budget: a series judged on one day is one Mann-Kendall test, so a trend is
//!   reported only when its two-sided p ≤ `false_findings_per_1000` / 1,000 (score ≥ 3 −
//!   log10(budget)) — on series with nothing to find, at most that many findings per 1,000
//!   series-days whatever the fleet's size. Until 2026-12-06 the decision was Benjamini–Hochberg
//!   at `alpha` over the day's series: with one false rejection per ~20 days of a small fleet that
//!   was 1.56 false trends per 1,000 series-days on the benchmark's benign lakes, and at a large
//!   fleet BH's first rank (α / m) grew stricter than any budget needs.
//! - `select` keeps, per analysed window, the `top_n` increasing and `top_n` decreasing series by
//!   |relative change per week| among those the budget let through (the notebook's "top movers",
//!   ranked robustly instead of by the OLS slope in counts/day, which only ranks the biggest
//!   series; the OLS slope is kept in `details`): a cap on the report, not a quota.

pub mod mann_kendall;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{capitalise, confidence_of, precheck, Anomaly, Detector, Evidence, Overlay, SeriesContext, Severity, SkipReason, Subject};
use crate::series::Series;
use mann_kendall::{mann_kendall, ols_slope, seasonal_mann_kendall, MkResult};

/// Fewest weekly cycles the cut series needs for the seasonal test (see the module docs).
pub const SEASONAL_MIN_CYCLES: usize = 8;

/// Settings of `type = "trend"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrendConfig {
    /// Significance level of the Mann-Kendall test (Kats' `alpha`, 0.05).
    #[serde(default = "d_alpha")]
    pub alpha: f64,
    /// At most this many series per analysed window and direction, strongest first, among those
    /// within the false-finding budget (a cap on the report, not a quota).
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
    /// Expected false findings per 1,000 series-days judged (one Mann-Kendall test each): a trend
    /// is reported when its two-sided p ≤ this / 1,000. 1000 turns the budget off (`alpha` alone).
    #[serde(default = "d_budget")]
    pub false_findings_per_1000: f64,
    /// Days of history the nightly test sees before the analysed day (default 28), independent
    /// of the job's `baseline_days` (the series stage builds the longer of the two). A trend is
    /// slow: on the 15 days of a 14-day baseline the plain test proves a series growing by half
    /// its level a week only at p ≈ 0.015, outside any budget an analyst would accept; on 28 it
    /// is p < 1e-5. Days before the family's first data are not history (a lake younger than this
    /// gives shorter cuts, not leading zeros).
    #[serde(default = "d_history_days")]
    pub history_days: u32,
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
fn d_budget() -> f64 {
    1.0
}
fn d_history_days() -> u32 {
    28
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            alpha: d_alpha(),
            top_n: d_top_n(),
            min_points: d_min_points(),
            seasonal: true,
            min_rel_change_per_week: d_min_rel(),
            false_findings_per_1000: d_budget(),
            history_days: d_history_days(),
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
        if !(self.false_findings_per_1000 > 0.0 && self.false_findings_per_1000 <= 1000.0) {
            e.push(format!(
                "false_findings_per_1000: {} must be within (0, 1000]",
                self.false_findings_per_1000
            ));
        }
        if !(7..=400).contains(&self.history_days) {
            e.push(format!("history_days: {} is outside 7..=400", self.history_days));
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
        if score < 3.0 - self.cfg.false_findings_per_1000.log10() {
            return Ok(Vec::new());
        }
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

    /// Per analysed window (anomalies with the same `start`): at most `top_n` per direction by
    /// |deviation|; ties go to the lower series index. The budget was spent in `detect`.
    fn select(&self, found: Vec<(usize, Anomaly)>, _judged: usize) -> Vec<(usize, Anomaly)> {
        let mut groups: BTreeMap<(usize, &'static str), Vec<(usize, Anomaly)>> = BTreeMap::new();
        for (i, a) in found {
            groups.entry((a.start, a.kind)).or_default().push((i, a));
        }
        let mut out = Vec::new();
        for (_, mut g) in groups {
            g.sort_by(|(ia, a), (ib, b)| b.deviation.abs().total_cmp(&a.deviation.abs()).then(ia.cmp(ib)));
            g.truncate(self.cfg.top_n);
            out.extend(g);
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
        let y = weekly(1, 56, 50.0, 2.0, 8.0);
        let d = MannKendallTrend::new("t", TrendConfig::default());
        let a = d.detect(&series(y.clone()), &ctx(56)).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        let a = &a[0];
        assert_eq!((a.start, a.end, a.kind), (55, 56, "increasing"));
        assert!(a.details()["p"].as_f64().unwrap() < 0.01, "{}", a.details());
        assert_eq!(a.details()["method"], "seasonal_mann_kendall");
        assert!(a.confidence > 0.5 && a.score > 2.0, "{a:?}");
        assert!(a.observed > a.expected + 50.0, "{a:?}");
        // Slope per bucket, not per week-cycle: about 2 on weekdays, 1.2 on weekends.
        let ts = a.details()["slope_theil_sen"].as_f64().unwrap();
        assert!((1.0..2.5).contains(&ts), "{ts}");
        let ols = a.details()["slope_ols"].as_f64().unwrap();
        assert!((1.0..2.5).contains(&ols), "{ols}");
        let mean = y.iter().sum::<f64>() / 56.0;
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
        let y: Vec<f64> = (0..56).map(|i| 10.0 + 0.5 * i as f64).collect();
        for seasonal in [true, false] {
            let d = MannKendallTrend::new(
                "t",
                TrendConfig {
                    seasonal,
                    ..Default::default()
                },
            );
            let a = d.detect(&series(y.clone()), &ctx(56)).unwrap();
            assert_eq!(a.len(), 1);
            assert!((a[0].details()["slope_theil_sen"].as_f64().unwrap() - 0.5).abs() < 1e-12);
            assert!((a[0].details()["slope_ols"].as_f64().unwrap() - 0.5).abs() < 1e-9);
        }
        // From eight periods the seasonal test; below, the plain one even when seasonal.
        let d = MannKendallTrend::new("t", TrendConfig::default());
        let a = d.detect(&series(y[..56].to_vec()), &ctx(56)).unwrap();
        assert_eq!(a[0].details()["method"], "seasonal_mann_kendall"); // 56 = 8 × 7
        let a = d.detect(&series(y[..55].to_vec()), &ctx(55)).unwrap();
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

    /// Short cuts (a job whose history is shorter than `history_days`, or a young lake): 14 days
    /// of baseline and the analysed days. Within the false-finding
    /// budget (p ≤ 0.001) a series growing by half its level a week is proven by the eighth
    /// analysed night (a 22-day cut; on the first night's 15 days its p is about 0.015), on ten
    /// seeds; flat series with the weekday rhythm and noise are not trends on either cut.
    #[test]
    fn a_nightly_cut_finds_a_clear_trend_and_not_the_weekly_rhythm() {
        let d = MannKendallTrend::new("t", TrendConfig::default());
        for seed in 1..=10 {
            let up = weekly(seed, 22, 40.0, 3.0, 6.0);
            let a = d.detect(&series(up), &ctx(22)).unwrap();
            assert_eq!(a.len(), 1, "seed {seed}");
            assert_eq!((a[0].kind, a[0].details()["method"].as_str()), ("increasing", Some("mann_kendall")));
            for n in [15, 22] {
                let flat = weekly(seed, n, 40.0, 0.0, 6.0);
                assert!(d.detect(&series(flat), &ctx(n)).unwrap().is_empty(), "seed {seed}, {n} days");
            }
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

    /// Gamma(3)-mixed Poisson counts (negative binomial, dispersion 1/3: the realistic world's
    /// finding types) with mean `mu`, from the test's own generator.
    fn nb_counts(g: &mut Lcg, n: usize, mu: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let gamma = (0..3).map(|_| -g.uniform().ln()).sum::<f64>() / 3.0;
                // Poisson by inversion of the CDF.
                let (lambda, u) = (mu * gamma, g.uniform());
                let (mut k, mut p) = (0.0, (-lambda).exp());
                let mut cdf = p;
                while u > cdf && k < 1e4 {
                    k += 1.0;
                    p *= lambda / k;
                    cdf += p;
                }
                k
            })
            .collect()
    }

    /// Proves the budget is what decides: over 20,000 nightly cuts (15 to 28 days) of
    /// overdispersed counts with nothing to find, the default budget (1 per 1,000 series-days)
    /// lets through at most 2 per 1,000 (the Mann-Kendall p is a normal approximation), while the
    /// same cuts with the budget off (`alpha` 0.05 alone) give tens per 1,000 — the old
    /// Benjamini–Hochberg decision let through one of those a night on a fleet of ~16 series. A
    /// trend adding the usual level twice a week, on the same noise, is found on most 28-day cuts
    /// (the plain test's power there, about 0.85 in a simulation of the same law).
    #[test]
    fn the_budget_bounds_false_trends_per_series_day() {
        let budget = MannKendallTrend::new("t", TrendConfig::default());
        let off = MannKendallTrend::new(
            "t",
            TrendConfig {
                false_findings_per_1000: 1000.0,
                ..Default::default()
            },
        );
        let mut g = Lcg(7);
        let (mut kept, mut loose, runs) = (0, 0, 20_000);
        for k in 0..runs {
            let n = 15 + k % 14;
            let y = nb_counts(&mut g, n, 5.0);
            if let Ok(a) = budget.detect(&series(y.clone()), &ctx(n)) {
                kept += a.len();
            }
            if let Ok(a) = off.detect(&series(y), &ctx(n)) {
                loose += a.len();
            }
        }
        let (per_1000, loose_per_1000) = (kept as f64 * 1000.0 / runs as f64, loose as f64 * 1000.0 / runs as f64);
        assert!(per_1000 <= 2.0, "{per_1000} false trends per 1,000 series-days under the budget");
        assert!(loose_per_1000 >= 10.0, "{loose_per_1000} per 1,000 with the budget off");
        let mut found = 0;
        for _ in 0..200 {
            let y: Vec<f64> = nb_counts(&mut g, 28, 5.0)
                .into_iter()
                .enumerate()
                .map(|(i, v)| v + nb_counts(&mut g, 1, 2.0 * 5.0 * i as f64 / 7.0)[0])
                .collect();
            found += budget.detect(&series(y), &ctx(28)).unwrap().len();
        }
        assert!(found >= 150, "{found} of 200 rising series found");
    }

    /// Proves the plain test's choice below eight cycles does not turn a weekly rhythm into
    /// trends: 10,000 nightly cuts (15 to 28 days, every weekday phase) of overdispersed counts
    /// with quiet weekends (a fifth of a weekday's level) and of a weekly scan day (three times
    /// the usual level one day a week) give at most 2 findings per 1,000 cuts each.
    #[test]
    fn a_weekly_rhythm_is_not_a_trend() {
        let d = MannKendallTrend::new("t", TrendConfig::default());
        let mut g = Lcg(11);
        let rhythms: [[f64; 7]; 2] = [[1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2], [0.67, 0.67, 0.67, 3.0, 0.67, 0.67, 0.67]];
        for (r, rhythm) in rhythms.iter().enumerate() {
            let mut found = 0;
            for k in 0..10_000usize {
                let (n, phase) = (15 + k % 14, k % 7);
                let y: Vec<f64> = (0..n).map(|i| nb_counts(&mut g, 1, 10.0 * rhythm[(i + phase) % 7])[0]).collect();
                if let Ok(a) = d.detect(&series(y), &ctx(n)) {
                    assert!(a.iter().all(|a| a.evidence.to_json()["method"] == "mann_kendall"));
                    found += a.len();
                }
            }
            assert!(found <= 20, "rhythm {r}: {found} trends in 10,000 cuts");
        }
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
            false_findings_per_1000: 0.0,
            history_days: 3,
        };
        let e = bad.validate();
        for f in [
            "alpha:",
            "top_n:",
            "min_points:",
            "min_rel_change_per_week:",
            "false_findings_per_1000:",
            "history_days:",
        ] {
            assert!(e.iter().any(|m| m.starts_with(f)), "{f} in {e:?}");
        }
        let parsed: TrendConfig = toml::from_str("alpha = 0.01\nseasonal = false").unwrap();
        assert_eq!((parsed.top_n, parsed.min_points, parsed.seasonal), (10, 14, false));
        assert!(toml::from_str::<TrendConfig>("top = 3").is_err());
    }
}
