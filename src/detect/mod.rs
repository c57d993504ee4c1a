//! Detectors: one module per family, one [`Detector`] interface, one registry.
//!
//! A detector sees one [`Series`] at a time with the range of buckets under evaluation (the days the
//! run analyses; the buckets before them are the baseline) and returns [`Anomaly`]s: what was
//! observed, what was expected, how far off, and the evidence. Turning an anomaly into a finding
//! (ids, severity, titles, investigation SQL, MITRE) is the `findings` stage's job, so detectors stay
//! pure numerics that are easy to test against their reference.
//!
//! Adding a detector = one new module (its config, its math, its [`Evidence`]) + one variant in
//! [`DetectorConfig`] (the only `match`).
//!
//! # Kats re-implementations
//!
//! The time-series detectors that the AWS sample notebooks run through Facebook's Kats (MIT) are
//! re-implemented in plain std Rust, so lakesight can reproduce their results without Python and
//! then improve on them. Each algorithm sits next to the detector that runs it:
//!
//! * [`outlier::decompose`]: statsmodels' `seasonal_decompose` and Kats `OutlierDetector` 0.2.0
//!   (IQR fences on the residual), with the gap filling before it;
//! * [`changepoint::cusum`]: Kats `CUSUMDetector`, and best-first binary segmentation over it;
//! * [`trend::mann_kendall`]: Mann-Kendall, seasonal Mann-Kendall, Theil-Sen as in
//!   `pymannkendall` 1.4.3, and the notebooks' least-squares slope;
//! * [`stats`]: what they share, the numpy-like helpers and the special functions (erf/erfc,
//!   normal CDF and quantile, χ²₂).
//!
//! Conventions: every function takes the values of one series on a regular grid (index = bucket).
//! None of them panics: non-finite input, empty or too short series, a zero period and similar
//! give `None` or an empty result instead. Arithmetic follows numpy where that decides a flag
//! (pairwise summation like `np.sum`, numpy's default linear percentile, first index on ties of
//! `argmin`/`argmax`), so boundary cases agree with the Python reference as far as possible.
//!
//! The parity script `benches/reference/kats_parity.py` compares these functions with statsmodels,
//! pymannkendall and (when it installs) Kats 0.2.0 itself.

pub mod changepoint;
pub mod iforest;
pub mod ip_insights;
pub mod net;
pub mod outlier;
pub mod stats;
pub mod trend;

use std::ops::Range;
use std::sync::Arc;

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

    /// The findings per 1,000 entity-days the detector may raise on data with nothing to find
    /// (its `false_findings_per_1000`).
    pub fn false_findings_per_1000(&self) -> f64 {
        match self {
            DetectorConfig::SeasonalIqr(c) => c.false_findings_per_1000,
            DetectorConfig::Cusum(c) => c.false_findings_per_1000,
            DetectorConfig::Trend(c) => c.false_findings_per_1000,
        }
    }

    /// Days of history the detector judges each analysed day on when it differs from the job's
    /// `baseline_days` (the trend test's `history_days`); `None`: the job's baseline.
    pub fn history_days(&self) -> Option<u32> {
        match self {
            DetectorConfig::Trend(c) => Some(c.history_days),
            _ => None,
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
    /// What the values are (the template's `-- values:`), which picks the outlier law.
    pub values: crate::series::Values,
    /// What the family's other entities' baselines say about spread (empirical Bayes floors for
    /// one entity's 14-day estimates); [`stats::FleetPrior::default`] when judged alone.
    pub fleet: stats::FleetPrior,
    /// What this detector carried for this series from the night before (the period it
    /// decomposed with); `None` on a series' first night or for detectors that carry nothing.
    pub period_before: Option<PeriodState>,
}

/// The period a seasonal detector decomposed one series with on one night, and a challenger
/// that has been clearly stronger on `nights` consecutive nights. Carried from night to night
/// (the series stage publishes it as the `series_periods` table and reads the day before back)
/// so that the period holds through the ties of noisy series and switches only when another
/// rhythm stays clearly stronger: see [`outlier::carry_period`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeriodState {
    /// The period decomposed with, in buckets.
    pub period: usize,
    /// A period that was clearly stronger on the last `nights` nights, if any.
    pub challenger: Option<usize>,
    /// Consecutive nights the challenger was clearly stronger.
    pub nights: u32,
}

