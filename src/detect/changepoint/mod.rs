//! Level shifts (change points in the mean), with Kats `CUSUMDetector` semantics.
//!
//! `type = "cusum"`. The math is [`cusum::cusum`] (Kats' single change per direction, which
//! is what the AWS changepoint notebook runs) and [`cusum::cusum_multi`] (best-first binary
//! segmentation over the same test, lakesight's extension). The second method, `method = "bocpd"`,
//! is Bayesian online change point detection (Adams & MacKay 2007, [`bocpd`]) with the run-length
//! posterior read directly, so a change at the newest bucket can be reported.
//!
//! How a change point becomes an anomaly. Kats reports index c = the **last bucket of the old
//! regime**; the new regime starts at c + 1. The runtime judges each analysed day on the series cut
//! at that day's end. With `confirm_buckets = k` a change is reported once the new regime has k
//! buckets, i.e. exactly when bucket c + k lies in the evaluated range — on the night the k-th
//! bucket of the new regime arrives, and never again — and its evidence names the onset c + 1
//! (`new_regime`, `onset_bucket`). k = 1 (the default, Kats' behaviour) reports on the night the
//! shift starts, when one bucket of the new regime cannot yet be told from a spike; k > 1 waits
//! for confirmation. The anomaly covers the one confirming bucket; observed = mean of the new
//! regime, expected = mean of the old regime, band = old mean ± old regime's standard deviation.
//! Beyond Kats' `threshold`, a change spends the false-finding budget: its score must reach
//! 3 − log10(`false_findings_per_1000`), as the outlier detector's does.
//!
//! Modes:
//! - `max_points = 1`: Kats exactly ([`cusum`]): at most one change per direction over the whole cut
//!   series, means and statistics as Kats reports them; `min_segment` is not used.
//! - `max_points > 1` (default 3): [`cusum_multi`] splits the history into regimes of at least
//!   `min_segment` buckets each; then the **newest regime** (after the last split, up to the end of
//!   the cut series) is tested once more with Kats' test where only the old side needs
//!   `min_segment` buckets. Without that last test a shift could only be found once `min_segment`
//!   buckets of the new regime exist, i.e. never on the night it starts with daily buckets (and the
//!   runtime only reports what starts in the evaluated day). The newest regime is therefore allowed
//!   to be as short as one bucket, like in Kats; such a fresh "shift" of one bucket cannot be told
//!   apart from a spike yet, which is why `min_rel_change` and Kats' `delta_std_ratio` also apply.
//!   Means are recomputed between neighbouring change points (so mu0 is the old regime, not the
//!   whole segment the split was found in); llr and p are those of the segment test.
//!
//! On top of Kats, documented as lakesight's own gate: |mu1 − mu0| / max(|mu0|, 1) must reach
//! `min_rel_change` (default 0.5), so a shift from 2 to 3 findings a day is not a finding.

pub mod bocpd;
pub mod cusum;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{confidence_of, fmt_num, precheck, Anomaly, Detector, Evidence, Overlay, SeriesContext, Severity, SkipReason, Subject};
use crate::series::Series;
use cusum::{cusum, cusum_multi, ChangePoint, CusumParams, Direction};

/// Direction of a level shift, as Kats' `change_directions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeDirection {
    /// The mean goes up.
    Increase,
    /// The mean goes down.
    Decrease,
}

impl ChangeDirection {
    fn to_kats(self) -> Direction {
        match self {
            ChangeDirection::Increase => Direction::Increase,
            ChangeDirection::Decrease => Direction::Decrease,
        }
    }
}

/// Settings of `type = "cusum"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CusumConfig {
    /// Significance level: a change needs p < threshold, i.e. llr > −2·ln(threshold) (Kats 0.01).
    #[serde(default = "d_threshold")]
    pub threshold: f64,
    /// Maximum location iterations (Kats 10).
    #[serde(default = "d_max_iter")]
    pub max_iter: usize,
    /// |mu1 − mu0| must exceed the std of the history before the change times this (Kats 1.0).
    #[serde(default = "d_delta_std_ratio")]
    pub delta_std_ratio: f64,
    /// Minimum |mu1 − mu0| in the series' unit (Kats 0).
    #[serde(default)]
    pub min_abs_change: f64,
    /// Directions to test (Kats: both).
    #[serde(default = "d_directions")]
    pub directions: Vec<ChangeDirection>,
    /// Change points per cut series: 1 = Kats (one per direction); more = binary segmentation.
    #[serde(default = "d_max_points")]
    pub max_points: usize,
    /// Minimum buckets of every regime in binary segmentation (the newest regime excepted).
    #[serde(default = "d_min_segment")]
    pub min_segment: usize,
    /// Minimum |mu1 − mu0| / max(|mu0|, 1).
    #[serde(default = "d_min_rel_change")]
    pub min_rel_change: f64,
    /// `cusum` (Kats' CUSUM, with binary segmentation when `max_points` > 1) or `bocpd` (Bayesian
    /// online changepoint detection, Adams & MacKay 2007, run-length posterior read directly).
    #[serde(default)]
    pub method: ChangeMethod,
    /// BOCPD's expected run length between changes (the constant hazard is 1/λ); default 250.
    #[serde(default = "d_hazard_lambda")]
    pub hazard_lambda: f64,
    /// Buckets of the new regime needed before a change is reported (1 = on the night it
    /// starts). The finding is dated on the confirming bucket and names the onset.
    #[serde(default = "d_confirm")]
    pub confirm_buckets: usize,
    /// A change not yet significant on its confirming bucket is reported on the first later
    /// bucket where the whole new regime so far is, up to this many buckets after its onset
    /// (unset = `confirm_buckets`: only on the confirming bucket). A shift of a busy series to
    /// a level one confirming day cannot prove accumulates evidence day by day; each onset
    /// searched counts as one more test in the correction.
    #[serde(default)]
    pub accumulate_buckets: Option<usize>,
    /// Expected false findings per 1,000 entity-days judged: a change is reported only when its
    /// score (−log10 of its p-value after the correction over the buckets judged in the cut and
    /// the directions tested) is at least 3 − log10(budget). 1000 turns the gate off (Kats' `threshold` alone decides).
    #[serde(default = "d_budget")]
    pub false_findings_per_1000: f64,
}

