//! Kats `CUSUMDetector`, re-implemented in plain std Rust so lakesight reproduces the AWS changepoint
//! notebook without Python:
//!
//! * [`cusum`]: Kats `CUSUMDetector` (Page 1954 CUSUM, located iteratively, then a Gaussian
//!   likelihood-ratio test), one change point per direction ([`cusum_candidate`] is the candidate
//!   of one direction whether or not it passes); [`cusum_multi`] adds best-first binary segmentation
//!   on top of it to find several.
//!
//! Conventions as for every Kats re-implementation (see [`crate::detect`]): one series on a regular
//! grid, no panics (empty results instead). The parity script `benches/reference/kats_parity.py`
//! compares [`cusum`] with Kats 0.2.0 (or its numpy port).

use crate::detect::stats::{all_finite, arg_extreme, chi2_2_cdf, chi2_2_isf, np_mean, np_std, np_sum};

// ---------------------------------------------------------------------------------------------
// CUSUM change points (Kats CUSUMDetector)
// ---------------------------------------------------------------------------------------------

/// Direction of a level shift, as Kats' `change_directions` ("increase" / "decrease").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The mean goes up (μ1 > μ0); located by argmin of the CUSUM.
    Increase,
    /// The mean goes down (μ1 < μ0); located by argmax of the CUSUM.
    Decrease,
}

impl Direction {
    /// Kats' spelling: "increase" / "decrease".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
        }
    }
}

/// Parameters of Kats `CUSUMDetector.detector()`, with its defaults ([`Default`]): threshold
/// 0.01, max_iter 10, delta_std_ratio 1.0, min_abs_change 0, start_point None, both directions.
/// Kats' interest window and magnitude comparison are not implemented (their defaults, None,
/// switch them off, which is what the sample notebook runs).
#[derive(Debug, Clone, PartialEq)]
pub struct CusumParams {
    /// Significance level: a change needs llr > χ²₂.ppf(1 − threshold) = −2·ln(threshold).
    pub threshold: f64,
    /// Maximum number of location iterations.
    pub max_iter: usize,
    /// |μ1 − μ0| must exceed std(y[..c]) times this.
    pub delta_std_ratio: f64,
    /// Minimal |μ1 − μ0| in the tested direction.
    pub min_abs_change: f64,
    /// Initial change point; `None` = argmin/argmax of cumsum(y − mean(y)) (Kats). Clamped to n−2.
    pub start_point: Option<usize>,
    /// Directions to test, each independently (Kats' default: both).
    pub directions: Vec<Direction>,
}

impl Default for CusumParams {
    fn default() -> Self {
        CusumParams {
            threshold: 0.01,
            max_iter: 10,
            delta_std_ratio: 1.0,
            min_abs_change: 0.0,
            start_point: None,
            directions: vec![Direction::Increase, Direction::Decrease],
        }
    }
}

/// One change point, with Kats' `CUSUMChangePoint` statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// Last bucket of the old regime (Kats' `cp_index`: a shift at 80 is reported at 79).
    pub index: usize,
    /// Which direction was tested.
    pub direction: Direction,
    /// Mean up to and including `index`.
    pub mu0: f64,
    /// Mean after `index`.
    pub mu1: f64,
    /// mu1 − mu0.
    pub delta: f64,
    /// Log-likelihood ratio (two Gaussian means vs one).
    pub llr: f64,
    /// 1 − χ²₂.cdf(llr).
    pub p_value: f64,
    /// 1 − p_value (Kats' `confidence`).
    pub confidence: f64,
    /// The location iteration converged before `max_iter` (Kats' `stable_changepoint`; like Kats,
    /// a convergence found on the very last allowed iteration still counts as not stable).
    pub stable: bool,
}

/// Kats' `_get_llr`: −2·Σ[ln(σ/σ̃) + ½(((y−μ_k)/σ)² − ((y−μ̃)/σ̃)²)], σ pooled with n − 2.
pub(crate) fn cusum_llr(y: &[f64], mu0: f64, mu1: f64, c: usize) -> f64 {
    let n = y.len();
    let sq0: Vec<f64> = y[..=c].iter().map(|v| (v - mu0) * (v - mu0)).collect();
    let sq1: Vec<f64> = y[c + 1..].iter().map(|v| (v - mu1) * (v - mu1)).collect();
    let mut scale = ((np_sum(&sq0) + np_sum(&sq1)) / (n as f64 - 2.0)).sqrt();
    let mu_t = np_mean(y);
    let sigma_t = np_std(y);
    if scale == 0.0 {
        scale = sigma_t * 0.01;
    }
    let part = |x: &[f64], mu: f64| -> f64 {
        let terms: Vec<f64> = x
            .iter()
            .map(|v| (scale / sigma_t).ln() + 0.5 * (((v - mu) / scale).powi(2) - ((v - mu_t) / sigma_t).powi(2)))
            .collect();
        np_sum(&terms)
    };
    -2.0 * (part(&y[..=c], mu0) + part(&y[c + 1..], mu1))
}