/// One anomalous stretch of a series.
#[derive(Debug, Clone)]
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
    /// The detector's typed evidence, which also says how its findings read (severity, title)
    /// and are drawn.
    pub evidence: Arc<dyn Evidence>,
}

impl Anomaly {
    /// The evidence as JSON (the finding's `evidence.detector`).
    pub fn details(&self) -> serde_json::Value {
        self.evidence.to_json()
    }
}

/// OCSF severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 1.
    Informational = 1,
    /// 2.
    Low = 2,
    /// 3.
    Medium = 3,
    /// 4.
    High = 4,
    /// 5.
    Critical = 5,
}

impl Severity {
    /// OCSF `severity` caption.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// OCSF `severity_id`.
    pub fn id(self) -> i32 {
        self as i32
    }

    /// High, Medium, Low or Informational as `|value|` reaches each of the thresholds
    /// `(high, medium, low)`, in the detector's own unit.
    pub fn graded(value: f64, (high, medium, low): (f64, f64, f64)) -> Severity {
        let d = value.abs();
        if d >= high {
            Severity::High
        } else if d >= medium {
            Severity::Medium
        } else if d >= low {
            Severity::Low
        } else {
            Severity::Informational
        }
    }
}

/// What a finding is about, for its title: the series' measure and entity, and the bucket width.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The measure (`API calls`).
    pub measure: &'a str,
    /// What the entity is (`principal`).
    pub entity_type: &'a str,
    /// The entity value.
    pub entity: &'a str,
    /// `hour` or `day`.
    pub bucket: &'a str,
}

/// What a plot draws over a series besides the expected band, in the plotting stage's vocabulary
/// (so the renderer never needs to know which detector made the finding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Overlay {
    /// Mark each bucket of the finding's window (an outlier).
    Points,
    /// A vertical line where the new regime starts (a change point).
    ChangeAt,
    /// A straight line of this slope per bucket through the series (a trend).
    Slope(f64),
    /// Nothing more.
    None,
}

/// A detector's evidence: the numbers behind an anomaly and how its findings read and are drawn.
/// Each detector family implements it in its own module, so its severity scale, title and plot
/// live next to its math and nothing else matches on family names.
pub trait Evidence: std::fmt::Debug + Send + Sync {
    /// The family (`outlier`, `changepoint`, `trend`), the findings' `detector_family`.
    fn family(&self) -> &'static str;
    /// The evidence as JSON (the finding's `evidence.detector`).
    fn to_json(&self) -> serde_json::Value;
    /// Severity of `a` on the family's scale.
    fn severity(&self, a: &Anomaly) -> Severity;
    /// The finding's title.
    fn title(&self, a: &Anomaly, subject: &Subject<'_>) -> String;
    /// For a change between two regimes: the old and the new regime as bucket ranges (the finding
    /// then compares equal windows on both sides).
    fn regimes(&self) -> Option<(Range<usize>, Range<usize>)> {
        None
    }
    /// What the plot draws over the series.
    fn overlay(&self) -> Overlay {
        Overlay::Points
    }
}

/// A finding's confidence from its score (−log10 of the corrected tail probability): 0 for no
/// surprise, 0.5 at a score of 2 (p = 0.01), 0.91 at 20, 0.99 at 200 — monotone and never a
/// constant, so sorting or thresholding by confidence ranks like the score.
pub fn confidence_of(score: f64) -> f64 {
    if score.is_nan() || score <= 0.0 {
        0.0
    } else if score.is_infinite() {
        1.0
    } else {
        score / (score + 2.0)
    }
}

/// Upper-case the first letter (`spike` → `Spike`), for titles.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A number for people: `1.2k`, `3.40M`, `n/a`.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
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
    /// Nothing in the first half of the history before the evaluated buckets, in a family that
    /// measures an entity's whole activity (a new principal, host or domain): without a settled
    /// baseline there is no normal to deviate from.
    NewEntity,
}

impl SkipReason {
    /// The reason's name as the manifest counts it (`too_short`, `constant`, `non_finite`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

/// The interface every detector implements.
pub trait Detector: Send + Sync {
    /// The name given in the job file.
    fn name(&self) -> &str;
    /// Look at one series.
    fn detect(&self, series: &Series, ctx: &SeriesContext) -> Result<Vec<Anomaly>, SkipReason>;