fn d_confirm() -> usize {
    1
}

fn d_budget() -> f64 {
    1.0
}

/// How change points are located.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeMethod {
    /// Kats' CUSUM.
    #[default]
    Cusum,
    /// Bayesian online changepoint detection (Normal-Gamma prior on the standardised series).
    Bocpd,
}

fn d_hazard_lambda() -> f64 {
    250.0
}

fn d_threshold() -> f64 {
    0.01
}
fn d_max_iter() -> usize {
    10
}
fn d_delta_std_ratio() -> f64 {
    1.0
}
fn d_directions() -> Vec<ChangeDirection> {
    vec![ChangeDirection::Increase, ChangeDirection::Decrease]
}
fn d_max_points() -> usize {
    3
}
fn d_min_segment() -> usize {
    7
}
fn d_min_rel_change() -> f64 {
    0.5
}

impl Default for CusumConfig {
    fn default() -> Self {
        CusumConfig {
            threshold: d_threshold(),
            max_iter: d_max_iter(),
            delta_std_ratio: d_delta_std_ratio(),
            min_abs_change: 0.0,
            directions: d_directions(),
            max_points: d_max_points(),
            min_segment: d_min_segment(),
            min_rel_change: d_min_rel_change(),
            method: ChangeMethod::Cusum,
            hazard_lambda: d_hazard_lambda(),
            confirm_buckets: d_confirm(),
            accumulate_buckets: None,
            false_findings_per_1000: d_budget(),
        }
    }
}

impl CusumConfig {
    /// Problems, each starting with the field name.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            e.push(format!("threshold: {} must be a p-value within (0, 1)", self.threshold));
        }
        if !(self.false_findings_per_1000 > 0.0 && self.false_findings_per_1000 <= 1000.0) {
            e.push(format!(
                "false_findings_per_1000: {} must be within (0, 1000]",
                self.false_findings_per_1000
            ));
        }
        if !(1..=1000).contains(&self.max_iter) {
            e.push("max_iter: must be within 1..=1000".into());
        }
        if !(self.delta_std_ratio.is_finite() && self.delta_std_ratio >= 0.0) {
            e.push("delta_std_ratio: must be ≥ 0".into());
        }
        if !(self.min_abs_change.is_finite() && self.min_abs_change >= 0.0) {
            e.push("min_abs_change: must be ≥ 0".into());
        }
        if self.directions.is_empty() {
            e.push("directions: name at least one of \"increase\", \"decrease\"".into());
        }
        if !(1..=100).contains(&self.max_points) {
            e.push("max_points: must be within 1..=100".into());
        }
        if !(1..=10_000).contains(&self.min_segment) {
            e.push("min_segment: must be within 1..=10000".into());
        }
        if !(self.min_rel_change.is_finite() && self.min_rel_change >= 0.0) {
            e.push("min_rel_change: must be ≥ 0".into());
        }
        if !(1..=1000).contains(&self.confirm_buckets) {
            e.push(format!("confirm_buckets: {} must be within 1..=1000", self.confirm_buckets));
        }
        if let Some(a) = self.accumulate_buckets {
            if !(self.confirm_buckets..=1000).contains(&a) {
                e.push(format!(
                    "accumulate_buckets: {a} must be within confirm_buckets ({})..=1000",
                    self.confirm_buckets
                ));
            }
            if self.method == ChangeMethod::Bocpd {
                e.push("accumulate_buckets: only for method = \"cusum\" (BOCPD reads its regimes off the posterior)".into());
            }
        }
        if !(self.hazard_lambda.is_finite() && self.hazard_lambda > 1.0) {
            e.push(format!("hazard_lambda: {} must be a run length > 1", self.hazard_lambda));
        }
        e
    }

    fn params(&self) -> CusumParams {
        let mut directions: Vec<Direction> = Vec::new();
        for d in &self.directions {
            if !directions.contains(&d.to_kats()) {
                directions.push(d.to_kats());
            }
        }
        CusumParams {
            threshold: self.threshold,
            max_iter: self.max_iter,
            delta_std_ratio: self.delta_std_ratio,
            min_abs_change: self.min_abs_change,
            start_point: None,
            directions,
        }
    }
}

/// The runtime detector.
#[derive(Debug, Clone)]
pub struct Cusum {
    name: String,
    cfg: CusumConfig,
    params: CusumParams,
}

impl Cusum {
    /// Build from settings.
    pub fn new(name: &str, cfg: CusumConfig) -> Self {
        let params = cfg.params();
        Cusum {
            name: name.into(),
            cfg,
            params,
        }
    }

