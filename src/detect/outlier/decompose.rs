//! Kats `OutlierDetector` 0.2.0 and the statsmodels decomposition under it, re-implemented in plain
//! std Rust so lakesight reproduces the AWS sample notebooks' outlier flags without Python:
//!
//! * [`seasonal_decompose`]: classical decomposition by moving averages, exactly as statsmodels'
//!   `seasonal_decompose(..., extrapolate_trend="freq")` (the call Kats' `OutlierDetector` makes).
//! * [`kats_outliers`] / [`kats_outliers_with`]: Kats `OutlierDetector` 0.2.0 (seasonal strength,
//!   optional de-seasonalising, IQR fences on the residual), with the later "strict" fences as an
//!   option; [`iqr_fences`] is the part after the decomposition, shared with MSTL. [`fill_gaps`] is
//!   the gap filling that precedes it.
//!
//! Conventions as for every Kats re-implementation (see [`crate::detect`]): one series on a regular
//! grid, no panics (`None` instead). The parity script `benches/reference/kats_parity.py` compares
//! these functions with statsmodels and (when it installs) Kats 0.2.0 itself.

use crate::detect::stats::{all_finite, lstsq_line, np_mean, np_percentile_sorted, np_var};

// ---------------------------------------------------------------------------------------------
// seasonal decomposition (statsmodels)
// ---------------------------------------------------------------------------------------------

/// Additive (y = T + S + R) or multiplicative (y = T·S·R) classical decomposition, as
/// statsmodels' `model="additive" | "multiplicative"` and Kats' `decomp` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decomp {
    /// y = T + S + R.
    Additive,
    /// y = T · S · R (all values must be > 0).
    Multiplicative,
}

/// Components of [`seasonal_decompose`], each as long as the input (no NaN ends: the trend is
/// extrapolated as with `extrapolate_trend="freq"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    /// Centred moving average, ends extrapolated linearly.
    pub trend: Vec<f64>,
    /// Per-phase mean of the detrended series, centred, tiled over the series.
    pub seasonal: Vec<f64>,
    /// y − T − S (additive) or y / (S·T) (multiplicative).
    pub resid: Vec<f64>,
}