    /// [`Detector::detect`], and what the detector carries to the next night for this series
    /// (given what it carried from the last one in `ctx.period_before`). The default carries
    /// nothing; a seasonal detector that detects its period carries it ([`PeriodState`]).
    fn detect_carrying(&self, series: &Series, ctx: &SeriesContext) -> (Result<Vec<Anomaly>, SkipReason>, Option<PeriodState>) {
        (self.detect(series, ctx), None)
    }

    /// True when [`Detector::detect_carrying`] carries state from night to night.
    fn carries_state(&self) -> bool {
        false
    }

    /// Choose among everything the detector found in one series family, e.g. control the false
    /// discoveries across its series. `found` pairs a series index with an anomaly; `judged` is
    /// the number of series the detector judged (the number of tests per evaluated window). The
    /// default keeps everything.
    fn select(&self, found: Vec<(usize, Anomaly)>, judged: usize) -> Vec<(usize, Anomaly)> {
        let _ = judged;
        found
    }
}

/// Common input checks: length, constant, non-finite. Negative values are kept (a series of
/// deltas may be negative) but NaN/inf make the series unusable.
pub fn precheck(values: &[f64], ctx: &SeriesContext, seasons: usize) -> Result<(), SkipReason> {
    precheck_with(values, ctx, seasons, ctx.min_history.min(values.len()) / 2)
}

/// [`precheck`] with the number of non-zero buckets a series needs stated by the caller (a
/// detector whose law is made for sparse series asks for fewer).
pub fn precheck_with(values: &[f64], ctx: &SeriesContext, seasons: usize, min_with_data: usize) -> Result<(), SkipReason> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(SkipReason::NonFinite);
    }
    let with_data = values.iter().filter(|v| **v != 0.0).count();
    if values.len() < ctx.min_history.max(seasons * ctx.bucket.short_period()) || with_data < min_with_data {
        return Err(SkipReason::TooShort);
    }
    let first = values[0];
    if values.iter().all(|v| *v == first) {
        return Err(SkipReason::Constant);
    }
    Ok(())
}

#[cfg(test)]
mod bad_input {
    //! Every detector and method against the inputs a lake produces on a bad day. The rule: a
    //! result or a [`SkipReason`], never a panic, never a finding made of garbage.
    use super::*;

    /// Every detector type and method the job file can name.
    fn detectors() -> Vec<(&'static str, Box<dyn Detector>)> {
        let cfgs = [
            ("seasonal_iqr classical", "type = \"seasonal_iqr\""),
            (
                "seasonal_iqr multiplicative",
                "type = \"seasonal_iqr\"\ndecomp = \"multiplicative\"\ndirections = [\"spike\", \"dip\"]",
            ),
            (
                "seasonal_iqr mstl",
                "type = \"seasonal_iqr\"\ndecomposition = \"mstl\"\ndirections = [\"spike\", \"dip\"]",
            ),
            ("seasonal_iqr periodogram", "type = \"seasonal_iqr\"\ndetect_period = true"),
            (
                "seasonal_iqr mstl periodogram",
                "type = \"seasonal_iqr\"\ndecomposition = \"mstl\"\ndetect_period = true",
            ),
            ("cusum", "type = \"cusum\""),
            ("cusum bocpd", "type = \"cusum\"\nmethod = \"bocpd\""),
            ("trend", "type = \"trend\""),
            ("trend non-seasonal", "type = \"trend\"\nseasonal = false"),
        ];
        cfgs.iter()
            .map(|(name, t)| {
                let c: DetectorConfig = toml::from_str(t).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(c.validate().is_empty(), "{name}: {:?}", c.validate());
                (*name, c.build(name))
            })
            .collect()
    }

    fn base(n: usize) -> Vec<f64> {
        (0..n).map(|i| 50.0 + 10.0 * ((i % 7) as f64) + ((i * 13) % 5) as f64).collect()
    }