    /// Change points of the cut series with the bounds of their old and new regimes:
    /// `(cp, old regime start, new regime end (exclusive), method)`.
    fn change_points(&self, y: &[f64]) -> Vec<(ChangePoint, usize, usize, &'static str)> {
        let n = y.len();
        if self.cfg.method == ChangeMethod::Bocpd {
            return bocpd_points(y, self.cfg.hazard_lambda, self.cfg.delta_std_ratio, self.cfg.threshold);
        }
        if self.cfg.max_points <= 1 {
            // Kats: each change is a single-change model of the whole series.
            return cusum(y, &self.params).into_iter().map(|cp| (cp, 0, n, "kats_cusum")).collect();
        }
        let min_seg = self.cfg.min_segment.max(1);
        let mut cps = cusum_multi(y, &self.params, min_seg, self.cfg.max_points);
        // The newest regime: Kats' test on it, only the old side needs `min_segment` buckets.
        let tail_start = cps.last().map_or(0, |c| c.index + 1);
        let tail = &y[tail_start..];
        if tail.len() > min_seg {
            let fresh = cusum(tail, &self.params)
                .into_iter()
                .filter(|cp| cp.index + 1 >= min_seg)
                .max_by(|a, b| a.llr.total_cmp(&b.llr));
            if let Some(mut cp) = fresh {
                cp.index += tail_start;
                cps.push(cp);
            }
        }
        cps.sort_by_key(|c| c.index);
        let mut out = Vec::with_capacity(cps.len());
        for k in 0..cps.len() {
            let from = if k == 0 { 0 } else { cps[k - 1].index + 1 };
            let to = cps.get(k + 1).map_or(n, |c| c.index + 1);
            let mut cp = cps[k].clone();
            cp.mu0 = mean(&y[from..=cp.index]);
            cp.mu1 = mean(&y[cp.index + 1..to]);
            cp.delta = cp.mu1 - cp.mu0;
            out.push((cp, from, to, "cusum_binary_segmentation"));
        }
        out
    }
}

/// Bayesian online changepoint detection (Adams & MacKay 2007, [`bocpd`]) on the series
/// standardised by its own mean and standard deviation. The run-length posterior after the newest
/// bucket is read directly: when its most probable run (probability ≥ 0.5) is shorter than the
/// series, that run's first bucket is the change — the newest bucket included. The old regime is
/// the most probable run before it (the posterior of the series cut just before the change).
/// Each change is described like a CUSUM change point so the findings stage is the same: regime
/// means before and after, and a two-sample z-test of the means (Welch's standard error) as
/// p-value and LLR (= z²) — BOCPD itself yields run-length posteriors, not p-values.
fn bocpd_points(y: &[f64], hazard_lambda: f64, delta_std_ratio: f64, threshold: f64) -> Vec<(ChangePoint, usize, usize, &'static str)> {
    let n = y.len();
    let m = mean(y);
    let sd = pstd(y);
    if n < 3 || !(sd > 0.0) || !sd.is_finite() {
        return Vec::new();
    }
    let z: Vec<f64> = y.iter().map(|v| (v - m) / sd).collect();
    let map_run =
        |post: &[f64]| -> Option<(usize, f64)> { post.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, p)| (i + 1, *p)) };
    let Some((run, prob)) = map_run(&bocpd::run_length_posterior(&z, hazard_lambda)) else {
        return Vec::new();
    };
    if prob < 0.5 || run >= n {
        return Vec::new();
    }
    let first_new = n - run;
    let from = map_run(&bocpd::run_length_posterior(&z[..first_new], hazard_lambda)).map_or(0, |(l, _)| first_new - l);
    let (old, new) = (&y[from..first_new], &y[first_new..]);
    let (mu0, mu1) = (mean(old), mean(new));
    let (v0, v1) = (pstd(old).powi(2), pstd(new).powi(2));
    let se = (v0 / old.len() as f64 + v1 / new.len() as f64).sqrt();
    let delta = mu1 - mu0;
    if delta == 0.0 || delta.abs() <= delta_std_ratio * pstd(old) {
        return Vec::new();
    }
    let zt = if se > 0.0 { delta / se } else { f64::INFINITY.copysign(delta) };
    let p = crate::detect::stats::erfc(zt.abs() / std::f64::consts::SQRT_2);
    if p >= threshold {
        return Vec::new();
    }
    vec![(
        ChangePoint {
            index: first_new - 1,
            direction: if delta > 0.0 { Direction::Increase } else { Direction::Decrease },
            mu0,
            mu1,
            delta,
            llr: zt * zt,
            p_value: p,
            confidence: 1.0 - p,
            stable: true,
        },
        from,
        n,
        "bocpd",
    )]
}

/// The score of a change: −log10 of its p-value after a Bonferroni correction over the `tests`
/// made on the cut (each bucket judged, once per direction tested). For CUSUM the p-value is Kats' χ²₂ tail, exp(−llr / 2), so the score
/// is computed from the LLR and never saturates; BOCPD's is the two-sided normal tail of z = √llr.
fn surprise(p: f64, llr: f64, method: &str, tests: usize) -> f64 {
    let neg_log10_p = if method == "bocpd" {
        crate::detect::stats::neg_log10_normal_sf(llr.max(0.0).sqrt()) - std::f64::consts::LOG10_2
    } else if llr.is_finite() {
        llr.max(0.0) / (2.0 * std::f64::consts::LN_10)
    } else {
        -p.max(f64::MIN_POSITIVE).log10()
    };
    (neg_log10_p - (tests.max(1) as f64).log10()).max(0.0)
}