/// Classical seasonal decomposition by moving averages, exactly as statsmodels'
/// `seasonal_decompose(y, model, period=period, extrapolate_trend="freq")`, the call Kats'
/// `OutlierDetector` makes.
///
/// Why: it is the first step of the outlier rule the sample notebooks use; reproducing it exactly
/// makes lakesight's flags comparable with theirs.
///
/// * Trend: centred moving average of length `period` (weights 1/p; for an even p, p + 1 weights
///   [½, 1, …, 1, ½]/p), defined on indices p/2 ..= n−1−p/2 (integer division).
/// * Ends (`extrapolate_trend="freq"` means `period − 1`, and statsmodels then passes
///   `npoints = period` to `_extrapolate_trend`): the front is filled from a least-squares line
///   through the first `period` defined trend values (indices front .. front+p, capped at the last
///   defined index, exclusive); the back from a line through the `period` defined values *before*
///   the last defined one (indices back−p .. back, exclusive: statsmodels' slice leaves the last
///   defined point out of the back fit, and so does this). The reference text's "nearest p defined
///   points" is this; the off-by-one at the back is statsmodels', kept for parity.
/// * Seasonal: per-phase mean of the detrended series (y − T or y / T), centred by subtracting
///   (additive) or dividing by (multiplicative) the mean of the p phase means, tiled from index 0.
/// * Resid: y − T − S, or y / S / T.
///
/// Returns `None` when `period` is 0, n < 2·period (statsmodels raises; Kats then reports
/// nothing), any value is non-finite, a multiplicative model meets a value ≤ 0 (statsmodels
/// raises), or a component comes out non-finite (e.g. a multiplicative trend extrapolated to 0).
/// A period of 1 is accepted (trend = y, no extrapolation), as statsmodels does.
///
/// Numerics: the moving average is summed left to right like numpy's direct convolution, which
/// reproduces statsmodels' trend bit for bit in our parity runs (ties at the inclusive IQR fences
/// of count data depend on the last bit). The end-line fits are closed-form least squares (numpy
/// uses an SVD), so the extrapolated ends can differ in the last bits; on a flat stretch the fit is
/// exact, so a constant series gives identical residuals everywhere.
pub fn seasonal_decompose(y: &[f64], period: usize, model: Decomp) -> Option<Decomposition> {
    let n = y.len();
    let p = period;
    if p == 0 || n < 2usize.saturating_mul(p) || n == 0 || !all_finite(y) {
        return None;
    }
    if model == Decomp::Multiplicative && y.iter().any(|v| *v <= 0.0) {
        return None;
    }
    // Filter weights (statsmodels' default `filt`).
    let weights: Vec<f64> = if p.is_multiple_of(2) {
        let mut w = vec![1.0 / p as f64; p + 1];
        w[0] = 0.5 / p as f64;
        w[p] = 0.5 / p as f64;
        w
    } else {
        vec![1.0 / p as f64; p]
    };
    let half = p / 2;
    let front = half;
    let back = n - 1 - half; // n ≥ 2p > 2·half, so back ≥ front
    let mut trend = vec![f64::NAN; n];
    for (i, t) in trend.iter_mut().enumerate().take(back + 1).skip(front) {
        // Left-to-right accumulation from 0, as numpy's direct convolution does it (bit-identical
        // to statsmodels' trend on the parity corpus; it matters for ties at the IQR fences).
        let mut acc = 0.0;
        for (k, w) in weights.iter().enumerate() {
            acc += w * y[i + k - half];
        }
        *t = acc;
    }
    // extrapolate_trend = "freq" -> period - 1 -> _extrapolate_trend(trend, period) when > 0.
    if p > 1 {
        let npoints = p;
        let front_last = (front + npoints).min(back);
        let back_first = front.max(back.saturating_sub(npoints));
        let (k, b) = lstsq_line(front, &trend[front..front_last]);
        for (i, t) in trend.iter_mut().enumerate().take(front) {
            *t = i as f64 * k + b;
        }
        let (k, b) = lstsq_line(back_first, &trend[back_first..back]);
        for (i, t) in trend.iter_mut().enumerate().skip(back + 1) {
            *t = i as f64 * k + b;
        }
    }
    let detrended: Vec<f64> = match model {
        Decomp::Additive => y.iter().zip(&trend).map(|(a, t)| a - t).collect(),
        Decomp::Multiplicative => y.iter().zip(&trend).map(|(a, t)| a / t).collect(),
    };
    // seasonal_mean: pandas nanmean of detrended[i::p] (no NaN left after extrapolation).
    let mut averages: Vec<f64> = (0..p)
        .map(|ph| {
            let vals: Vec<f64> = detrended.iter().skip(ph).step_by(p).copied().collect();
            np_mean(&vals)
        })
        .collect();
    let centre = np_mean(&averages);
    match model {
        Decomp::Additive => averages.iter_mut().for_each(|a| *a -= centre),
        Decomp::Multiplicative => averages.iter_mut().for_each(|a| *a /= centre),
    }
    let seasonal: Vec<f64> = (0..n).map(|i| averages[i % p]).collect();
    let resid: Vec<f64> = match model {
        Decomp::Additive => detrended.iter().zip(&seasonal).map(|(d, s)| d - s).collect(),
        Decomp::Multiplicative => (0..n).map(|i| y[i] / seasonal[i] / trend[i]).collect(),
    };
    if !all_finite(&trend) || !all_finite(&seasonal) || !all_finite(&resid) {
        return None;
    }
    Some(Decomposition { trend, seasonal, resid })
}

// ---------------------------------------------------------------------------------------------
// outliers (Kats OutlierDetector 0.2.0)
// ---------------------------------------------------------------------------------------------