/// The Kats CUSUM candidate for one direction, whether or not it passes the tests, together with
/// Kats' `regression_detected` verdict (significance, direction/min_abs_change, delta vs std).
///
/// Why public: the caller can show "the best candidate was at i but not significant", and
/// [`cusum_multi`] builds on it. `None` for n < 3, non-finite values or a constant series
/// (σ̃ = 0: Kats' llr is NaN there).
pub fn cusum_candidate(y: &[f64], direction: Direction, params: &CusumParams) -> Option<(ChangePoint, bool)> {
    let n = y.len();
    if n < 3 || !all_finite(y) {
        return None;
    }
    if np_std(y) == 0.0 || !np_std(y).is_finite() {
        return None;
    }
    let want_min = direction == Direction::Increase;
    let cumsum_arg = |m: f64| -> usize {
        let mut acc = 0.0;
        let cs: Vec<f64> = y
            .iter()
            .map(|v| {
                acc += v - m;
                acc
            })
            .collect();
        arg_extreme(&cs, want_min)
    };
    let mut c = match params.start_point {
        Some(s) => s.min(n - 2),
        None => cumsum_arg(np_mean(y)).min(n - 2),
    };
    let mut iters = 0;
    while iters < params.max_iter {
        iters += 1;
        let mu0 = np_mean(&y[..=c]);
        let mu1 = np_mean(&y[c + 1..]);
        let mid = (mu0 + mu1) / 2.0;
        let next = cumsum_arg(mid).min(n - 2).max(1);
        if next == c {
            break;
        }
        c = next;
    }
    let stable = iters != params.max_iter;
    let mu0 = np_mean(&y[..=c]);
    let mu1 = np_mean(&y[c + 1..]);
    let delta = mu1 - mu0;
    let llr = cusum_llr(y, mu0, mu1, c);
    let p_value = 1.0 - chi2_2_cdf(llr);
    let significant = llr > chi2_2_isf(params.threshold);
    let larger_than_min_abs = match direction {
        Direction::Increase => mu0 + params.min_abs_change < mu1,
        Direction::Decrease => mu0 > mu1 + params.min_abs_change,
    };
    // np.std(ts[:changepoint]) is NaN for c = 0, and NaN comparisons are false.
    let larger_than_std = delta.abs() > np_std(&y[..c]) * params.delta_std_ratio;
    let detected = significant && larger_than_min_abs && larger_than_std;
    Some((
        ChangePoint {
            index: c,
            direction,
            mu0,
            mu1,
            delta,
            llr,
            p_value,
            confidence: 1.0 - p_value,
            stable,
        },
        detected,
    ))
}

/// Kats `CUSUMDetector.detector()`: at most one change point per requested direction, in the
/// order of `params.directions`, only those Kats reports (`regression_detected`).
///
/// Algorithm (Page 1954 CUSUM as Kats applies it; see also Basseville & Nikiforov 1993): start at
/// c = argmin (increase) / argmax (decrease) of cumsum(y − mean y), capped at n−2; repeat up to
/// `max_iter` times: μ0 = mean(y[..=c]), μ1 = mean(y[c+1..]), c' = argmin/argmax of
/// cumsum(y − (μ0+μ1)/2) clamped to [1, n−2], stop when c' = c. Then the likelihood-ratio test
/// (σ pooled over both regimes with n − 2, σ̃ the population std; if σ = 0, σ = 0.01·σ̃),
/// p = 1 − χ²₂.cdf(llr), and the change is reported when llr > −2·ln(threshold), the means move in
/// the tested direction by more than `min_abs_change`, and |μ1 − μ0| > std(y[..c])·delta_std_ratio.
/// The reported index is the last bucket of the old regime.
///
/// Empty for n < 3, non-finite values or a constant series.
pub fn cusum(y: &[f64], params: &CusumParams) -> Vec<ChangePoint> {
    let mut out: Vec<ChangePoint> = Vec::new();
    for d in &params.directions {
        if out.iter().any(|c| c.direction == *d) {
            continue; // a direction listed twice is tested once, as Kats' dict keyed by direction
        }
        if let Some((cp, true)) = cusum_candidate(y, *d, params) {
            out.push(cp);
        }
    }
    out
}