/// The score of a change in a count series under the count law: −log10 of the negative-binomial
/// tail of the new regime's total (as CUSUM delimited it: on a nightly cut, the buckets that
/// confirmed it) given the old regime's mean and
/// dispersion (NB2 by moments; each bucket's mean floored at [`stats::COUNT_FLOOR`] as the outlier
/// detector floors it), after the same Bonferroni correction. The change's score is the smaller of
/// this and the Gaussian one: CUSUM's LLR takes a sparse old regime's tiny variance at its word,
/// so two days of 2 findings after weeks of mostly none (Poisson noise around 0.2 a day: a total
/// of 4 has P ≈ 8e-4, and a night tests hundreds of such series) scored as a certain change.
/// The dispersion is never narrower than `fleet_alpha`, the median of the family's other
/// entities' ([`stats::FleetPrior`], as the outlier detector floors it): a sparse old regime of
/// zeros and ones cannot show overdispersion, so its own estimate is Poisson, and a weekly scan's
/// 2 and 5 on a Sunday and Monday (a gamma-mixed day rate, as finding counts are) scored 10^-4.
///
/// [`stats::FleetPrior`]: crate::detect::stats::FleetPrior
///
/// [`stats::COUNT_FLOOR`]: crate::detect::stats::COUNT_FLOOR
fn count_surprise(old: &[f64], new: &[f64], direction: Direction, tests: usize, fleet_alpha: f64) -> f64 {
    use crate::detect::stats::{ln_neg_binomial_tail, nb_dispersion, COUNT_FLOOR};
    if old.is_empty() || new.is_empty() {
        return f64::INFINITY;
    }
    let mu = mean(old).max(COUNT_FLOOR);
    let alpha = nb_dispersion(old, &vec![mu; old.len()], 0..old.len(), COUNT_FLOOR).max(fleet_alpha);
    let n = new.len() as f64;
    // The sum of n independent NB2(μ, α) buckets is NB2(nμ, α / n).
    let ln_tail = ln_neg_binomial_tail(new.iter().sum(), mu * n, alpha / n, matches!(direction, Direction::Decrease));
    (-ln_tail / std::f64::consts::LN_10 - (tests.max(1) as f64).log10()).max(0.0)
}

fn mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    a.iter().sum::<f64>() / a.len() as f64
}

/// Population standard deviation (numpy's default ddof = 0).
fn pstd(a: &[f64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let m = mean(a);
    (a.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / a.len() as f64).sqrt()
}

/// The evidence of a change point: the two regimes, their means and the test.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeEvidence {
    /// `cusum`, `cusum_binary_segmentation` or `bocpd`.
    pub method: &'static str,
    /// The last bucket of the old regime (Kats' index).
    pub index: usize,
    /// Mean of the old regime.
    pub mu0: f64,
    /// Mean of the new regime.
    pub mu1: f64,
    /// Log-likelihood ratio of the change.
    pub llr: f64,
    /// Its p-value.
    pub p_value: f64,
    /// Population standard deviation of the old regime.
    pub std_old: f64,
    /// |mu1 − mu0| / max(|mu0|, 1).
    pub relative_change: f64,
    /// Buckets `[from, to)` of the old regime.
    pub old_regime: [usize; 2],
    /// Buckets `[from, to)` of the new regime.
    pub new_regime: [usize; 2],
    /// The first bucket of the new regime (the onset; the finding is dated on the confirming
    /// bucket `onset_bucket + confirmed_after − 1`).
    pub onset_bucket: usize,
    /// Buckets of the new regime seen before the change was reported.
    pub confirmed_after: usize,
    /// Whether the location was stable over the iterations.
    pub stable: bool,
    /// The p-value threshold.
    pub threshold: f64,
    /// The unit of the finding's deviation.
    pub deviation_unit: &'static str,
    /// How `index` relates to the finding's window.
    pub index_semantics: &'static str,
}

impl Evidence for ChangeEvidence {
    fn family(&self) -> &'static str {
        "changepoint"
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Old-regime standard deviations: 2 Low, 5 Medium, 10 High.
    fn severity(&self, a: &Anomaly) -> Severity {
        Severity::graded(a.deviation, (10.0, 5.0, 2.0))
    }

    fn title(&self, a: &Anomaly, s: &Subject<'_>) -> String {
        format!(
            "Level {} in {}: {} → {} per {} for {} {}",
            a.kind,
            s.measure,
            fmt_num(a.expected),
            fmt_num(a.observed),
            s.bucket,
            s.entity_type,
            s.entity
        )
    }

    fn regimes(&self) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        Some((self.old_regime[0]..self.old_regime[1], self.new_regime[0]..self.new_regime[1]))
    }

    fn overlay(&self) -> Overlay {
        Overlay::ChangeAt
    }
}

impl Detector for Cusum {
    fn name(&self) -> &str {
        &self.name
    }

    fn detect(&self, s: &Series, ctx: &SeriesContext) -> Result<Vec<Anomaly>, SkipReason> {
        self.judge(&s.values, ctx, true)
    }
}

