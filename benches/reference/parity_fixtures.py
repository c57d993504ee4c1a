#!/usr/bin/env python3
"""Parity fixtures: reference outputs of the real libraries on the SHIPPED detector configurations,
committed under tests/fixtures/parity/ and checked by the Rust test tests/it/parity.rs (CI has no
Python; the test only reads the committed files).

What it writes (one CSV per check; `#` lines are metadata, the first names the library versions):
  corpus.csv               the series (id, category, injected, values space-separated, Python repr)
  outliers.csv             statsmodels seasonal_decompose(period 7, extrapolate_trend="freq") + the
                           Kats 0.2.0 strength/IQR rule, iqr_mult 3: residual quartiles, fences,
                           inclusive flags (Kats 0.2.0) and strict flags (the shipped default), and
                           Kats' own OutlierDetector flags (inclusive; must equal the port's);
                           alpha = the NB2 dispersion by moments of the count series
  outlier_findings.csv     the shipped seasonal_iqr detector (SeasonalIqrConfig defaults; `spike`
                           and jobs/nightly.toml's `spike+dip` over the whole series, and
                           `spike+dip` over the last 14 buckets with the dispersion from the ones
                           before): strict flags above, lakesight's relative gate, runs merged, and
                           the false-finding budget (score >= 3 - log10(false_findings_per_1000));
                           score = -log10 of the less surprising of scipy's normal tail and, for
                           counts, the scipy.stats.nbinom tail (poisson when alpha is 0), minus
                           log10(buckets judged). The header lists the buckets the NB tail
                           suppresses that a Poisson tail would flag (regeneration fails if none)
  cusum.csv                Kats CUSUMDetector math (numpy port; Kats 0.2.0's own CUSUMDetector must
                           report the same points, its index is stored as kats_index) with the
                           shipped parameters (threshold 0.01, max_iter 10, delta_std_ratio 1,
                           min_abs_change 0, both directions): the candidate of each direction
  cusum_multi.csv          lakesight's best-first binary segmentation (cusum_multi, min_segment 7,
                           max_points 3) re-written over the numpy port of Kats' single-change test
  changepoint_findings.csv the shipped cusum detector (CusumConfig defaults = jobs/nightly.toml):
                           binary segmentation + newest-regime test, regime means, min_rel_change
                           0.5, score = -log10 chi2(2).sf(llr) (scipy; count series: at most
                           -log10 of the scipy nbinom tail of the new regime's total under the
                           old regime's NB2 law) - log10(buckets judged x 2 directions),
                           reported only when score >= 3 - log10(false_findings_per_1000)
  trend.csv                pymannkendall original_test and seasonal_test(period 7), alpha 0.05
  trend_findings.csv       the shipped trend detector (TrendConfig defaults: seasonal test, alpha
                           0.05, min_rel_change_per_week 0.1, false_findings_per_1000 1, top_n 10;
                           jobs/demo.toml's 0.2 / top_n 3; the defaults with top_n 2): reported when the two-sided p fits
                           the budget (score >= 3 - log10(false_findings_per_1000)), then top_n per
                           direction. The header lists the trends significant at alpha that the
                           budget keeps out (regeneration fails if none, or if no cap bites)
  tails.csv                the tail functions the gates and scores use, from scipy.stats/special
  nb_tails.csv             ln_reg_inc_beta (ln scipy.special.betainc) and ln_neg_binomial_tail (ln
                           scipy.stats.nbinom sf/cdf, logsf/logcdf where those underflow) for
                           alpha 0.01-2 and mu 0.5-500, Poisson below alpha 1e-6

Modes
  parity_fixtures.py [--out DIR]      regenerate (default tests/fixtures/parity); fails (exit 1) when
                                      Kats 0.2.0 itself disagrees with the ports the fixtures use
  parity_fixtures.py --verify         regenerate into a temporary directory and fail when the
                                      committed fixtures differ (a reference library changed)
  parity_fixtures.py --compare DIR    compare lakesight's values (written by
                                      `LAKESIGHT_PARITY_DUMP=DIR cargo test --test it parity`) with
                                      the reference, with the tolerances below; exit 1 on any
                                      disagreement, naming file, row, column and both values

Tolerances (the same in tests/it/parity.rs): flags, indices, directions, kinds, run bounds, skip
reasons, selections exact; regime means 1e-12 relative; llr, scores, p-values from tails 1e-9
relative (+1e-9 absolute for scores; ln_gamma 1e-12 relative + 1e-14 absolute); decomposition quartiles/fences 1e-9 relative (+1e-10
absolute); pymannkendall's own p (2*(1-Phi), cancellation in the tail) 1e-14 absolute; the
Wilson-Hilferty Poisson tail (mu > 1e4, an approximation) 1e-3 relative; logs of probabilities
(nb_tails.csv) 1e-9 relative + 1e-12 absolute; the NB dispersion alpha 1e-9 relative + 1e-12 absolute.
Exit status: 0 agreement, 1 disagreement, 2 missing inputs.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import kats_parity as kp  # noqa: E402  (venv bootstrap, Kats wrappers)

FIXTURES = REPO / "tests" / "fixtures" / "parity"
SEED = 20240607
PER_CATEGORY = 9
LENGTH = 90
PERIOD = 7
IQR_MULT = 3.0
MIN_HISTORY = 14  # stages::series default_min_history
MIN_POSITIVE = 2.2250738585072014e-308  # f64::MIN_POSITIVE
CATEGORIES = ["plain", "spikes", "level_shift", "trend", "spike_and_shift", "two_shifts"]

# SeasonalIqrConfig::default(): strict fences, iqr_mult 3, min_rel_deviation 0.5,
# false_findings_per_1000 1, no min_abs_deviation; directions ["spike"] (default) or ["spike", "dip"]
# (nightly.toml).
# Each config: (directions, buckets judged: None = every bucket, N = the last N, the buckets before
# them being the baseline the NB dispersion is measured on, as in a nightly run).
OUTLIER_CONFIGS = {"spike": (("spike",), None), "spike_dip": (("spike", "dip"), None), "spike_dip_last14": (("spike", "dip"), 14)}
MIN_REL_DEVIATION = 0.5
# The false-finding budget (SeasonalIqrConfig and CusumConfig false_findings_per_1000, default 1):
# a flag / change needs score >= 3 - log10(budget).
FALSE_FINDINGS_PER_1000 = 1.0
MIN_SCORE = 3.0 - math.log10(FALSE_FINDINGS_PER_1000)
COUNT_FLOOR = 0.5  # outlier::COUNT_FLOOR, the smallest expected value a count law is given
QUIET_EXPECTED = 1.0  # outlier::QUIET_EXPECTED, below it a bucket is also judged by the active law
MIN_ACTIVE_BUCKETS = 3  # outlier::MIN_ACTIVE_BUCKETS, non-zero buckets a count series needs
NB_POISSON_BELOW = 1e-6  # stats::ln_neg_binomial_tail: dispersion below this is Poisson
RARE_SPIKE_DAYS = 2  # SeasonalIqr: fence-flagged baseline buckets on at most this many days leave alpha
NB_BASELINE_MIN = 8  # SeasonalIqr: dispersion from the buckets before eval when there are >= 8
# SeasonalIqrConfig::default() seen_before_ratio: a spike whose residual above the quartiles'
# midpoint is at most 1/ratio times the largest such residual of the buckets before eval (>= 8 of
# them) is the entity's normal, not a finding.
SEEN_BEFORE_RATIO = 0.5
# Overdispersed counts appended to the corpus: Poisson(mean * G), G ~ Gamma(shape, mean 1), i.e.
# NB2 with alpha = 1 / shape.
OVERDISPERSED_SHAPE = 2.5
# CusumConfig::default() (= jobs/nightly.toml's changepoints).
CUSUM = dict(threshold=0.01, max_iter=10, delta_std_ratio=1.0, min_abs_change=0.0)
MAX_POINTS, MIN_SEGMENT, MIN_REL_CHANGE = 3, 7, 0.5
# TrendConfig::default().
ALPHA, TOP_N, MIN_POINTS, MIN_REL_PER_WEEK, TREND_BUDGET = 0.05, 10, 14, 0.1, 1.0


def log(msg: str) -> None:
    print(f"[parity_fixtures] {msg}", file=sys.stderr, flush=True)


def reexec_in_venv(args) -> None:
    if args.no_venv:
        return
    venv = Path(args.venv).expanduser()
    try:
        if Path(sys.prefix).resolve() == venv.resolve():
            return
    except OSError:
        pass
    kp.ensure_venv(venv, want_kats=True)
    py = str(kp.venv_python(venv))
    os.execv(py, [py, str(Path(__file__).resolve()), *sys.argv[1:]])


# ----------------------------------------------------------------------------------------------
# corpus
# ----------------------------------------------------------------------------------------------


def generate():
    """65 series: 9 per category (half Poisson counts, half continuous), then 11 edge cases."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    out = []
    t = np.arange(LENGTH)
    for sid in range(PER_CATEGORY * len(CATEGORIES)):
        cat = CATEGORIES[sid % len(CATEGORIES)]
        counts = (sid // len(CATEGORIES)) % 2 == 0
        level = float(rng.uniform(3, 50))
        amp = float(rng.uniform(0.0, 0.5)) * level
        weekday = rng.normal(0, 1, PERIOD)
        weekday = weekday / (np.abs(weekday).max() + 1e-9)
        mean = level + amp * weekday[t % PERIOD]
        meta = []
        if cat in ("level_shift", "spike_and_shift"):
            at = int(rng.integers(18, LENGTH - 10))
            size = float(rng.choice([-1, 1]) * rng.uniform(0.4, 1.2) * level)
            mean = mean + np.where(t >= at, size, 0.0)
            meta.append(f"shift@{at}:{size:+.2f}")
        if cat == "two_shifts":
            a1 = int(rng.integers(20, 40))
            a2 = int(rng.integers(55, 75))
            s1 = float(rng.choice([-1, 1]) * rng.uniform(0.6, 1.2) * level)
            s2 = float(-np.sign(s1) * rng.uniform(0.5, 1.0) * level) if rng.random() < 0.5 else float(np.sign(s1) * rng.uniform(0.8, 1.5) * level)
            mean = mean + np.where(t >= a1, s1, 0.0) + np.where(t >= a2, s2, 0.0)
            meta += [f"shift@{a1}:{s1:+.2f}", f"shift@{a2}:{s2:+.2f}"]
        if cat == "trend":
            slope = float(rng.choice([-1, 1]) * rng.uniform(0.004, 0.04) * level)
            mean = mean + slope * (t - LENGTH / 2)
            meta.append(f"trend:{slope:+.4f}/day")
        mean = np.maximum(mean, 0.5)
        y = rng.poisson(mean).astype(float) if counts else mean + rng.normal(0, 0.15 * level, LENGTH)
        if cat in ("spikes", "spike_and_shift"):
            for _ in range(int(rng.integers(1, 4))):
                at = int(rng.integers(0, LENGTH))
                size = float(rng.choice([-1, 1, 1]) * rng.uniform(4, 10) * max(1.0, 0.15 * level))
                y[at] = max(0.0, y[at] + size)
                meta.append(f"spike@{at}:{size:+.2f}")
        if counts:
            y = np.round(y)
        else:
            y = np.round(y, 3)
        out.append((sid, cat, y, ";".join(meta)))
    edges = [
        ("edge_flat_zero", np.zeros(LENGTH)),
        ("edge_flat_five", np.full(LENGTH, 5.0)),
        ("edge_sparse", (rng.random(LENGTH) < 0.12).astype(float) * rng.integers(1, 4, LENGTH)),
        ("edge_single_spike", np.where(t == LENGTH // 2, 9.0, 0.0)),
        ("edge_tiny", 1e-6 * (1 + rng.random(LENGTH))),
        ("edge_negative", np.round(-20 + 3 * np.sin(t) + rng.normal(0, 2, LENGTH), 3)),
        ("edge_len14", rng.poisson(8, 14).astype(float)),
        ("edge_len13", rng.poisson(8, 13).astype(float)),
    ]
    # Weak trends: drawn until the seasonal test's p lies in (0.004, 0.045) with a relative change
    # of at least 0.12 per week: significant at alpha, outside the false-finding budget.
    import pymannkendall as mk

    wrng = np.random.default_rng(SEED + 1)
    weak = 0
    while weak < 3:
        y = np.round(10 + 0.15 * (t - LENGTH / 2) * wrng.choice([-1, 1]) + wrng.normal(0, 18, LENGTH), 3)
        r = mk.seasonal_test(y, period=PERIOD)
        if 0.004 < r.p < 0.045 and abs(r.slope / max(abs(y.mean()), 1.0)) >= 0.12:
            edges.append((f"edge_weak_trend_{weak}", y))
            weak += 1
    base = len(out)
    for k, (name, y) in enumerate(edges):
        out.append((base + k, name, np.asarray(y, dtype=float), name))
    out += overdispersed(len(out))
    return out


def overdispersed(base: int):
    """Gamma-Poisson counts (NB2, alpha = 1/OVERDISPERSED_SHAPE = 0.4) with a weekly pattern, at
    levels 4 to 400, half with injected spikes: the shipped outlier detector's NB tail with alpha > 0
    judges them, and on ordinary busy days it keeps quiet where a Poisson tail would flag. Own
    generator (seed + 2), appended after the edge cases, so the series above do not move."""
    import numpy as np

    rng = np.random.default_rng(SEED + 2)
    t = np.arange(LENGTH)
    out = []
    for k, level in enumerate([4.0, 12.0, 30.0, 80.0, 150.0, 400.0, 25.0, 60.0]):
        weekday = rng.normal(0, 1, PERIOD)
        weekday = weekday / (np.abs(weekday).max() + 1e-9)
        mean = level * (1 + 0.3 * weekday[t % PERIOD])
        g = rng.gamma(OVERDISPERSED_SHAPE, 1.0 / OVERDISPERSED_SHAPE, LENGTH)
        y = rng.poisson(mean * g).astype(float)
        meta = [f"gamma_poisson:shape {OVERDISPERSED_SHAPE}"]
        spikes = k % 2 == 1
        if spikes:
            # one in the last two weeks (judged against the baseline before them); on every other
            # such series one more, smaller, in the baseline, which inflates the dispersion by moments
            for lo, hi, mult in [(LENGTH - 14, LENGTH, (20, 40))] + ([(0, LENGTH - 14, (8, 15))] if k % 4 == 3 else []):
                at = int(rng.integers(lo, hi))
                size = float(round(rng.uniform(*mult) * level))
                y[at] += size
                meta.append(f"spike@{at}:{size:+.0f}")
        out.append((base + k, "overdispersed_spikes" if spikes else "overdispersed", y, ";".join(meta)))
    return out


# ----------------------------------------------------------------------------------------------
# reference computations
# ----------------------------------------------------------------------------------------------


def plain_sum(a) -> float:
    """Left-to-right summation, as Rust's `iter().sum()`."""
    s = 0.0
    for v in a:
        s += float(v)
    return s


def plain_mean(a) -> float:
    return plain_sum(a) / len(a) if len(a) else float("nan")


def precheck(y, seasons: int, min_with_data=None):
    """lakesight detect::precheck_with for daily buckets (short period 7), min_history 14; the
    non-zero buckets needed default to half of min_history (detect::precheck)."""
    import numpy as np

    if not np.all(np.isfinite(y)):
        return "non_finite"
    with_data = int(np.sum(y != 0.0))
    need = min(MIN_HISTORY, len(y)) // 2 if min_with_data is None else min_with_data
    if len(y) < max(MIN_HISTORY, seasons * PERIOD) or with_data < need:
        return "too_short"
    if np.all(y == y[0]):
        return "constant"
    return None


def iqr_rule(y):
    """statsmodels decomposition + Kats 0.2.0 OutlierDetector.__clean_ts__ rule, both fence kinds."""
    import numpy as np
    from statsmodels.tsa.seasonal import seasonal_decompose

    if len(y) < 2 * PERIOD:
        return None
    r = seasonal_decompose(y, model="additive", period=PERIOD, extrapolate_trend="freq")
    trend, seasonal = np.asarray(r.trend), np.asarray(r.seasonal)
    with np.errstate(divide="ignore", invalid="ignore"):
        vd, vr = np.nanvar(y - trend), np.nanvar(np.asarray(r.resid))
        strength = float(1 - vr / vd) if vd > 0 and np.isfinite(vd) and np.isfinite(vr) else None
    removed = strength is not None and strength >= 0.6
    resid = (y - seasonal if removed else y) - trend
    q1, q3 = (float(v) for v in np.nanpercentile(resid, [25, 75]))
    iqr = q3 - q1
    lo, hi = q1 - IQR_MULT * iqr, q3 + IQR_MULT * iqr
    return {
        "strength": strength,
        "removed": removed,
        "q1": q1,
        "q3": q3,
        "lower_limit": lo,
        "upper_limit": hi,
        "resid": resid,
        "expected": trend + seasonal if removed else trend,
        "inclusive": [int(i) for i in np.where((resid >= hi) | (resid <= lo))[0]],
        "strict": [int(i) for i in np.where((resid > hi) | (resid < lo))[0]],
    }


def poisson_tail(k: float, mu: float, lower: bool) -> float:
    """scipy.stats.poisson: P(X >= k) = sf(k - 1), P(X <= k) = cdf(k), k floored at 0."""
    from scipy.stats import poisson

    k = math.floor(max(k, 0.0))
    return float(poisson.cdf(k, mu)) if lower else float(poisson.sf(k - 1, mu))


def ln_nb_tail(k: float, mu: float, alpha: float, lower: bool):
    """ln P(X >= k) (ln P(X <= k) when lower) for X ~ NB2(mean mu, dispersion alpha) from
    scipy.stats.nbinom(n = 1/alpha, p = n/(n + mu)): sf(k - 1) / cdf(k), k floored at 0; the
    Poisson law (scipy.stats.poisson, floored at f64::MIN_POSITIVE as the Rust does) below alpha
    1e-6. Where scipy's tail underflows, its logsf/logcdf if finite, else None (no reference)."""
    from scipy.stats import nbinom

    if not (math.isfinite(mu) and math.isfinite(k)) or mu <= 0:
        return 0.0 if lower or k <= 0 else -math.inf
    k = math.floor(max(k, 0.0))
    if not alpha >= NB_POISSON_BELOW:
        return math.log(max(poisson_tail(k, mu, lower), MIN_POSITIVE))
    if not lower and k <= 0:
        return 0.0
    n = 1.0 / alpha
    p = n / (n + mu)
    v = float(nbinom.cdf(k, n, p)) if lower else float(nbinom.sf(k - 1, n, p))
    if v > 0:
        return math.log(v)
    lv = float(nbinom.logcdf(k, n, p)) if lower else float(nbinom.logsf(k - 1, n, p))
    return lv if math.isfinite(lv) else None


def nb_dispersion(y, expected, idx, floor: float) -> float:
    """stats::nb_dispersion: NB2 alpha by moments, sum((y - mu)^2 - mu) / sum(mu^2) over idx with
    mu = max(expected, floor), summed left to right; 0 when not positive (Poisson)."""
    num, den = 0.0, 0.0
    for i in idx:
        mu = max(float(expected[i]), floor)
        d = float(y[i]) - mu
        num += d * d - mu
        den += mu * mu
    if den > 0 and num > 0 and math.isfinite(num / den):
        return num / den
    return 0.0


def neg_log10_normal_sf(z: float) -> float:
    from scipy.stats import norm

    return float(-norm.logsf(z) / math.log(10))


# Spikes left out by the seen-before rule, for coverage (regeneration fails if none is).
SEEN_BEFORE = []


def shipped_outliers(y, directions, last=None):
    """The shipped seasonal_iqr detector (src/detect/outlier/mod.rs SeasonalIqr::detect) with ctx
    eval = every bucket (last None) or the last `last` buckets, over the reference rule above;
    tails from scipy. Returns (skip, runs,
    suppressed): suppressed = buckets that pass every gate under a Poisson tail (alpha 0) but not
    under the NB tail with the series' dispersion (the NB path's effect, for coverage)."""
    import numpy as np

    # Count series need MIN_ACTIVE_BUCKETS non-zero buckets (outlier::MIN_ACTIVE_BUCKETS), others
    # half of min_history.
    sparse_counts = bool((y >= 0).all()) and bool((y == np.round(y)).all()) if np.all(np.isfinite(y)) else False
    skip = precheck(y, 2, MIN_ACTIVE_BUCKETS if sparse_counts else None)
    if skip:
        return skip, [], ([], [])
    r = iqr_rule(y)
    if r is None:
        return "too_short", [], ([], [])
    n = len(y)
    iqr = max(r["q3"] - r["q1"], 1e-9)
    non_negative = bool((y >= 0).all())
    counts = non_negative and bool((y == y.round()).all())
    base = max(n - last, 0) if last else 0  # ctx.eval = base..n
    tests = n - base
    strict = set(r["strict"])
    # The dispersion over the buckets before eval (all buckets when fewer than 8 precede it),
    # leaving out the buckets beyond the fences when they fall on at most RARE_SPIKE_DAYS days
    # (daily buckets: one bucket a day), so one spike cannot hide the next while recurring
    # bursts stay the entity's normal.
    alpha = 0.0
    if counts:
        idx = range(base) if base >= NB_BASELINE_MIN else range(n)
        rare = len([i for i in idx if i in strict]) <= RARE_SPIKE_DAYS
        alpha = nb_dispersion(y, r["expected"], [i for i in idx if not (rare and i in strict)], COUNT_FLOOR)

    def expected_at(i):
        return max(float(r["expected"][i]), 0.0) if non_negative else float(r["expected"][i])

    # The active-entity law (stats::ActiveCounts) over the same baseline as the dispersion: share
    # of non-zero buckets (k + 1/2)/(n + 1), and an NB around the median non-zero count with the
    # dispersion of the non-zero counts by moments; with fewer than three, the share alone.
    act_idx = range(base) if base >= NB_BASELINE_MIN else range(n)
    act_nz = [float(y[j]) for j in act_idx if y[j] > 0]
    act_mean = float(np.median(act_nz)) if act_nz else 0.0
    act_alpha = nb_dispersion(act_nz, [act_mean] * len(act_nz), range(len(act_nz)), COUNT_FLOOR) if len(act_nz) >= 3 else 0.0

    def active_ln_tail(v):
        if v <= 0:
            return 0.0
        ln_share = math.log((len(act_nz) + 0.5) / (len(act_idx) + 1.0))
        if len(act_nz) < 3:
            return ln_share
        t = ln_nb_tail(v, max(act_mean, COUNT_FLOOR), act_alpha, False)
        return ln_share + (t if t is not None else -math.inf)

    def score_at(i, side, a, active=True):
        z = abs(r["resid"][i] - (r["q1"] + r["q3"]) / 2.0) / (iqr / 1.349)
        nl = neg_log10_normal_sf(z)
        if counts and a is not None:  # a None: the normal tail alone (coverage only)
            ln_p = ln_nb_tail(float(y[i]), max(expected_at(i), COUNT_FLOOR), a, side == "dip")
            if ln_p is None:
                # scipy underflows: the NB surprise is beyond ~300, it decides only if the normal one is too.
                if nl > 290:
                    raise SystemExit(f"no scipy reference for the NB tail at bucket {i} (normal surprise {nl})")
                ln_p = -math.inf
            # A spike in a quiet bucket, or in a series whose seasonality was not removed: the
            # less surprising of the seasonal law and the active-entity law.
            if active and side == "spike" and (expected_at(i) < QUIET_EXPECTED or not r["removed"]):
                ln_p = max(ln_p, active_ln_tail(float(y[i])))
            nl = min(nl, -ln_p / math.log(10))
        return max(nl - math.log10(tests), 0.0)

    mid = (r["q1"] + r["q3"]) / 2.0
    if base >= NB_BASELINE_MIN:
        seen_spike = max((float(r["resid"][j]) - mid for j in range(base) if math.isfinite(r["resid"][j])), default=-math.inf)
    else:
        seen_spike = -math.inf
    flagged = []
    suppressed = []
    nb_bound = []  # flagged buckets whose score is the NB tail's (alpha > 0), for coverage
    for i in range(base, n):
        if i not in strict:
            continue
        side = "spike" if r["resid"][i] >= r["upper_limit"] else "dip"
        if side not in directions:
            continue
        exp = max(float(r["expected"][i]), 0.0) if non_negative else float(r["expected"][i])
        dev = abs(y[i] - exp)
        floor = 1.0 if counts else iqr
        if dev < 0.0 or dev < MIN_REL_DEVIATION * max(abs(exp), floor):
            continue
        if score_at(i, side, alpha) < MIN_SCORE:
            if counts and alpha > 0 and score_at(i, side, 0.0, active=False) >= MIN_SCORE:
                suppressed.append(i)
            continue
        if side == "spike" and SEEN_BEFORE_RATIO > 0 and math.isfinite(seen_spike) and seen_spike > 0 \
                and seen_spike >= SEEN_BEFORE_RATIO * (float(r["resid"][i]) - mid):
            SEEN_BEFORE.append((tuple(y[:3]), i))
            continue
        if counts and alpha > 0 and score_at(i, side, alpha) < score_at(i, side, None):
            nb_bound.append(i)
        flagged.append((i, side))
    out = []
    k = 0
    while k < len(flagged):
        start, side = flagged[k]
        end = start + 1
        while k + 1 < len(flagged) and flagged[k + 1] == (end, side):
            k += 1
            end += 1
        k += 1
        exps = [max(float(e), 0.0) if non_negative else float(e) for e in r["expected"][start:end]]
        peak = start
        for j in range(start, end):  # Rust's max_by keeps the last of equal maxima
            if abs(r["resid"][j]) >= abs(r["resid"][peak]):
                peak = j
        out.append({
            "start": start,
            "end": end,
            "kind": side,
            "observed": plain_sum(y[start:end]),
            "expected": plain_sum(exps),
            "score": score_at(peak, side, alpha),
        })
    return None, out, (suppressed, nb_bound)


def cusum_candidate(ts, direction):
    """Kats CUSUMDetector math for one direction (numpy), as kats_parity.ref_cusum, with the
    candidate's statistics whether or not Kats reports it. None where Kats has no candidate."""
    import numpy as np
    from scipy.stats import chi2

    ts = np.asarray(ts, dtype=float)
    n = len(ts)
    if n < 3 or not np.all(np.isfinite(ts)) or np.std(ts) == 0:
        return None
    cp, it = kp._cusum_locate(ts, direction, CUSUM["max_iter"])
    mu0, mu1 = float(np.mean(ts[: cp + 1])), float(np.mean(ts[cp + 1 :]))
    llr = float(kp._cusum_llr(ts, mu0, mu1, cp))
    sig = llr > chi2.ppf(1 - CUSUM["threshold"], 2)
    moved = (mu0 + CUSUM["min_abs_change"] < mu1) if direction == "increase" else (mu0 > mu1 + CUSUM["min_abs_change"])
    with np.errstate(invalid="ignore"):
        big = bool(abs(mu1 - mu0) > np.std(ts[:cp]) * CUSUM["delta_std_ratio"]) if cp > 0 else False
    return {
        "index": cp,
        "direction": direction,
        "mu0": mu0,
        "mu1": mu1,
        "llr": llr,
        "p": float(1 - chi2.cdf(llr, 2)),
        "stable": it != CUSUM["max_iter"],
        "detected": bool(sig and moved and big),
    }


def cusum(ts):
    """Kats CUSUMDetector.detector(): the reported candidates, increase first."""
    return [c for d in ("increase", "decrease") if (c := cusum_candidate(ts, d)) and c["detected"]]


def last_max_by_llr(cands):
    best = None
    for c in cands:  # Rust's max_by keeps the last of equal maxima
        if best is None or c["llr"] >= best["llr"]:
            best = c
    return best


def cusum_multi(y):
    """lakesight's cusum_multi (src/detect/changepoint/cusum.rs): best-first binary segmentation,
    each segment tested with Kats' single-change test above."""
    n = len(y)

    def ev(start, end):
        seg = y[start:end]
        ln = len(seg)
        if ln < 3 or ln < 2 * MIN_SEGMENT:
            return None
        ok = [c for c in cusum(seg) if c["index"] + 1 >= MIN_SEGMENT and ln - c["index"] > MIN_SEGMENT]
        best = last_max_by_llr(ok)
        if best is not None:
            best = dict(best, index=best["index"] + start)
        return best

    found = []
    if n < 3:
        return found
    pending = [(0, n, ev(0, n))]
    while len(found) < MAX_POINTS:
        best_k = None
        for k, (_s, _e, c) in enumerate(pending):
            if c is not None and (best_k is None or c["llr"] >= pending[best_k][2]["llr"]):
                best_k = k
        if best_k is None:
            break
        # Rust swap_remove: the last element takes the removed one's place.
        start, end, cp = pending[best_k]
        pending[best_k] = pending[-1]
        pending.pop()
        split = cp["index"] + 1
        found.append(cp)
        pending.append((start, split, ev(start, split)))
        pending.append((split, end, ev(split, end)))
    return sorted(found, key=lambda c: c["index"])


def shipped_changepoints(y, eval_from=0, earlier=True):
    """The shipped cusum detector (src/detect/changepoint/mod.rs Cusum::judge, CusumConfig
    defaults) with ctx eval = buckets eval_from.. (every bucket by default). The score is CUSUM's
    chi2(2) tail; for a count series (every value a non-negative whole number) the smaller of that
    and the count law's: the NB2 tail of the new regime's total given the old regime's mean
    (floored at COUNT_FLOOR) and dispersion (by moments, fleet prior 0). With `earlier`, a change is
    left out when the night before its onset bucket, judged on its own cut, reports a change of
    the same direction (confirm_buckets 1: the only night between the onset's eve and it)."""
    from scipy.stats import chi2

    skip = precheck(y, 1)
    if skip:
        return skip, []
    n = len(y)
    if eval_from >= n:
        return None, []
    counts = all(v >= 0 and float(v).is_integer() for v in y)
    # Bonferroni over the buckets judged and the two directions tested.
    tests = (n - eval_from) * 2
    cps = cusum_multi(y)
    tail_start = cps[-1]["index"] + 1 if cps else 0
    tail = y[tail_start:]
    if len(tail) > MIN_SEGMENT:
        fresh = last_max_by_llr([c for c in cusum(tail) if c["index"] + 1 >= MIN_SEGMENT])
        if fresh is not None:
            cps.append(dict(fresh, index=fresh["index"] + tail_start))
    cps.sort(key=lambda c: c["index"])
    out = []
    for k, cp in enumerate(cps):
        lo = 0 if k == 0 else cps[k - 1]["index"] + 1
        hi = cps[k + 1]["index"] + 1 if k + 1 < len(cps) else n
        mu0 = plain_mean(y[lo : cp["index"] + 1])
        mu1 = plain_mean(y[cp["index"] + 1 : hi])
        at = cp["index"] + 1  # confirm_buckets 1
        if not (mu1 > mu0 if cp["direction"] == "increase" else mu1 < mu0):
            continue
        if abs(mu1 - mu0) / max(abs(mu0), 1.0) < MIN_REL_CHANGE:
            continue
        nl = float(-chi2.logsf(cp["llr"], 2) / math.log(10))
        score = max(nl - math.log10(tests), 0.0)
        if counts:
            old, new = y[lo : cp["index"] + 1], y[cp["index"] + 1 : hi]
            mu = max(plain_mean(old), COUNT_FLOOR)
            alpha = nb_dispersion(old, [mu] * len(old), range(len(old)), COUNT_FLOOR)
            m = len(new)
            # The sum of m independent NB2(mu, alpha) buckets is NB2(m mu, alpha / m).
            ln_t = ln_nb_tail(float(plain_sum(new)), mu * m, alpha / m, cp["direction"] == "decrease")
            # scipy underflows past ~1e-300: then the count law's score is beyond the Gaussian one.
            if ln_t is not None:
                score = min(score, max(-ln_t / math.log(10) - math.log10(tests), 0.0))
        if score < MIN_SCORE:  # the false-finding budget
            continue
        if at >= n or at < eval_from:
            continue
        if earlier and any(f["kind"] == cp["direction"] for f in shipped_changepoints(y[:at], at - 1, False)[1]):
            continue
        out.append({
            "start": at,
            "kind": cp["direction"],
            "index": cp["index"],
            "mu0": mu0,
            "mu1": mu1,
            "llr": cp["llr"],
            "score": score,
        })
    return None, out


def mk_tests(y):
    import pymannkendall as mk
    from scipy.stats import norm

    res = {}
    for name, r in (("original", mk.original_test(y, alpha=ALPHA)), ("seasonal7", mk.seasonal_test(y, period=PERIOD, alpha=ALPHA))):
        res[name] = {
            "s": float(r.s),
            "var_s": float(r.var_s),
            "z": float(r.z),
            "p": float(r.p),
            "p_sf": float(2 * norm.sf(abs(r.z))),
            "tau": float(r.Tau),
            "slope": float(r.slope),
            "intercept": float(r.intercept),
            "trend": r.trend,
        }
    return res


# TrendConfig::default(); jobs/demo.toml; the defaults capped at two a direction (the corpus has
# fewer trends of each direction than either shipped cap, so only this one exercises the cap).
TREND_CONFIGS = {"default": (MIN_REL_PER_WEEK, TOP_N), "demo": (0.2, 3), "top2": (MIN_REL_PER_WEEK, 2)}


def shipped_trend(y, tests, min_rel=MIN_REL_PER_WEEK):
    """The shipped trend detector's detect (src/detect/trend/mod.rs, TrendConfig defaults, daily
    buckets, ctx eval = every bucket): seasonal test (pymannkendall) when n >= 56 (eight weekly
    cycles, SEASONAL_MIN_CYCLES), the original test otherwise."""
    from scipy.stats import norm

    skip = precheck(y, 1)
    if skip:
        return skip, None
    n = len(y)
    if n < max(MIN_POINTS, 4):
        return "too_short", None
    seasonal = n >= 8 * PERIOD
    mk = tests["seasonal7" if seasonal else "original"]
    slope = mk["slope"] / PERIOD if seasonal else mk["slope"]
    z = mk["z"]
    if mk["p_sf"] >= ALPHA or z == 0.0:
        return None, None
    rel = slope * 7.0 / max(abs(plain_mean(y)), 1.0)
    if rel * z < 0 or abs(rel) < min_rel:
        return None, None
    score = max(float(-norm.logsf(abs(z)) / math.log(10)) - math.log10(2), 0.0)
    if score < 3.0 - math.log10(TREND_BUDGET):
        return None, "below_budget"
    return None, {"kind": "increasing" if z > 0 else "decreasing", "deviation": rel, "score": score, "p": min(1.0, float(2 * norm.sf(abs(z))))}


def cap_select(found, top_n=TOP_N):
    """Trend select(): per direction, the top_n by |relative change per week| (ties: lower id)."""
    sel = set()
    for kind in ("increasing", "decreasing"):
        g = sorted((i for i in found if found[i]["kind"] == kind), key=lambda i: (-abs(found[i]["deviation"]), i))
        sel.update(g[:top_n])
    return sel


def tails():
    """(function, a, b, value) at fixture points, from scipy."""
    from scipy import special
    from scipy.stats import norm

    rows = []
    mus = [0.5, 1.0, 2.5, 6.5, 20.0, 42.0, 100.0, 1000.0, 9999.0]
    for mu in mus:
        ks = sorted({0, 1, 2, int(mu), int(mu) + 1, int(2 * mu) + 3, int(mu + 6 * math.sqrt(mu)) + 2, int(5 * mu) + 10, int(20 * mu) + 30})
        for k in ks:
            rows.append(("poisson_upper", float(k), mu, poisson_tail(k, mu, False)))
            rows.append(("poisson_lower", float(k), mu, poisson_tail(k, mu, True)))
    for mu in [10001.0, 2e4, 1e5, 1e6]:
        for dz in [-4.0, -2.0, 0.0, 1.0, 3.0, 4.5]:
            k = float(round(mu + dz * math.sqrt(mu)))
            rows.append(("poisson_upper_wh", k, mu, poisson_tail(k, mu, False)))
            rows.append(("poisson_lower_wh", k, mu, poisson_tail(k, mu, True)))
    zs = [-6.0, -2.5, -1.0, -0.3, 0.0, 0.3, 1.0, 1.959963984540054, 2.5, 4.0, 6.0, 8.5, 12.0, 20.0, 29.5, 30.5, 37.0, 45.0, 100.0]
    for z in zs:
        rows.append(("neg_log10_normal_sf", z, 0.0, neg_log10_normal_sf(z)))
        rows.append(("norm_cdf", z, 0.0, float(norm.cdf(z))))
    for x in [-3.0, -1.0, -0.2, 0.0, 1e-8, 0.2, 0.5, 0.74, 0.76, 1.0, 2.0, 3.5, 5.0, 10.0, 20.0, 26.0]:
        rows.append(("erfc", x, 0.0, float(special.erfc(x))))
    for p in [1e-12, 1e-6, 0.001, 0.01, 0.025, 0.2, 0.5, 0.8, 0.975, 0.99, 0.999, 1 - 1e-9]:
        rows.append(("norm_ppf", p, 0.0, float(norm.ppf(p))))
    for x in [0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 7.0, 10.5, 51.0, 101.0, 1001.0, 20001.0, 1e6]:
        rows.append(("ln_gamma", x, 0.0, float(special.gammaln(x))))
    # chi2(2) (the CUSUM p-value and score) is pinned through cusum.csv and changepoint_findings.csv.
    return rows


def nb_tails():
    """(function, a, b, c, value) at fixture points: ln_reg_inc_beta (a, b, x) = ln
    scipy.special.betainc; ln_nb_upper / ln_nb_lower (k, mu, alpha) = ln_nb_tail above (scipy.stats
    nbinom, Poisson below alpha 1e-6). Points where scipy has no finite value are left out."""
    from scipy import special

    rows = []
    for a in [0.5, 1.0, 2.5, 7.0, 30.0, 200.0, 2000.0]:
        for b in [0.5, 1.0, 3.0, 20.0, 1000.0]:
            for x in [1e-4, 0.01, 0.05, 0.3, 0.5, 0.6, 0.9, 0.99, 0.9999]:
                v = float(special.betainc(a, b, x))
                if v > 0:
                    rows.append(("ln_reg_inc_beta", a, b, x, math.log(v)))
    # The Rust unit test's points (stats.rs), from SciPy 1.14 there.
    for a, b, x in [(2.5, 3.0, 0.4), (0.5, 0.5, 0.1), (50.0, 3.0, 0.2), (3.0, 1e3, 0.001)]:
        rows.append(("ln_reg_inc_beta", a, b, x, math.log(float(special.betainc(a, b, x)))))
    for alpha in [1e-7, 1e-6, 0.01, 0.05, 0.1, 0.3, 0.4, 0.7, 1.0, 2.0]:
        for mu in [0.5, 1.2, 3.0, 6.5, 10.0, 42.0, 150.0, 500.0]:
            sd = math.sqrt(mu + alpha * mu * mu)
            ks = sorted({0, 1, 2, int(mu / 3), int(mu), int(mu) + 1, int(mu + 2 * sd) + 1, int(mu + 6 * sd) + 2,
                         int(5 * mu) + 10, int(20 * mu) + 30, int(100 * mu) + 50})
            for k in ks:
                for name, lower in (("ln_nb_upper", False), ("ln_nb_lower", True)):
                    v = ln_nb_tail(float(k), mu, alpha, lower)
                    if v is not None and math.isfinite(v):
                        rows.append((name, float(k), mu, alpha, v))
    for k, mu, alpha, lower in [(12.0, 6.5, 0.3, False), (2.0, 6.5, 0.3, True), (144.0, 9.3, 0.4, False),
                                (40.0, 1.2, 2.0, False), (805.0, 42.0, 0.1, False)]:
        rows.append(("ln_nb_lower" if lower else "ln_nb_upper", k, mu, alpha, ln_nb_tail(k, mu, alpha, lower)))
    # Duplicates (a point in both lists) once.
    seen, out = set(), []
    for r in rows:
        if r[:4] not in seen:
            seen.add(r[:4])
            out.append(r)
    return out


# ----------------------------------------------------------------------------------------------
# fixture files
# ----------------------------------------------------------------------------------------------


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return " ".join(fmt(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "item"):  # numpy scalar
        return fmt(v.item())
    return str(v)


def versions() -> str:
    import numpy
    import pandas
    import pymannkendall
    import scipy
    import statsmodels

    kats = kp.load_kats()
    if not kats:
        raise SystemExit("Kats 0.2.0 is needed to produce the fixtures (it checks the ports); see benches/reference/README.md")
    pmk = getattr(pymannkendall, "__version__", "1.4.3")
    return (f"numpy {numpy.__version__}, pandas {pandas.__version__}, scipy {scipy.__version__}, "
            f"statsmodels {statsmodels.__version__}, pymannkendall {pmk}, kats {kats}; "
            f"Python {sys.version.split()[0]}")


def write(outdir: Path, name: str, what: str, header, rows, vers: str) -> None:
    with open(outdir / name, "w", newline="") as f:
        f.write(f"# generated by benches/reference/parity_fixtures.py (seed {SEED}); {vers}\n")
        f.write(f"# {what}\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([fmt(v) for v in r])


def produce(outdir: Path) -> list[str]:
    """Compute everything and write the fixtures; returns disagreements between Kats and the ports."""
    import numpy as np

    vers = versions()
    corpus = generate()
    problems = []
    outdir.mkdir(parents=True, exist_ok=True)
    write(outdir, "corpus.csv", "series: id, category, injected, values (space-separated)",
          ["id", "category", "injected", "values"],
          [(sid, cat, meta, [float(v) for v in y]) for sid, cat, y, meta in corpus], vers)

    rows_o, rows_of, rows_c, rows_m, rows_cf, rows_t, rows_tf = [], [], [], [], [], [], []
    trend_found, trend_skips, below_budget, capped_nowhere = {}, {}, {}, []
    nb_suppressed, nb_bound = {}, {}
    for sid, _cat, y, _meta in corpus:
        # (a) outliers
        r = iqr_rule(y)
        if r is not None:
            kats = kp.kats_outliers(y)
            if kats != r["inclusive"]:
                problems.append(f"outliers id {sid}: Kats OutlierDetector {kats} vs statsmodels+IQR port {r['inclusive']}")
            strength, strict = r["strength"], r["strict"]
            if np.all(y == y[0]):
                # A flat series: statsmodels' SVD end-line leaves ~1e-15 residuals at the ends (the
                # moving average is exact), so its "strength" and strict flags are roundoff. The
                # fixture says so; lakesight must report no strength and no strict flag there.
                strength, strict = ROUNDOFF, ROUNDOFF
            non_negative = bool((y >= 0).all())
            alpha = (nb_dispersion(y, r["expected"], range(len(y)), COUNT_FLOOR)
                     if non_negative and bool((y == y.round()).all()) else None)
            rows_o.append((sid, strength, r["removed"], r["q1"], r["q3"], r["lower_limit"], r["upper_limit"], r["inclusive"], strict, kats, alpha))
        for cfg, (dirs, last) in OUTLIER_CONFIGS.items():
            skip, found, (suppressed, bound) = shipped_outliers(y, dirs, last)
            nb_suppressed.setdefault(cfg, []).extend((sid, i) for i in suppressed)
            nb_bound.setdefault(cfg, []).extend((sid, i) for i in bound)
            if skip:
                rows_of.append((cfg, sid, "", "", f"skip:{skip}", None, None, None))
            for a in found:
                rows_of.append((cfg, sid, a["start"], a["end"], a["kind"], a["observed"], a["expected"], a["score"]))
        # (b) change points
        kats_cps = {d: (i, llr) for i, d, llr, _p in kp.kats_cusum(y)}
        port = {}
        for d in ("increase", "decrease"):
            c = cusum_candidate(y, d)
            if c is None:
                continue
            port[d] = c
            ki = kats_cps.get(d, (None,))[0]
            if c["detected"] and (ki is None or ki != c["index"] or not math.isclose(kats_cps[d][1], c["llr"], rel_tol=1e-9)):
                problems.append(f"cusum id {sid} {d}: Kats CUSUMDetector {kats_cps.get(d)} vs numpy port ({c['index']}, {c['llr']})")
            rows_c.append((sid, d, c["index"], c["mu0"], c["mu1"], c["llr"], c["p"], c["stable"], c["detected"], ki))
        for d in kats_cps:
            if d not in port or not port[d]["detected"]:
                problems.append(f"cusum id {sid} {d}: Kats CUSUMDetector reports {kats_cps[d]}, the numpy port does not")
        for k, c in enumerate(cusum_multi(y)):
            rows_m.append((sid, k, c["index"], c["direction"], c["llr"]))
        skip, found = shipped_changepoints(y)
        if skip:
            rows_cf.append((sid, "", f"skip:{skip}", None, None, None, None, None))
        for a in found:
            rows_cf.append((sid, a["start"], a["kind"], a["index"], a["mu0"], a["mu1"], a["llr"], a["score"]))
        # (c) trend
        t = mk_tests(y)
        for name, m in t.items():
            rows_t.append((sid, name, m["s"], m["var_s"], m["z"], m["p"], m["p_sf"], m["tau"], m["slope"], m["intercept"], m["trend"]))
        for cfg, (min_rel, _top) in TREND_CONFIGS.items():
            skip, f = shipped_trend(y, t, min_rel)
            if skip:
                trend_skips[sid] = skip
            elif f == "below_budget":
                below_budget.setdefault(cfg, []).append(sid)
            elif f:
                trend_found.setdefault(cfg, {})[sid] = f
    for cfg, (_min_rel, top_n) in TREND_CONFIGS.items():
        found = trend_found.get(cfg, {})
        selected = cap_select(found, top_n)
        if not below_budget.get(cfg):
            problems.append(f"trend_findings {cfg}: no trend significant at alpha is kept out by the budget; the corpus no longer covers it")
        if len(selected) == len(found):
            capped_nowhere.append(cfg)
        for sid, _cat, _y, _meta in corpus:
            if sid in trend_skips:
                rows_tf.append((cfg, sid, f"skip:{trend_skips[sid]}", None, None, None, None))
            elif sid in found:
                f = found[sid]
                rows_tf.append((cfg, sid, f["kind"], f["deviation"], f["score"], f["p"], sid in selected))

    write(outdir, "outliers.csv", "statsmodels seasonal_decompose(period=7, extrapolate_trend='freq') + Kats 0.2.0 IQR rule, iqr_mult 3; "
          "inclusive = Kats 0.2.0 fences, strict = shipped default; kats = Kats OutlierDetector itself; "
          "'roundoff': on a flat series statsmodels' SVD end-line leaves ~1e-15 residuals, the reference value is roundoff and lakesight must give none; "
          "alpha (count series) = NB2 dispersion by moments over all buckets around the strict rule's expected value, floor 0.5",
          ["id", "strength", "removed", "q1", "q3", "lower_limit", "upper_limit", "inclusive", "strict", "kats", "alpha"], rows_o, vers)
    for cfg in OUTLIER_CONFIGS:
        if not nb_suppressed.get(cfg):
            problems.append(f"outlier_findings {cfg}: no flag is suppressed by the NB tail that a Poisson tail keeps; "
                            "the corpus no longer covers the NB path")
    if not any(nb_bound.values()):
        problems.append("outlier_findings: no flag's score is the NB tail's with alpha > 0; the corpus no longer covers the NB score")
    if not SEEN_BEFORE:
        problems.append("outlier_findings: no spike is left out as seen before (seen_before_ratio); the corpus no longer covers it")
    write(outdir, "outlier_findings.csv", "shipped seasonal_iqr (SeasonalIqrConfig defaults: false_findings_per_1000 1; directions spike | "
          "spike+dip over every bucket; spike+dip over the last 14 buckets, dispersion from the buckets before them); gates and score with scipy.stats nbinom (dispersion by moments; poisson below 1e-6)/norm tails; "
          "buckets the NB tail suppresses that a Poisson tail would flag (id:bucket): "
          + "; ".join(f"{c} " + " ".join(f"{sid}:{i}" for sid, i in nb_suppressed.get(c, [])) for c in OUTLIER_CONFIGS)
          + f"; spikes left out as seen before (seen_before_ratio {SEEN_BEFORE_RATIO}): {len(SEEN_BEFORE)}"
          + "; flagged buckets scored by the NB tail (alpha > 0, less surprising than the normal tail): "
          + "; ".join(f"{c} " + " ".join(f"{sid}:{i}" for sid, i in nb_bound.get(c, [])) for c in OUTLIER_CONFIGS),
          ["config", "id", "start", "end", "kind", "observed", "expected", "score"], rows_of, vers)
    write(outdir, "cusum.csv", "Kats CUSUMDetector math (numpy port, checked against Kats 0.2.0: kats_index), threshold 0.01, "
          "max_iter 10, delta_std_ratio 1, min_abs_change 0: the candidate per direction",
          ["id", "direction", "index", "mu0", "mu1", "llr", "p", "stable", "detected", "kats_index"], rows_c, vers)
    write(outdir, "cusum_multi.csv", "lakesight cusum_multi (best-first binary segmentation, min_segment 7, max_points 3) over the numpy "
          "port of Kats' single-change test", ["id", "k", "index", "direction", "llr"], rows_m, vers)
    write(outdir, "changepoint_findings.csv", "shipped cusum detector (CusumConfig defaults: false_findings_per_1000 1, so score >= 3) "
          "over every bucket; score from scipy chi2(2).logsf, for count series at most the scipy nbinom score (NB2 tail of "
          "the new regime's total given the old regime's mean and dispersion); a change also reported on the night "
          "before its onset (its own cut) left out",
          ["id", "start", "kind", "index", "mu0", "mu1", "llr", "score"], rows_cf, vers)
    write(outdir, "trend.csv", "pymannkendall original_test(alpha 0.05) and seasonal_test(period 7); p = pymannkendall's, "
          "p_sf = 2*scipy norm.sf(|z|)", ["id", "test", "s", "var_s", "z", "p", "p_sf", "tau", "slope", "intercept", "trend"], rows_t, vers)
    if len(capped_nowhere) == len(TREND_CONFIGS):
        problems.append("trend_findings: no config's top_n cap leaves a trend out; the corpus no longer covers select")
    write(outdir, "trend_findings.csv", f"shipped trend detector over every bucket, config default = TrendConfig defaults "
          f"(min_rel_change_per_week 0.1, false_findings_per_1000 1, top_n 10), demo = jobs/demo.toml (0.2, top_n 3), "
          f"top2 = the defaults with top_n 2; "
          f"reported when score >= 3 - log10(budget); selected = top_n per direction; significant at alpha 0.05 but kept "
          f"out by the budget (id): " + "; ".join(f"{c} " + " ".join(str(i) for i in below_budget.get(c, [])) for c in TREND_CONFIGS),
          ["config", "id", "kind", "deviation", "score", "p", "selected"], rows_tf, vers)
    write(outdir, "tails.csv", "scipy.stats poisson sf/cdf, norm logsf/cdf/ppf; scipy.special erfc, gammaln",
          ["function", "a", "b", "value"], tails(), vers)
    write(outdir, "nb_tails.csv", "ln_reg_inc_beta(a, b, c=x) = ln scipy.special.betainc; ln_nb_upper/lower(a=k, b=mu, c=alpha) = "
          "ln scipy.stats.nbinom(1/alpha, p=n/(n+mu)).sf(k-1) / .cdf(k) (logsf/logcdf where those underflow; poisson below alpha 1e-6)",
          ["function", "a", "b", "c", "value"], nb_tails(), vers)
    log(f"wrote fixtures to {outdir}: {len(corpus)} series")
    return problems


# ----------------------------------------------------------------------------------------------
# comparison (the same spec as tests/it/parity.rs)
# ----------------------------------------------------------------------------------------------

EXACT = None
# outliers.csv marker: the reference value is floating-point roundoff; lakesight must give none ("").
ROUNDOFF = "roundoff"
# file -> (key columns, {column: (relative, absolute) tolerance, or EXACT}); unlisted columns exact.
SPEC = {
    "outliers.csv": (["id"], {"strength": (1e-9, 1e-12), "q1": (1e-9, 1e-10), "q3": (1e-9, 1e-10),
                              "lower_limit": (1e-9, 1e-10), "upper_limit": (1e-9, 1e-10), "alpha": (1e-9, 1e-12)}),
    "outlier_findings.csv": (["config", "id", "start"], {"observed": (1e-12, 0.0), "expected": (1e-9, 1e-9), "score": (1e-9, 1e-9)}),
    "cusum.csv": (["id", "direction"], {"mu0": (1e-12, 1e-12), "mu1": (1e-12, 1e-12), "llr": (1e-9, 1e-9), "p": (0.0, 1e-12)}),
    "cusum_multi.csv": (["id", "k"], {"llr": (1e-9, 1e-9)}),
    "changepoint_findings.csv": (["id", "start"], {"mu0": (1e-12, 1e-12), "mu1": (1e-12, 1e-12), "llr": (1e-9, 1e-9), "score": (1e-9, 1e-9)}),
    "trend.csv": (["id", "test"], {"z": (1e-12, 1e-15), "p": (0.0, 1e-14), "p_sf": (1e-9, 0.0), "tau": (1e-12, 1e-15),
                                   "slope": (1e-12, 1e-15), "intercept": (1e-12, 1e-12)}),
    "trend_findings.csv": (["config", "id"], {"deviation": (1e-12, 1e-15), "score": (1e-9, 1e-9), "p": (1e-9, 0.0)}),
    "tails.csv": (["function", "a", "b"], {"value": (1e-9, 0.0)}),
    # ln of a probability: 1e-9 relative, and 1e-12 absolute (= 1e-12 relative on the probability) near ln 1 = 0.
    "nb_tails.csv": (["function", "a", "b", "c"], {"value": (1e-9, 1e-12)}),
}
LN_GAMMA = (1e-12, 1e-14)  # tails.csv rows ln_gamma: absolute at its zeros (x = 1, 2)
WILSON_HILFERTY = (1e-3, 0.0)  # tails.csv rows poisson_*_wh


def read_table(path: Path):
    with open(path) as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def close(a: str, b: str, tol) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    return abs(x - y) <= tol[0] * max(abs(x), abs(y)) + tol[1]


def compare(ref_dir: Path, got_dir: Path) -> list[str]:
    problems = []
    for name, (keys, tols) in SPEC.items():
        if not (got_dir / name).exists():
            problems.append(f"{name}: missing in {got_dir}")
            continue
        ref = {tuple(r[k] for k in keys): r for r in read_table(ref_dir / name)}
        got = {tuple(r[k] for k in keys): r for r in read_table(got_dir / name)}
        for key in sorted(set(ref) | set(got)):
            if key not in got:
                problems.append(f"{name} {dict(zip(keys, key))}: reference row missing in lakesight's output: {ref[key]}")
                continue
            if key not in ref:
                problems.append(f"{name} {dict(zip(keys, key))}: lakesight row not in the reference: {got[key]}")
                continue
            for col, rv in ref[key].items():
                tol = tols.get(col, EXACT)
                if name == "tails.csv" and ref[key]["function"].endswith("_wh"):
                    tol = WILSON_HILFERTY
                if name == "tails.csv" and ref[key]["function"] == "ln_gamma":
                    tol = LN_GAMMA
                gv = got[key].get(col, "")
                if rv == ROUNDOFF:
                    ok = gv == ""
                else:
                    ok = (gv == rv) if tol is EXACT else close(rv, gv, tol)
                if not ok:
                    problems.append(f"{name} {dict(zip(keys, key))} {col}: reference {rv!r}, lakesight {gv!r} (tolerance {tol or 'exact'})")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(FIXTURES), help=f"where the fixtures go (default {FIXTURES})")
    ap.add_argument("--verify", action="store_true", help="regenerate into a temp dir; fail if the committed fixtures differ")
    ap.add_argument("--compare", metavar="DIR", help="lakesight's values (LAKESIGHT_PARITY_DUMP=DIR cargo test --test it parity)")
    ap.add_argument("--no-venv", action="store_true")
    ap.add_argument("--venv", default=str(kp.DEFAULT_VENV))
    args = ap.parse_args()
    reexec_in_venv(args)

    if args.compare:
        got = Path(args.compare)
        if not got.is_dir():
            print(f"{got}: not a directory", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            problems = produce(Path(tmp))
            problems += compare(Path(tmp), got)
    elif args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            problems = produce(Path(tmp))
            for name in ["corpus.csv", *SPEC]:
                if not filecmp.cmp(Path(tmp) / name, Path(args.out) / name, shallow=False):
                    problems.append(f"{name}: regenerated fixture differs from the committed {Path(args.out) / name}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            problems = produce(Path(tmp))
            if not problems:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                for name in ["corpus.csv", *SPEC]:
                    shutil.copyfile(Path(tmp) / name, Path(args.out) / name)
                log(f"copied the fixtures to {args.out}")
    for p in problems:
        print(f"DISAGREEMENT: {p}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} disagreement(s)", file=sys.stderr)
        return 1
    log("all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