/// Fill missing buckets before detection: interior gaps by linear interpolation between the
/// neighbouring known values, leading/trailing gaps with the nearest known value. `None`, NaN and
/// ±∞ all count as missing.
///
/// Why: Kats `OutlierDetector` interpolates missing values before decomposing (pandas
/// `interpolate(method="polynomial", order=3, limit_direction="both")`, then `"linear"` for what
/// remains). We use linear interpolation only: a cubic through sparse count data overshoots
/// (negative counts, invented peaks), and for the sample's data — missing days inside a series'
/// span are already 0 — the difference does not arise. The edge fill equals pandas' linear
/// `limit_direction="both"` (np.interp clamps to the end values).
///
/// Returns a vector of the same length; if no value is known it is all NaN, which every detector
/// here rejects (`None`/empty), so the result is always safe to pass on.
pub fn fill_gaps(y: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<(usize, f64)> = y
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x)))
        .collect();
    let n = y.len();
    if known.is_empty() {
        return vec![f64::NAN; n];
    }
    let mut out = vec![0.0; n];
    let (first_i, first_v) = known[0];
    let (last_i, last_v) = known[known.len() - 1];
    for o in out.iter_mut().take(first_i) {
        *o = first_v;
    }
    for o in out.iter_mut().skip(last_i + 1) {
        *o = last_v;
    }
    for w in known.windows(2) {
        let (i0, v0) = w[0];
        let (i1, v1) = w[1];
        out[i0] = v0;
        let span = (i1 - i0) as f64;
        for (j, o) in out.iter_mut().enumerate().take(i1).skip(i0 + 1) {
            let t = (j - i0) as f64 / span;
            *o = v0 + (v1 - v0) * t;
        }
    }
    out[last_i] = last_v;
    out
}

/// Result of [`kats_outliers`]: flags plus everything needed to draw the band and explain a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierResult {
    /// Per bucket: the residual lies on or beyond a fence (beyond, when `strict`).
    pub is_outlier: Vec<bool>,
    /// Indices of the flagged buckets, ascending.
    pub outliers: Vec<usize>,
    /// Residual r = y' − T that the fences apply to (y' = y − S when seasonality was removed).
    pub resid: Vec<f64>,
    /// Expected value in the y scale: T + S when seasonality was removed, else T (so y = expected + r).
    pub expected: Vec<f64>,
    /// Lower fence in the y scale: expected + L.
    pub lower: Vec<f64>,
    /// Upper fence in the y scale: expected + U.
    pub upper: Vec<f64>,
    /// Kats' score (r − L)/(U − L): inside the band ⇔ 0 < score < 1. When U = L (IQR 0) it is
    /// 0.5 at the fence, 1.0 above and 0.0 below (Kats divides by zero there).
    pub score: Vec<f64>,
    /// Seasonal strength F = 1 − var(R)/var(y − T); `None` when var(y − T) is 0 (numpy: NaN).
    pub strength: Option<f64>,
    /// F ≥ 0.6: the seasonal component was subtracted before taking the residual.
    pub seasonality_removed: bool,
    /// 25th percentile of r (numpy's linear interpolation).
    pub q1: f64,
    /// 75th percentile of r.
    pub q3: f64,
    /// L = q1 − iqr_mult·(q3 − q1), on the residual scale.
    pub lower_limit: f64,
    /// U = q3 + iqr_mult·(q3 − q1), on the residual scale.
    pub upper_limit: f64,
    /// Whether the fences were applied strictly (r > U or r < L).
    pub strict: bool,
    /// The underlying statsmodels-style decomposition.
    pub decomposition: Decomposition,
}

/// Kats `OutlierDetector` 0.2.0 on one gap-free series, with its inclusive fences
/// (r ≥ U or r ≤ L). Same as [`kats_outliers_with`] with `strict = false`.
///
/// Why: this is the exact rule of the detector the AWS sample setup installs (defaults
/// `decomp="additive"`, `iqr_mult=3.0`, daily `period=7`), so lakesight's findings can be checked
/// against it. Its known weaknesses (one spike smears onto neighbours through the moving average;
/// a flat series is flagged everywhere with inclusive fences) are reproduced on purpose here;
/// use `strict = true` to avoid the second one.
pub fn kats_outliers(y: &[f64], period: usize, model: Decomp, iqr_mult: f64) -> Option<OutlierResult> {
    kats_outliers_with(y, period, model, iqr_mult, false)
}