    /// (case, values, the skip every detector must give, if one is required).
    fn cases() -> Vec<(&'static str, Vec<f64>, Option<SkipReason>)> {
        let mut nan = base(60);
        nan[30] = f64::NAN;
        let mut inf = base(60);
        inf[59] = f64::INFINITY;
        let mut neg_inf = base(60);
        neg_inf[0] = f64::NEG_INFINITY;
        let negative: Vec<f64> = base(60).iter().map(|v| v - 200.0).collect();
        let mut mixed_sign = base(60);
        for (i, v) in mixed_sign.iter_mut().enumerate() {
            if i % 3 == 0 {
                *v = -*v;
            }
        }
        let huge: Vec<f64> = base(60).iter().map(|v| v * 1e300).collect();
        let tiny: Vec<f64> = base(60).iter().map(|v| v * 1e-300).collect();
        // A series that was all gaps but one bucket (gaps are filled with 0 by the series stage).
        let mut one_event = vec![0.0; 60];
        one_event[45] = 7.0;
        // A step from zero: a source that started logging mid-window.
        let step: Vec<f64> = (0..60).map(|i| if i < 40 { 0.0 } else { 100.0 + (i % 3) as f64 }).collect();
        vec![
            ("empty", vec![], Some(SkipReason::TooShort)),
            ("one point", vec![5.0], Some(SkipReason::TooShort)),
            ("shorter than two seasons", base(13), Some(SkipReason::TooShort)),
            ("constant", vec![4.0; 60], Some(SkipReason::Constant)),
            ("all zero (all gaps)", vec![0.0; 60], None),
            ("NaN", nan, Some(SkipReason::NonFinite)),
            ("+inf", inf, Some(SkipReason::NonFinite)),
            ("-inf", neg_inf, Some(SkipReason::NonFinite)),
            ("negative", negative, None),
            ("mixed sign", mixed_sign, None),
            ("huge", huge, None),
            ("tiny", tiny, None),
            ("one event in a sea of gaps", one_event, None),
            ("step from zero", step, None),
        ]
    }

    #[test]
    fn every_detector_gives_a_result_or_a_reason_on_bad_input() {
        for (dname, det) in detectors() {
            for (case, values, must_skip) in cases() {
                let n = values.len();
                let s = Series {
                    key: vec![Some("k".into()), None],
                    start_ms: 0,
                    values,
                };
                let ctx = SeriesContext {
                    bucket: Bucket::Day,
                    eval: n.saturating_sub(7)..n,
                    min_history: 14,
                    values: crate::series::Values::Infer,
                    fleet: Default::default(),
                    period_before: None,
                };
                let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| det.detect(&s, &ctx)));
                let got = got.unwrap_or_else(|_| panic!("{dname} panicked on {case}"));
                match (must_skip, &got) {
                    (Some(want), Err(r)) => assert_eq!(*r, want, "{dname} on {case}"),
                    (Some(want), Ok(a)) => panic!("{dname} on {case}: expected skip {want:?}, got {a:?}"),
                    (None, Ok(found)) => {
                        for a in found {
                            // Whatever is reported is finite and inside the evaluated range.
                            assert!(a.start < a.end && ctx.eval.contains(&a.start), "{dname} on {case}: {a:?}");
                            for v in [a.observed, a.expected, a.score, a.confidence, a.deviation] {
                                assert!(!v.is_nan(), "{dname} on {case}: NaN in {a:?}");
                            }
                            assert!((0.0..=1.0).contains(&a.confidence), "{dname} on {case}: {a:?}");
                        }
                    }
                    (None, Err(_)) => {} // a skip is defined behaviour too; it is counted by the run
                }
            }
        }
    }

    #[test]
    fn the_step_from_zero_is_seen_by_the_changepoint_methods() {
        // Not just "no panic": on the step, both changepoint methods report an increase at bucket 40.
        let step: Vec<f64> = (0..60).map(|i| if i < 40 { 0.0 } else { 100.0 + (i % 3) as f64 }).collect();
        for (dname, det) in detectors().into_iter().filter(|(n, _)| n.starts_with("cusum")) {
            let s = Series {
                key: vec![],
                start_ms: 0,
                values: step.clone(),
            };
            let ctx = SeriesContext {
                bucket: Bucket::Day,
                eval: 35..60,
                min_history: 14,
                values: crate::series::Values::Infer,
                fleet: Default::default(),
                period_before: None,
            };
            let a = det.detect(&s, &ctx).unwrap();
            assert!(
                a.iter().any(|a| a.kind == "increase" && a.start.abs_diff(40) <= 1),
                "{dname}: {a:?}"
            );
        }
    }
}