impl Cusum {
    /// The changes reported in `ctx.eval` of `values`. With `earlier`, a change is not reported
    /// on a night when one of the nights since its onset (judged on its own cut) already
    /// reported a change of the same direction: CUSUM may place one onset a bucket apart on two
    /// consecutive cuts, and the rise would otherwise be reported on both nights.
    fn judge(&self, values: &[f64], ctx: &SeriesContext, earlier: bool) -> Result<Vec<Anomaly>, SkipReason> {
        let y = &values[..ctx.eval.end.min(values.len())];
        precheck(y, ctx, 1)?;
        if y.len() < 3 {
            return Err(SkipReason::TooShort);
        }
        if ctx.eval.start >= y.len() {
            return Ok(Vec::new());
        }
        let non_negative = y.iter().all(|v| *v >= 0.0);
        let counts = non_negative
            && y.iter().all(|v| v.fract() == 0.0)
            && matches!(ctx.values, crate::series::Values::Infer | crate::series::Values::Counts);
        let mut out = Vec::new();
        let k = self.cfg.confirm_buckets.max(1);
        let last_k = self.cfg.accumulate_buckets.unwrap_or(k).max(k);
        // Every bucket judged in the cut is tested once per direction, and once per onset
        // searched behind it.
        let tests = ctx.eval.len() * self.params.directions.len().max(1) * (last_k - k + 1);
        let gate = 3.0 - self.cfg.false_findings_per_1000.log10();
        for (cp, from, to, method) in self.change_points(y) {
            let first_new = cp.index + 1;
            let to = to.min(y.len());
            let old = &y[from..first_new];
            let (kind, right_way) = match cp.direction {
                Direction::Increase => ("increase", cp.mu1 > cp.mu0),
                Direction::Decrease => ("decrease", cp.mu1 < cp.mu0),
            };
            if !right_way {
                continue; // recomputed regime means disagree with the tested direction
            }
            // The new regime as it stood at bucket `at` (the night that judged `at` saw it so):
            // its mean, relative change and score, when it passes every gate.
            // Without accumulation, the regime as the cut delimits it (Kats' segment test).
            let whole = |at: usize| at + 1 == to || last_k == k;
            let judged_at = |at: usize| -> Option<(f64, f64, f64)> {
                let new = if whole(at) { &y[first_new..to] } else { &y[first_new..=at] };
                let (mu1, llr) = if whole(at) {
                    (cp.mu1, cp.llr)
                } else {
                    let mu1 = mean(new);
                    let llr = cusum::cusum_llr(&y[from..=at], cp.mu0, mu1, cp.index - from);
                    if !(llr > crate::detect::stats::chi2_2_isf(self.cfg.threshold)) {
                        return None;
                    }
                    (mu1, llr)
                };
                let delta = mu1 - cp.mu0;
                let right = match cp.direction {
                    Direction::Increase => delta > 0.0,
                    Direction::Decrease => delta < 0.0,
                };
                let rel = delta.abs() / cp.mu0.abs().max(1.0);
                if !right || rel < self.cfg.min_rel_change {
                    return None;
                }
                let p = if whole(at) { cp.p_value } else { (-llr / 2.0).exp() };
                // Counts: the smaller of CUSUM's Gaussian score and the count law's. The count
                // law alone finds more shifts (9–10 of 20 at strength 2 against 3 on the quality
                // benchmark) but gave 1.79 false changes per 1,000 series-days on benign lakes,
                // over the budget, also with the old mean's estimation error in its variance
                // (benches/quality/results-2026-12-07-level-shifts.md).
                let mut score = surprise(p, llr, method, tests);
                if counts {
                    score = score.min(count_surprise(old, new, cp.direction, tests, ctx.fleet.alpha));
                }
                (score >= gate).then_some((mu1, rel, score))
            };
            // Reported on the first bucket, from the one that confirms the new regime (the onset
            // itself when k = 1) to `accumulate_buckets` after the onset, where the regime so far
            // passes; a night whose cut shows it passing earlier leaves it to that night.
            let first_at = first_new + k - 1;
            let last_at = if last_k == k {
                first_at
            } else {
                (first_new + last_k - 1).min(to.saturating_sub(1))
            };
            if first_at >= y.len() {
                continue;
            }
            let Some((at, (mu1, rel, score))) = (first_at..=last_at).find_map(|at| judged_at(at).map(|j| (at, j))) else {
                continue;
            };
            if !ctx.eval.contains(&at) {
                continue;
            }
            if earlier {
                // The nights from the onset's eve up to the one before this.
                let seen = (first_new.saturating_sub(1)..at).any(|night| {
                    let c = SeriesContext {
                        eval: night..night + 1,
                        ..ctx.clone()
                    };
                    self.judge(&y[..=night], &c, false).is_ok_and(|a| a.iter().any(|a| a.kind == kind))
                });
                if seen {
                    continue;
                }
            }
            let delta = mu1 - cp.mu0;
            let std_old = pstd(old);
            let lower = cp.mu0 - std_old;
            out.push(Anomaly {
                start: at,
                end: at + 1,
                observed: mu1,
                expected: cp.mu0,
                lower: if non_negative { lower.max(0.0) } else { lower },
                upper: cp.mu0 + std_old,
                score,
                confidence: confidence_of(score),
                // Floor the scale at a Poisson-like sqrt(max(mu0, 1)) so a shift off a flat regime
                // (all zeros) is not rated infinitely many standard deviations away.
                deviation: delta / std_old.max(cp.mu0.abs().max(1.0).sqrt()),
                kind,
                evidence: Arc::new(ChangeEvidence {
                    method,
                    index: cp.index,
                    mu0: cp.mu0,
                    mu1,
                    llr: cp.llr,
                    p_value: cp.p_value,
                    std_old,
                    relative_change: rel,
                    old_regime: [from, cp.index + 1],
                    new_regime: [first_new, if whole(at) { to } else { at + 1 }],
                    onset_bucket: first_new,
                    confirmed_after: at + 1 - first_new,
                    stable: cp.stable,
                    threshold: self.cfg.threshold,
                    deviation_unit: "(mu1 − mu0) / max(std_old, sqrt(max(|mu0|, 1)))",
                    index_semantics: "index = last bucket of the old regime (Kats); the finding is the confirming bucket onset_bucket + confirmed_after − 1",
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

    /// Deterministic Poisson-like counts: Knuth's method driven by a 64-bit LCG.
    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn poisson(&mut self, lambda: f64) -> f64 {
            let l = (-lambda).exp();
            let mut k = 0.0;
            let mut p = 1.0;
            loop {
                p *= self.uniform();
                if p <= l {
                    return k;
                }
                k += 1.0;
            }
        }
    }

    fn levels(seed: u64, parts: &[(usize, f64)]) -> Vec<f64> {
        let mut g = Lcg(seed);
        parts
            .iter()
            .flat_map(|(len, lam)| (0..*len).map(|_| g.poisson(*lam)).collect::<Vec<_>>())
            .collect()
    }

    fn series(values: Vec<f64>) -> Series {
        Series {
            key: vec![Some("k".into())],
            start_ms: 0,
            values,
        }
    }

    fn ctx(eval: std::ops::Range<usize>) -> SeriesContext {
        SeriesContext {
            bucket: Bucket::Day,
            eval,
            min_history: 14,
            values: crate::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        }
    }

    /// The runtime's loop: each day judged on the series cut at its end.
    fn nightly(d: &Cusum, y: &[f64], from: usize) -> Vec<Anomaly> {
        let mut all = Vec::new();
        for day in from..y.len() {
            let cut = series(y[..day + 1].to_vec());
            all.extend(d.detect(&cut, &ctx(day..day + 1)).unwrap());
        }
        all
    }

    #[test]
    fn a_level_shift_is_found_at_its_first_new_bucket() {
        let y = levels(7, &[(45, 20.0), (15, 60.0)]);
        for max_points in [1, 3] {
            let d = Cusum::new(
                "c",
                CusumConfig {
                    max_points,
                    ..Default::default()
                },
            );
            let a = d.detect(&series(y.clone()), &ctx(40..60)).unwrap();
            assert_eq!(a.len(), 1, "max_points {max_points}: {a:?}");
            assert_eq!((a[0].start, a[0].end, a[0].kind), (45, 46, "increase"));
            assert_eq!(a[0].details()["index"], 44);
            assert!(a[0].observed > 50.0 && a[0].expected < 25.0, "{a:?}");
            assert!(a[0].lower < a[0].expected && a[0].expected < a[0].upper);
            assert!(
                a[0].details()["llr"].as_f64().unwrap() > 9.21 && a[0].score > 2.0 && a[0].confidence > 0.5,
                "{:?}",
                a[0]
            );
            assert!(a[0].deviation > 5.0, "{}", a[0].deviation);
            // The shift lies before the evaluated range: nothing.
            assert!(d.detect(&series(y.clone()), &ctx(50..60)).unwrap().is_empty());
        }
    }

    #[test]
    fn nightly_runs_report_a_shift_once_on_the_night_it_starts() {
        let y = levels(11, &[(40, 20.0), (20, 90.0)]);
        for max_points in [1, 3] {
            let d = Cusum::new(
                "c",
                CusumConfig {
                    max_points,
                    ..Default::default()
                },
            );
            let a = nightly(&d, &y, 30);
            assert_eq!(a.len(), 1, "max_points {max_points}: {a:?}");
            assert_eq!((a[0].start, a[0].kind), (40, "increase"));
            // On its night the new regime is the one bucket observed.
            assert_eq!(a[0].observed, y[40]);
        }
        // A drop is seen the same way.
        let y = levels(12, &[(40, 80.0), (20, 10.0)]);
        let a = nightly(&Cusum::new("c", CusumConfig::default()), &y, 30);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!((a[0].start, a[0].kind), (40, "decrease"));
        assert!(a[0].deviation < -5.0);
    }

    /// Proves `accumulate_buckets`: a count series at 10 a day that moves to 17 a day is rarely
    /// significant on the night its second day confirms it (two days are not enough under the
    /// count law). Over 20 such series, with `accumulate_buckets = 7` at least 12 are reported and
    /// at least 1.5× as many as on the confirming night alone, each on one night only — the
    /// first whose cut shows the new regime so far significant, within 7 days of the onset —
    /// naming the onset and how many buckets confirmed it. Stationary series of the same rate
    /// stay within the false-finding budget.
    #[test]
    fn a_shift_too_small_for_two_days_is_reported_once_it_has_accumulated() {
        let cfg = |acc: Option<usize>| {
            Cusum::new(
                "c",
                CusumConfig {
                    confirm_buckets: 2,
                    accumulate_buckets: acc,
                    max_points: 3,
                    min_rel_change: 0.5,
                    ..Default::default()
                },
            )
        };
        let (plain, accumulating) = (cfg(None), cfg(Some(7)));
        let (mut found_plain, mut found) = (0, 0);
        for seed in 0..20 {
            let y = levels(300 + seed, &[(40, 10.0), (12, 17.0)]);
            found_plain += nightly(&plain, &y, 30).len().min(1);
            let a = nightly(&accumulating, &y, 30);
            assert!(a.len() <= 1, "seed {seed}: reported on several nights: {a:?}");
            if let Some(a) = a.first() {
                found += 1;
                let onset = a.details()["onset_bucket"].as_u64().unwrap() as usize;
                let after = a.details()["confirmed_after"].as_u64().unwrap() as usize;
                assert!((38..=42).contains(&onset), "seed {seed}: onset {onset}");
                assert!((2..=7).contains(&after) && a.start == onset + after - 1, "seed {seed}: {a:?}");
                assert!(a.observed > 13.0 && a.expected < 12.0, "{a:?}");
            }
        }
        eprintln!("found {found}/20 accumulating, {found_plain}/20 on the confirming night only");
        // Measured: 13/20 against 7/20. The misses are binary segmentation's: a spurious split of
        // the stationary baseline leaves the old regime a week long, too short to prove 17 vs 10.
        assert!(found >= 12, "accumulating found {found}/20");
        assert!(
            2 * found >= 3 * found_plain,
            "confirming night only: {found_plain}/20, accumulating {found}/20"
        );
        // Stationary series: false changes within the budget (1 per 1,000 series-nights; 200
        // series × 22 nights, so about 4 expected at the budget, and a bound of 9 that a
        // calibrated detector exceeds with probability < 1%).
        let mut false_changes = 0;
        for seed in 0..200 {
            let y = levels(400 + seed, &[(52, 10.0)]);
            false_changes += nightly(&accumulating, &y, 30).len();
        }
        eprintln!("{false_changes} false changes in 4,400 stationary series-nights");
        assert!(false_changes <= 9, "{false_changes} false changes in 4,400 series-nights");
    }

    /// The benign false findings the count law removes (the quality benchmark's, 2025 seeds 20–29):
    /// after weeks of a finding type at ~0.2 a day, two days of 2 are Poisson noise, not a level
    /// shift, though CUSUM's Gaussian LLR over the sparse old regime calls them certain. The same
    /// shift on a busier series (mean 3 → 12) is still found, with two buckets of confirmation.
    #[test]
    fn a_sparse_count_series_does_not_shift_on_two_busy_days() {
        let d = Cusum::new(
            "c",
            CusumConfig {
                confirm_buckets: 2,
                max_points: 3,
                min_rel_change: 1.0,
                ..Default::default()
            },
        );
        let mut sparse = vec![0.0; 26];
        for i in [1, 4, 8, 11, 15, 19, 22] {
            sparse[i] = 1.0; // about 0.27 a day
        }
        sparse.extend([2.0, 2.0]);
        let c = ctx(27..28);
        let gaussian = d.change_points(&sparse);
        assert!(gaussian.iter().any(|(cp, ..)| cp.index == 25 && cp.llr > 20.0), "{gaussian:?}");
        assert!(d.detect(&series(sparse.clone()), &c).unwrap().is_empty());
        let mut busy = levels(5, &[(26, 3.0)]);
        busy.extend([12.0, 13.0]);
        let a = d.detect(&series(busy), &c).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!((a[0].start, a[0].details()["onset_bucket"].as_u64()), (27, Some(26)));
        // Amounts are not counts: the count law is not applied to them.
        let amounts = SeriesContext {
            values: crate::series::Values::Amounts,
            ..ctx(27..28)
        };
        assert_eq!(d.detect(&series(sparse), &amounts).unwrap().len(), 1);
    }

    #[test]
    fn a_stationary_count_series_gives_nothing() {
        for seed in 1..=5 {
            let y = levels(seed, &[(60, 20.0)]);
            for max_points in [1, 3] {
                let d = Cusum::new(
                    "c",
                    CusumConfig {
                        max_points,
                        ..Default::default()
                    },
                );
                let a = nightly(&d, &y, 20);
                assert!(a.is_empty(), "seed {seed}, max_points {max_points}: {a:?}");
                assert!(d.detect(&series(y.clone()), &ctx(0..60)).unwrap().is_empty());
            }
        }
    }

    #[test]
    fn binary_segmentation_finds_several_shifts() {
        let y = levels(3, &[(30, 20.0), (30, 60.0), (30, 10.0)]);
        let d = Cusum::new("c", CusumConfig::default());
        let a = d.detect(&series(y.clone()), &ctx(0..90)).unwrap();
        let got: Vec<(usize, &str)> = a.iter().map(|a| (a.start, a.kind)).collect();
        assert_eq!(got, vec![(30, "increase"), (60, "decrease")], "{a:?}");
        assert!(a.iter().all(|a| a.details()["method"] == "cusum_binary_segmentation"));
        // Means are those of the neighbouring regimes.
        assert!((a[0].expected - 20.0).abs() < 3.0 && (a[0].observed - 60.0).abs() < 5.0, "{a:?}");
        assert!((a[1].expected - 60.0).abs() < 5.0 && (a[1].observed - 10.0).abs() < 3.0, "{a:?}");
        // Only what starts in the evaluated range.
        let late = d.detect(&series(y.clone()), &ctx(50..90)).unwrap();
        assert_eq!(late.iter().map(|a| a.start).collect::<Vec<_>>(), vec![60]);
        // Nightly: each shift once, on its night, whatever the history holds.
        let nights = nightly(&d, &y, 20);
        assert_eq!(nights.iter().map(|a| (a.start, a.kind)).collect::<Vec<_>>(), got);
        // Directions filter. With one direction the increase is tested against the mean of both
        // later regimes (35 against 20), which over 90 judged buckets does not spend the default
        // false-finding budget; the budget is lifted so that this checks the filter alone.
        let up = Cusum::new(
            "c",
            CusumConfig {
                directions: vec![ChangeDirection::Increase],
                false_findings_per_1000: 1000.0,
                ..Default::default()
            },
        );
        let a = up.detect(&series(y), &ctx(0..90)).unwrap();
        assert_eq!(a.iter().map(|a| a.kind).collect::<Vec<_>>(), vec!["increase"]);
    }

    #[test]
    fn small_relative_shifts_are_gated() {
        // 200 → 240 is significant for Kats but only a 20% change.
        let y = levels(5, &[(40, 200.0), (20, 240.0)]);
        let kats_like = Cusum::new(
            "c",
            CusumConfig {
                min_rel_change: 0.0,
                ..Default::default()
            },
        );
        assert_eq!(kats_like.detect(&series(y.clone()), &ctx(30..60)).unwrap().len(), 1);
        let d = Cusum::new("c", CusumConfig::default());
        assert!(d.detect(&series(y), &ctx(30..60)).unwrap().is_empty());
    }

    #[test]
    fn bad_series_are_skipped_and_config_is_checked() {
        let d = Cusum::new("c", CusumConfig::default());
        assert_eq!(d.detect(&series(vec![4.0; 30]), &ctx(29..30)).unwrap_err(), SkipReason::Constant);
        assert_eq!(
            d.detect(&series(vec![1.0, 5.0, 2.0]), &ctx(2..3)).unwrap_err(),
            SkipReason::TooShort
        );
        assert_eq!(d.detect(&series(vec![]), &ctx(0..0)).unwrap_err(), SkipReason::TooShort);
        let mut y = levels(2, &[(30, 20.0)]);
        y[10] = f64::NAN;
        assert_eq!(d.detect(&series(y.clone()), &ctx(29..30)).unwrap_err(), SkipReason::NonFinite);
        y[10] = f64::INFINITY;
        assert_eq!(d.detect(&series(y), &ctx(29..30)).unwrap_err(), SkipReason::NonFinite);
        // A short history with min_history 1 still never panics.
        let tiny = SeriesContext {
            bucket: Bucket::Day,
            eval: 0..3,
            min_history: 1,
            values: crate::series::Values::Infer,
            fleet: Default::default(),
            period_before: None,
        };
        let _ = d.detect(&series(vec![0.0, 0.0, 9.0]), &tiny);
        let _ = Cusum::new(
            "c",
            CusumConfig {
                max_points: 1,
                ..Default::default()
            },
        )
        .detect(&series(vec![0.0, 0.0, 9.0]), &tiny);

        assert!(CusumConfig::default().validate().is_empty());
        let bad = CusumConfig {
            threshold: 1.5,
            max_points: 0,
            directions: vec![],
            min_rel_change: -1.0,
            ..Default::default()
        };
        let e = bad.validate();
        for f in ["threshold:", "max_points:", "directions:", "min_rel_change:"] {
            assert!(e.iter().any(|m| m.starts_with(f)), "{f} in {e:?}");
        }
        let parsed: CusumConfig = toml::from_str("threshold = 0.001\ndirections = [\"increase\"]").unwrap();
        assert_eq!(parsed.directions, vec![ChangeDirection::Increase]);
        assert_eq!((parsed.max_points, parsed.min_segment), (3, 7));
        assert!(toml::from_str::<CusumConfig>("thresold = 0.1").is_err());
    }

    #[test]
    fn bocpd_finds_a_level_shift_and_stays_quiet_on_noise() {
        let d = Cusum::new(
            "cp",
            CusumConfig {
                method: ChangeMethod::Bocpd,
                ..CusumConfig::default()
            },
        );
        // 30 days at 5 a day, then 20 a day from day 30: judged on the whole series at once.
        let y = levels(11, &[(30, 5.0), (10, 20.0)]);
        let found = d.detect(&series(y.clone()), &ctx(20..40)).unwrap();
        assert!(
            found.iter().any(|a| a.kind == "increase" && (29..=31).contains(&a.start)),
            "{:?}",
            found.iter().map(|a| (a.start, a.kind)).collect::<Vec<_>>()
        );
        assert!(found.iter().all(|a| a.details()["method"] == "bocpd"));
        // The same noise without a shift: nothing.
        let flat = levels(11, &[(40, 5.0)]);
        assert!(d.detect(&series(flat), &ctx(20..40)).unwrap().is_empty());
        // Degenerate input: constant and NaN series are skipped, never a panic.
        assert!(d.detect(&series(vec![3.0; 40]), &ctx(20..40)).is_err());
        let mut nan = y;
        nan[5] = f64::NAN;
        let _ = d.detect(&series(nan), &ctx(20..40));
        let bad = CusumConfig {
            hazard_lambda: 0.5,
            ..CusumConfig::default()
        };
        assert!(bad.validate().iter().any(|e| e.starts_with("hazard_lambda")));
    }

    /// Issue "Detector decisions that rank", item 1: a clean step judged on the newest bucket.
    /// The step at the last index is reported at the last index; a step one bucket earlier is
    /// reported at that bucket (not one early), from the cut's end. And with `confirm_buckets = 2`
    /// the same step is reported one bucket later, on its confirming bucket, naming the onset.
    #[test]
    fn bocpd_reports_a_step_at_the_newest_bucket_and_one_before() {
        let d = Cusum::new(
            "cp",
            CusumConfig {
                method: ChangeMethod::Bocpd,
                ..CusumConfig::default()
            },
        );
        let base: Vec<f64> = (0..40).map(|i| 10.0 + ((i * 7) % 3) as f64).collect();
        for steps in [1usize, 2] {
            let mut y = base.clone();
            y.extend((0..steps).map(|k| 40.0 + k as f64));
            let n = y.len();
            let found = d.detect(&series(y), &ctx(n - 1..n)).unwrap();
            let onset = n - steps;
            if steps == 1 {
                assert_eq!(found.len(), 1, "step at the last index: {found:?}");
                assert_eq!((found[0].start, found[0].kind), (onset, "increase"));
            } else {
                // Judged on the newest bucket only, the onset (one before) is not in the window.
                assert!(found.is_empty(), "{found:?}");
                let found = d
                    .detect(&series(base.iter().copied().chain([40.0, 41.0]).collect()), &ctx(n - 2..n))
                    .unwrap();
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].start, onset, "placed one bucket early or late");
            }
        }
        let confirming = Cusum::new(
            "cp",
            CusumConfig {
                method: ChangeMethod::Bocpd,
                confirm_buckets: 2,
                ..CusumConfig::default()
            },
        );
        let mut y = base.clone();
        y.extend([40.0, 41.0]);
        let found = confirming.detect(&series(y), &ctx(41..42)).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].start, 41);
        assert_eq!(found[0].details()["onset_bucket"], 40);
        assert_eq!(found[0].details()["new_regime"], serde_json::json!([40, 42]));
        // Scores grade: a bigger step scores higher, and confidence is not a constant.
        let small = d
            .detect(&series(base.iter().copied().chain([30.0]).collect()), &ctx(40..41))
            .unwrap();
        let big = d
            .detect(&series(base.iter().copied().chain([80.0]).collect()), &ctx(40..41))
            .unwrap();
        assert!(small.len() == 1 && big.len() == 1, "{small:?} {big:?}");
        assert!(
            big[0].score > small[0].score && big[0].confidence > small[0].confidence,
            "{small:?} {big:?}"
        );
        assert!(big[0].confidence < 1.0);
    }
}