/// Kats `OutlierDetector` (Kats 0.2.0 `__clean_ts__`), with a choice of inclusive (0.2.0) or
/// strict (later Kats) fences.
///
/// Steps: [`seasonal_decompose`] (`extrapolate_trend="freq"`); seasonal strength
/// F = 1 − var(R)/var(y − T) (population variances; for the multiplicative model Kats still uses
/// y − T here); if F ≥ 0.6, y' = y − S (Kats subtracts S for the multiplicative model too),
/// else y' = y; r = y' − T; q1, q3 = numpy linear percentiles of r; IQR = q3 − q1;
/// L = q1 − iqr_mult·IQR, U = q3 + iqr_mult·IQR; outlier when r ≥ U or r ≤ L (inclusive) or
/// r > U or r < L (`strict`).
///
/// Returns `None` exactly where [`seasonal_decompose`] does (period 0, fewer than 2·period points,
/// non-finite values, multiplicative with values ≤ 0) and for a non-finite `iqr_mult`. Fill gaps
/// with [`fill_gaps`] first.
pub fn kats_outliers_with(y: &[f64], period: usize, model: Decomp, iqr_mult: f64, strict: bool) -> Option<OutlierResult> {
    if !iqr_mult.is_finite() {
        return None;
    }
    let dec = seasonal_decompose(y, period, model)?;
    iqr_fences(y, dec, iqr_mult, strict, false)
}