/// Best reported candidate of one segment, honouring `min_segment` on both sides.
fn best_in_segment(seg: &[f64], params: &CusumParams, min_segment: usize) -> Option<ChangePoint> {
    let len = seg.len();
    if len < 3 || len < 2 * min_segment {
        return None;
    }
    cusum(seg, params)
        .into_iter()
        .filter(|cp| cp.index + 1 >= min_segment && len - cp.index > min_segment)
        .max_by(|a, b| a.llr.total_cmp(&b.llr))
}

/// Several change points by best-first binary segmentation over the Kats CUSUM test (our
/// extension; Kats finds one per direction).
///
/// Why: a series of findings often has more than one regime (a rollout, then a fix); Kats'
/// single-change model blurs them into one split. Binary segmentation (Scott & Knott 1974;
/// Vostrikova 1981) applies the single-change test recursively.
///
/// Method: test the whole series with [`cusum`] (all directions in `params`); among the reported
/// candidates take the one with the largest llr whose split leaves at least `min_segment` buckets
/// on each side (left = index + 1, right = len − index − 1). Split there and test both halves the
/// same way. Always accept the pending split with the largest llr next (so with `max_points`
/// the strongest changes are kept), until no segment has a reported candidate or `max_points` are
/// found. Segments shorter than max(3, 2·min_segment) are not tested. Each segment's test is
/// Kats' test on that segment alone (its own n, means, σ, threshold): there is no correction for
/// testing many segments, so a stricter `threshold` is sensible for long series.
///
/// Output sorted by index; `index` is global, `mu0`/`mu1`/`delta`/`llr`/`p_value` are those of the
/// segment where the split was found (means of the neighbouring regimes). The first accepted point
/// is the strongest of [`cusum`]'s results on the whole series (when it honours `min_segment`).
/// Empty for the same inputs as [`cusum`] or when `max_points` is 0.
pub fn cusum_multi(y: &[f64], params: &CusumParams, min_segment: usize, max_points: usize) -> Vec<ChangePoint> {
    let min_segment = min_segment.max(1);
    let mut found: Vec<ChangePoint> = Vec::new();
    if max_points == 0 || y.len() < 3 || !all_finite(y) {
        return found;
    }
    // Pending segments: (start, end, best candidate with global index).
    let eval = |start: usize, end: usize| -> Option<ChangePoint> {
        best_in_segment(&y[start..end], params, min_segment).map(|mut cp| {
            cp.index += start;
            cp
        })
    };
    let mut pending: Vec<(usize, usize, Option<ChangePoint>)> = vec![(0, y.len(), eval(0, y.len()))];
    while found.len() < max_points {
        let best = pending
            .iter()
            .enumerate()
            .filter_map(|(k, (_, _, c))| c.as_ref().map(|c| (k, c.llr)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((k, _)) = best else { break };
        let (start, end, cand) = pending.swap_remove(k);
        let Some(cp) = cand else { break };
        let split = cp.index + 1;
        found.push(cp);
        pending.push((start, split, eval(start, split)));
        pending.push((split, end, eval(split, end)));
    }
    found.sort_by_key(|c| c.index);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::stats::tests::{close, lcg};

    /// Series B: 120 days around 10 with LCG noise, +5 from index 80.
    fn series_b() -> Vec<f64> {
        let u = lcg(120, 3);
        (0..120)
            .map(|i| 10.0 + 2.0 * (u[i] - 0.5) + if i >= 80 { 5.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn cusum_level_shift_at_80_reported_at_79_like_kats() {
        let y = series_b();
        let cps = cusum(&y, &CusumParams::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        let cp = &cps[0];
        assert_eq!(cp.index, 79);
        assert_eq!(cp.direction, Direction::Increase);
        assert!(cp.stable);
        // Kats 0.2.0 CUSUMDetector on the same series
        assert!(close(cp.mu0, 9.981767310621217, 1e-12));
        assert!(close(cp.mu1, 15.0214737333823, 1e-12));
        assert!(close(cp.llr, 357.261085176042, 1e-9));
        assert_eq!(cp.p_value, 0.0);
        assert_eq!(cp.confidence, 1.0);
        assert!(close(cp.delta, cp.mu1 - cp.mu0, 1e-15));
        // the non-reported decrease candidate, as Kats' return_all_changepoints shows it
        let (dec, detected) = cusum_candidate(&y, Direction::Decrease, &CusumParams::default()).unwrap();
        assert!(!detected);
        assert_eq!(dec.index, 118);
        assert!(!dec.stable);
        assert!(close(dec.llr, 0.966593387251687, 1e-9));
        assert!(close(dec.p_value, 0.6167468113779486, 1e-9));
        // llr closed form from the reference: 2n·ln(σ̃/σ) + 2
        let n = y.len() as f64;
        let sq: f64 = y
            .iter()
            .enumerate()
            .map(|(i, v)| (v - if i <= 79 { cp.mu0 } else { cp.mu1 }).powi(2))
            .sum();
        let sigma = (sq / (n - 2.0)).sqrt();
        assert!(close(cp.llr, 2.0 * n * (np_std(&y) / sigma).ln() + 2.0, 1e-9));
    }

    #[test]
    fn cusum_decrease_and_no_change() {
        let y: Vec<f64> = series_b().iter().map(|v| -v).collect();
        let cps = cusum(&y, &CusumParams::default());
        assert_eq!(cps.len(), 1);
        assert_eq!((cps[0].index, cps[0].direction), (79, Direction::Decrease));
        let only_inc = CusumParams {
            directions: vec![Direction::Increase],
            ..Default::default()
        };
        assert!(cusum(&y, &only_inc).is_empty());
        // pure noise: nothing significant
        let noise: Vec<f64> = lcg(120, 99).iter().map(|u| 10.0 + u).collect();
        assert!(cusum(&noise, &CusumParams::default()).is_empty());
        // min_abs_change larger than the shift suppresses it
        let big = CusumParams {
            min_abs_change: 10.0,
            ..Default::default()
        };
        assert!(cusum(&series_b(), &big).is_empty());
    }

    #[test]
    fn cusum_degenerate_inputs_do_not_panic() {
        let p = CusumParams::default();
        assert!(cusum(&[], &p).is_empty());
        assert!(cusum(&[1.0], &p).is_empty());
        assert!(cusum(&[1.0, 2.0], &p).is_empty());
        assert!(cusum(&[3.0; 50], &p).is_empty());
        assert!(cusum(&[1.0, f64::NAN, 3.0, 4.0], &p).is_empty());
        let _ = cusum(&[1.0, 2.0, 9.0], &p);
        let _ = cusum(&[0.0, 0.0, 0.0, 1e300, -1e300], &p);
        let weird = CusumParams {
            threshold: 0.0,
            max_iter: 0,
            start_point: Some(1000),
            ..Default::default()
        };
        let _ = cusum(&series_b(), &weird);
        let weird = CusumParams {
            threshold: 2.0,
            delta_std_ratio: f64::NAN,
            directions: vec![],
            ..Default::default()
        };
        assert!(cusum(&series_b(), &weird).is_empty());
        assert!(cusum_multi(&series_b(), &p, 0, 0).is_empty());
        assert!(cusum_multi(&[1.0, 2.0], &p, 5, 5).is_empty());
    }

    #[test]
    fn cusum_multi_finds_two_shifts() {
        let u = lcg(150, 17);
        let y: Vec<f64> = (0..150)
            .map(|i| {
                let level = if i < 50 {
                    10.0
                } else if i < 100 {
                    16.0
                } else {
                    8.0
                };
                level + 2.0 * (u[i] - 0.5)
            })
            .collect();
        let cps = cusum_multi(&y, &CusumParams::default(), 7, 10);
        let idx: Vec<usize> = cps.iter().map(|c| c.index).collect();
        assert!(idx.len() >= 2, "{idx:?}");
        assert!(idx.iter().any(|i| i.abs_diff(49) <= 1), "{idx:?}");
        assert!(idx.iter().any(|i| i.abs_diff(99) <= 1), "{idx:?}");
        let first = cps.iter().find(|c| c.index.abs_diff(49) <= 1).unwrap();
        assert_eq!(first.direction, Direction::Increase);
        let second = cps.iter().find(|c| c.index.abs_diff(99) <= 1).unwrap();
        assert_eq!(second.direction, Direction::Decrease);
        // max_points keeps the strongest
        assert_eq!(cusum_multi(&y, &CusumParams::default(), 7, 1).len(), 1);
        // a single shift gives the same point as cusum()
        let single = cusum_multi(&series_b(), &CusumParams::default(), 7, 5);
        assert!(single.iter().any(|c| c.index == 79));
        assert!(single.len() <= 2, "{single:?}");
    }
}