/// The part of Kats' `OutlierDetector` after the decomposition: seasonal strength, residual,
/// IQR fences and scores, for any additive-style decomposition of `y` (classical from
/// [`seasonal_decompose`], or MSTL's trend + summed seasonal components). Returns `None` for a
/// non-finite residual or mismatched lengths. `always_remove_seasonality` skips Kats' strength test
/// (F ≥ 0.6) and always takes the residual without the seasonal component.
pub fn iqr_fences(y: &[f64], dec: Decomposition, iqr_mult: f64, strict: bool, always_remove_seasonality: bool) -> Option<OutlierResult> {
    let n = y.len();
    if dec.trend.len() != n || dec.seasonal.len() != n || dec.resid.len() != n || !iqr_mult.is_finite() {
        return None;
    }
    let detrend: Vec<f64> = y.iter().zip(&dec.trend).map(|(a, t)| a - t).collect();
    let var_detrend = np_var(&detrend);
    let var_rem = np_var(&dec.resid);
    let strength = if var_detrend > 0.0 && var_detrend.is_finite() && var_rem.is_finite() {
        Some(1.0 - var_rem / var_detrend)
    } else {
        None
    };
    let remove = always_remove_seasonality || matches!(strength, Some(f) if f >= 0.6);
    let resid: Vec<f64> = (0..n)
        .map(|i| {
            let yp = if remove { y[i] - dec.seasonal[i] } else { y[i] };
            yp - dec.trend[i]
        })
        .collect();
    if !all_finite(&resid) {
        return None;
    }
    let mut sorted = resid.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let q1 = np_percentile_sorted(&sorted, 25.0);
    let q3 = np_percentile_sorted(&sorted, 75.0);
    let iqr = q3 - q1;
    let lower_limit = q1 - iqr_mult * iqr;
    let upper_limit = q3 + iqr_mult * iqr;
    let width = upper_limit - lower_limit;
    let expected: Vec<f64> = (0..n)
        .map(|i| if remove { dec.trend[i] + dec.seasonal[i] } else { dec.trend[i] })
        .collect();
    let lower: Vec<f64> = expected.iter().map(|e| e + lower_limit).collect();
    let upper: Vec<f64> = expected.iter().map(|e| e + upper_limit).collect();
    let score: Vec<f64> = resid
        .iter()
        .map(|r| {
            if width != 0.0 && width.is_finite() {
                (r - lower_limit) / width
            } else if *r > upper_limit {
                1.0
            } else if *r < lower_limit {
                0.0
            } else {
                0.5
            }
        })
        .collect();
    let is_outlier: Vec<bool> = resid
        .iter()
        .map(|r| {
            if strict {
                *r > upper_limit || *r < lower_limit
            } else {
                *r >= upper_limit || *r <= lower_limit
            }
        })
        .collect();
    let outliers = is_outlier.iter().enumerate().filter_map(|(i, f)| f.then_some(i)).collect();
    Some(OutlierResult {
        is_outlier,
        outliers,
        resid,
        expected,
        lower,
        upper,
        score,
        strength,
        seasonality_removed: remove,
        q1,
        q3,
        lower_limit,
        upper_limit,
        strict,
        decomposition: dec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::changepoint::cusum::{cusum, cusum_multi, CusumParams};
    use crate::detect::stats::tests::{assert_all_close, close, lcg};
    use crate::detect::trend::mann_kendall::{mann_kendall, ols_slope, seasonal_mann_kendall, theil_sen};

    const D: [f64; 20] = [
        13.955,
        20.024,
        16.189999999999998,
        14.818,
        14.677,
        21.273,
        16.664,
        12.802,
        16.235,
        23.266,
        20.591,
        16.195,
        19.247,
        23.001,
        20.6,
        18.66,
        22.039,
        23.962,
        21.556,
        20.439,
    ];

    // statsmodels 0.13.5 seasonal_decompose(D, period=4, extrapolate_trend="freq")
    const D_P4_TREND: [f64; 20] = [
        16.223450000000007,
        16.325687500000004,
        16.337,
        16.583375,
        16.79875,
        16.605999999999998,
        16.54875,
        16.992625,
        17.732625,
        18.647624999999998,
        19.44825,
        19.791625,
        19.759625,
        20.068875000000002,
        20.726,
        21.195125,
        21.43475,
        21.776625,
        22.454550000000005,
        22.911225000000005,
    ];
    const D_P4_ADD_SEASONAL: [f64; 4] = [-1.0508131250000003, 3.728664375, 0.12571687500000056, -2.803568125000001];
    const D_P4_MUL_SEASONAL: [f64; 4] = [0.9349283201662066, 1.2062696640387405, 1.0070764403046484, 0.8517255754904044];
    const D_P7_TREND: [f64; 20] = [
        15.503551020408157,
        15.790295918367342,
        16.077040816326527,
        16.800142857142852,
        16.63542857142857,
        16.094142857142856,
        17.105,
        17.929714285714283,
        18.146571428571427,
        17.857142857142854,
        18.762428571428572,
        19.87642857142857,
        20.222857142857144,
        20.047571428571427,
        20.52914285714286,
        21.295,
        21.465285714285713,
        22.301892857142853,
        22.802540816326527,
        23.303188775510197,
    ];
    const D_P7_ADD_SEASONAL: [f64; 7] = [
        -2.14965257531584,
        -0.05213896987366432,
        2.0839936831875603,
        0.5543287172011668,
        -2.2433158406219627,
        0.4984205539358598,
        1.30836443148688,
    ];
    const D_P7_MUL_RESID_HEAD: [f64; 4] = [1.0327266597554734, 1.2531707574341377, 0.9063929429936821, 0.8673737586055195];
    const D_P7_ADD_RESID_TAIL: [f64; 3] = [1.1057784256559797, 0.9967750242954367, -3.3626093294460566];

    #[test]
    fn decompose_matches_statsmodels_even_period() {
        let d = seasonal_decompose(&D, 4, Decomp::Additive).unwrap();
        assert_all_close(&d.trend, &D_P4_TREND, 1e-12, "trend p=4");
        for i in 0..20 {
            assert!(close(d.seasonal[i], D_P4_ADD_SEASONAL[i % 4], 1e-12));
            assert!(close(d.resid[i], D[i] - d.trend[i] - d.seasonal[i], 1e-12));
        }
        let m = seasonal_decompose(&D, 4, Decomp::Multiplicative).unwrap();
        assert_all_close(&m.trend, &D_P4_TREND, 1e-12, "mult trend p=4");
        for i in 0..20 {
            assert!(close(m.seasonal[i], D_P4_MUL_SEASONAL[i % 4], 1e-12));
        }
    }

    #[test]
    fn decompose_matches_statsmodels_odd_period() {
        let d = seasonal_decompose(&D, 7, Decomp::Additive).unwrap();
        // Both extrapolated ends included: statsmodels' back fit leaves the last defined point out.
        assert_all_close(&d.trend, &D_P7_TREND, 1e-12, "trend p=7");
        for i in 0..20 {
            assert!(close(d.seasonal[i], D_P7_ADD_SEASONAL[i % 7], 1e-12));
        }
        assert_all_close(&d.resid[17..], &D_P7_ADD_RESID_TAIL, 1e-12, "resid tail");
        let m = seasonal_decompose(&D, 7, Decomp::Multiplicative).unwrap();
        assert_all_close(&m.resid[..4], &D_P7_MUL_RESID_HEAD, 1e-12, "mult resid head");
    }

    #[test]
    fn decompose_rejects_bad_input() {
        assert!(seasonal_decompose(&D[..13], 7, Decomp::Additive).is_none()); // < 2 cycles
        assert!(seasonal_decompose(&D[..14], 7, Decomp::Additive).is_some()); // exactly 2
        assert!(seasonal_decompose(&D, 0, Decomp::Additive).is_none());
        assert!(seasonal_decompose(&[], 7, Decomp::Additive).is_none());
        let mut nan = D.to_vec();
        nan[5] = f64::NAN;
        assert!(seasonal_decompose(&nan, 4, Decomp::Additive).is_none());
        nan[5] = f64::INFINITY;
        assert!(seasonal_decompose(&nan, 4, Decomp::Additive).is_none());
        let mut zero = D.to_vec();
        zero[3] = 0.0;
        assert!(seasonal_decompose(&zero, 4, Decomp::Multiplicative).is_none());
        assert!(seasonal_decompose(&zero, 4, Decomp::Additive).is_some());
        // period 1: trend = y, nothing seasonal
        let d = seasonal_decompose(&D, 1, Decomp::Additive).unwrap();
        assert_eq!(d.trend, D.to_vec());
        assert!(d.resid.iter().all(|r| *r == 0.0));
        // period 2 with the minimum length: the one-point least-squares fits must not break
        let d = seasonal_decompose(&[1.0, 3.0, 2.0, 5.0], 2, Decomp::Additive).unwrap();
        assert!(d.trend.iter().all(|t| t.is_finite()));
    }

    /// Series A of the reference: 84 days, weekly sine, LCG noise, spike of +25 at index 40.
    fn series_a() -> Vec<f64> {
        let u = lcg(84, 11);
        (0..84)
            .map(|i| {
                let s = 20.0 + 5.0 * (2.0 * std::f64::consts::PI * i as f64 / 7.0).sin() + 2.0 * (u[i] - 0.5);
                if i == 40 {
                    s + 25.0
                } else {
                    s
                }
            })
            .collect()
    }

    #[test]
    fn outliers_match_kats_020_on_reference_series() {
        // Kats 0.2.0 OutlierDetector(additive, 3.0) flags [37, 39, 40]: the spike at 40 and two
        // neighbours it drags through the 7-day moving average (the known smearing weakness).
        let y = series_a();
        let r = kats_outliers(&y, 7, Decomp::Additive, 3.0).unwrap();
        assert_eq!(r.outliers, vec![37, 39, 40]);
        assert!(r.seasonality_removed);
        assert!(close(r.strength.unwrap(), 0.6521073283495834, 1e-12));
        let want = [0.1177981030157611, -0.06531240907663687, 3.316476884495789, 0.11305111254011338];
        assert_all_close(&r.score[38..42], &want, 1e-9, "kats scores");
        // Multiplicative: Kats flags nothing (it subtracts a ratio-scale S; strength < 0.6 here).
        let m = kats_outliers(&y, 7, Decomp::Multiplicative, 3.0).unwrap();
        assert!(m.outliers.is_empty());
        let want = [0.4902038368030436, 0.3725865343227241, 0.8511527510466087, 0.35845182634010697];
        assert_all_close(&m.score[38..42], &want, 1e-9, "kats mult scores");
    }

    /// 70 days, weekly sine of amplitude 12, LCG noise of width 6, `spike` added at index 33.
    fn spiked(spike: f64) -> Vec<f64> {
        let u = lcg(70, 42);
        (0..70)
            .map(|i| {
                let base = 50.0 + 12.0 * (2.0 * std::f64::consts::PI * i as f64 / 7.0).sin() + 6.0 * (u[i] - 0.5);
                if i == 33 {
                    base + spike
                } else {
                    base
                }
            })
            .collect()
    }

    #[test]
    fn spike_in_seasonal_series_is_flagged_neighbours_are_not() {
        let k = 33;
        let y = spiked(30.0);
        for strict in [false, true] {
            let r = kats_outliers_with(&y, 7, Decomp::Additive, 3.0, strict).unwrap();
            assert!(r.is_outlier[k], "spike not flagged (strict={strict})");
            assert!(r.score[k] > 1.0);
            for j in (k - 5..=k + 5).filter(|j| *j != k) {
                assert!(!r.is_outlier[j], "neighbour {j} flagged (strict={strict}): {:?}", r.outliers);
            }
            assert!(r.seasonality_removed);
            // band and expected value are consistent in the y scale
            for (i, v) in y.iter().enumerate() {
                assert!(close(*v, r.expected[i] + r.resid[i], 1e-12));
                assert!(r.lower[i] < r.upper[i]);
            }
            assert!(y[k] > r.upper[k]);
        }
    }

    #[test]
    fn big_spike_lowers_strength_and_hides_itself_like_kats() {
        // The known Kats weakness, reproduced on purpose: a large spike drags the seasonal
        // strength below 0.6, the weekly pattern stays in the residual, inflates the IQR, and
        // the spike is not flagged.
        let r = kats_outliers(&spiked(60.0), 7, Decomp::Additive, 3.0).unwrap();
        assert!(r.strength.unwrap() < 0.6);
        assert!(!r.seasonality_removed);
        assert!(r.outliers.is_empty());
        assert!(r.score[33] < 1.0 && r.score[33] > 0.5);
    }

    #[test]
    fn constant_series_inclusive_flags_all_strict_none() {
        let y = vec![5.0; 28];
        let inc = kats_outliers(&y, 7, Decomp::Additive, 3.0).unwrap();
        assert_eq!(inc.outliers.len(), 28, "0.2.0 inclusive fences flag a flat series everywhere");
        assert_eq!(inc.strength, None);
        let strict = kats_outliers_with(&y, 7, Decomp::Additive, 3.0, true).unwrap();
        assert!(strict.outliers.is_empty());
        assert!(strict.score.iter().all(|s| *s == 0.5));
        let m = kats_outliers_with(&y, 7, Decomp::Multiplicative, 3.0, true).unwrap();
        assert!(m.outliers.is_empty());
    }

    #[test]
    fn outliers_reject_bad_input() {
        let mut y = series_a();
        assert!(kats_outliers(&y[..13], 7, Decomp::Additive, 3.0).is_none());
        assert!(kats_outliers(&[], 7, Decomp::Additive, 3.0).is_none());
        assert!(kats_outliers(&y, 7, Decomp::Additive, f64::NAN).is_none());
        y[10] = f64::NAN;
        assert!(kats_outliers(&y, 7, Decomp::Additive, 3.0).is_none());
    }

    #[test]
    fn fill_gaps_linear_inside_nearest_at_edges() {
        let y = [None, Some(1.0), None, None, Some(4.0), Some(f64::NAN), Some(6.0), None];
        assert_eq!(fill_gaps(&y), vec![1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0]);
        assert!(fill_gaps(&[]).is_empty());
        let none = fill_gaps(&[None, None]);
        assert_eq!(none.len(), 2);
        assert!(none.iter().all(|v| v.is_nan()));
        assert_eq!(fill_gaps(&[Some(2.0)]), vec![2.0]);
    }

    #[test]
    fn nothing_panics_on_odd_inputs() {
        let cases: Vec<Vec<f64>> = vec![
            vec![],
            vec![1.0],
            vec![0.0; 3],
            vec![0.0; 14],
            vec![
                1e308, -1e308, 1e308, -1e308, 1e308, -1e308, 1e308, -1e308, 1e308, -1e308, 1e308, -1e308, 1e308, -1e308,
            ],
            vec![f64::NAN; 20],
            vec![f64::INFINITY; 20],
            (0..30).map(|i| if i % 2 == 0 { 0.0 } else { 1e-300 }).collect(),
            (0..100).map(|i| (i % 7) as f64).collect(),
            series_a(),
        ];
        for y in &cases {
            for p in [0, 1, 2, 3, 7, 24, 1000] {
                for m in [Decomp::Additive, Decomp::Multiplicative] {
                    let _ = seasonal_decompose(y, p, m);
                    let _ = kats_outliers(y, p, m, 3.0);
                    let _ = kats_outliers_with(y, p, m, 0.0, true);
                }
                let _ = seasonal_mann_kendall(y, p, 0.05);
            }
            let _ = cusum(y, &CusumParams::default());
            let _ = cusum_multi(y, &CusumParams::default(), 0, 100);
            let _ = mann_kendall(y, 0.05);
            let _ = mann_kendall(y, f64::NAN);
            let _ = theil_sen(y);
            let _ = ols_slope(y);
            let opt: Vec<Option<f64>> = y.iter().map(|v| Some(*v)).collect();
            let _ = fill_gaps(&opt);
        }
    }
}
