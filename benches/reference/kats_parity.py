#!/usr/bin/env python3
"""Parity check of lakesight's Kats re-implementation (src/detect/outlier/decompose.rs,
changepoint/cusum.rs, trend/mann_kendall.rs) against the Python originals.

What it does
  1. Makes (once) a virtualenv under $HOME/.cache/lakesight-ref/venv with numpy, scipy, pandas,
     statsmodels and pymannkendall at the versions of shared/reference/timeseries-detectors.md, and tries
     Kats 0.2.0 (`pip install kats==0.2.0 --no-deps` plus its working pins). If Kats does not install
     or import, everything else still runs and the Kats columns say "n/a". The script re-executes
     itself inside that venv.
  2. Generates a fixed corpus (numpy seed, default 200 daily series x 120 points: weekly seasonality +
     noise, some with injected spikes, level shifts, trends, plus a few edge cases) and writes
     series.csv (id,i,value) into the output directory, together with series_meta.csv (what was
     injected where).
  3. Computes the reference results on that corpus:
       - outliers: statsmodels `seasonal_decompose(period=7, extrapolate_trend="freq")` + the Kats 0.2.0
         strength / IQR rule (iqr_mult 3, inclusive fences), a direct port of `OutlierDetector.__clean_ts__`;
       - change points: a direct numpy port of Kats' CUSUMDetector math ("numpy port of Kats CUSUM"),
         defaults threshold 0.01, max_iter 10, delta_std_ratio 1, min_abs_change 0, both directions;
       - trend: pymannkendall `original_test(y, alpha=0.05)` (S, p, Tau, Sen slope);
       - and, if Kats imported, Kats' own OutlierDetector / CUSUMDetector, compared with the ports.
     They are written as ref_outliers.csv, ref_changepoints.csv, ref_trend.csv (same formats as below).
  4. With --compare DIR, reads lakesight's results from DIR (formats in README.md beside this file):
       outliers.csv (id,i), changepoints.csv (id,index,direction), trend.csv (id,slope,p,tau)
     and prints a markdown table of agreement: identical outlier flags, change points within +-1 bucket,
     identical trend directions, identical slope rank order.

Usage
  python3 benches/reference/kats_parity.py --generate-only [--out DIR]   # series.csv only (no venv needed)
  python3 benches/reference/kats_parity.py [--out DIR]                   # + reference results and Kats-vs-port table
  python3 benches/reference/kats_parity.py --compare DIR [--out DIR]     # + lakesight-vs-reference table
Options: --no-venv (use the current interpreter as is), --venv PATH, --seed N, --n-series N, --length N,
         --no-kats (skip Kats even if installed), --alpha A.
Exit status: 0 on agreement; 1 on any disagreement (a flag on one side only, a change point more than
+-1 bucket apart or on one side only, a different trend direction or slope order, |slope| > 1e-9,
|p| > 1e-14, |tau| > 1e-12; and, with Kats installed, the ports vs Kats itself), each named on
stderr; 2 on missing inputs. The committed fixtures and their Rust test: parity_fixtures.py.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = Path.home() / ".cache" / "lakesight-ref" / "venv"
CORE_PINS = [
    "packaging==21.3",
    "numpy==1.24.4",
    "pandas==1.5.3",
    "scipy==1.10.1",
    "statsmodels==0.13.5",
    "pymannkendall==1.4.3",
    "python-dateutil==2.8.2",
]
CORE_UNPINNED = ["numpy", "pandas", "scipy", "statsmodels", "pymannkendall"]
KATS_EXTRA = [
    "matplotlib==3.7.5",
    "scikit-learn==1.3.2",
    "seaborn==0.12.2",
    "ruptures==1.1.9",
    "attrs",
    "deprecated",
    "plotly",
    "tqdm",
]
READY_MARKER = ".lakesight-ready-v1"
PERIOD = 7
IQR_MULT = 3.0


# ----------------------------------------------------------------------------------------------
# venv bootstrap
# ----------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[kats_parity] {msg}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pip(venv: Path, *args: str) -> bool:
    cmd = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    log("pip install " + " ".join(args))
    return subprocess.run(cmd).returncode == 0


def ensure_venv(venv: Path, want_kats: bool) -> None:
    """Create the venv and install the reference packages once (a marker file records success)."""
    marker = venv / READY_MARKER
    if marker.exists():
        return
    if not venv_python(venv).exists():
        log(f"creating virtualenv {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    core = CORE_PINS
    if not pip(venv, *CORE_PINS):
        log("pinned reference packages failed to install; trying unpinned versions")
        core = CORE_UNPINNED
        if not pip(venv, *CORE_UNPINNED):
            raise SystemExit("could not install numpy/pandas/scipy/statsmodels/pymannkendall")
    kats_state = "skipped"
    if want_kats:
        # The core pins go along so that Kats' extras (e.g. a recent contourpy) cannot upgrade numpy.
        if pip(venv, "kats==0.2.0", "--no-deps") and pip(venv, *core, *KATS_EXTRA):
            kats_state = "installed"
        else:
            kats_state = "failed"
            log("Kats 0.2.0 did not install; continuing without it")
    marker.write_text(f"kats={kats_state}\n")


def maybe_reexec(args: argparse.Namespace) -> None:
    if args.no_venv:
        return
    venv = Path(args.venv).expanduser()
    try:
        same = Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        same = False
    if same:
        return
    ensure_venv(venv, want_kats=not args.no_kats)
    py = str(venv_python(venv))
    os.execv(py, [py, str(Path(__file__).resolve()), *sys.argv[1:]])


# ----------------------------------------------------------------------------------------------
# corpus
# ----------------------------------------------------------------------------------------------

CATEGORIES = ["plain", "spikes", "level_shift", "trend", "spike_and_shift"]


def generate(seed: int, n_series: int, length: int):
    """Fixed corpus: list of (id, category, values, meta string). Deterministic for a given seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    n_edge = min(5, n_series)
    for sid in range(n_series - n_edge):
        cat = CATEGORIES[sid % len(CATEGORIES)]
        counts = sid % 2 == 0  # half Poisson counts (ties, zeros), half continuous
        level = float(rng.uniform(5, 60))
        amp = float(rng.uniform(0.0, 0.5)) * level
        weekday = rng.normal(0, 1, PERIOD)
        weekday = weekday / (np.abs(weekday).max() + 1e-9)
        t = np.arange(length)
        mean = level + amp * weekday[t % PERIOD]
        meta = []
        if cat in ("level_shift", "spike_and_shift"):
            lo = max(1, length // 5)
            at = int(rng.integers(lo, max(lo + 1, length - lo)))
            size = float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.0) * level)
            mean = mean + np.where(t >= at, size, 0.0)
            meta.append(f"shift@{at}:{size:+.2f}")
        if cat == "trend":
            slope = float(rng.choice([-1, 1]) * rng.uniform(0.002, 0.01) * level)
            mean = mean + slope * (t - length / 2)
            meta.append(f"trend:{slope:+.4f}/day")
        mean = np.maximum(mean, 0.5)
        if counts:
            y = rng.poisson(mean).astype(float)
        else:
            y = mean + rng.normal(0, 0.15 * level, length)
        if cat in ("spikes", "spike_and_shift"):
            for _ in range(int(rng.integers(1, 4))):
                at = int(rng.integers(0, length))
                size = float(rng.uniform(4, 10) * max(1.0, 0.15 * level))
                y[at] += size
                meta.append(f"spike@{at}:{size:+.2f}")
        if counts:
            y = np.round(y)
        out.append((sid, cat, y, ";".join(meta)))
    # Edge cases: flat zero, flat non-zero, sparse counts, one spike on zeros, tiny values.
    edges = [
        ("edge_flat_zero", np.zeros(length)),
        ("edge_flat_five", np.full(length, 5.0)),
        ("edge_sparse", (rng.random(length) < 0.1).astype(float) * rng.integers(1, 4, length)),
        ("edge_single_spike", np.where(np.arange(length) == length // 2, 9.0, 0.0)),
        ("edge_tiny", 1e-6 * (1 + rng.random(length))),
    ]
    for k in range(n_edge):
        name, y = edges[k]
        out.append((n_series - n_edge + k, name, np.asarray(y, dtype=float), name))
    return out


def write_series(outdir: Path, corpus) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / "series.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "i", "value"])
        for sid, _cat, y, _meta in corpus:
            for i, v in enumerate(y):
                w.writerow([sid, i, repr(float(v))])  # repr: shortest exact round-trip
    with open(outdir / "series_meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "category", "injected"])
        for sid, cat, _y, meta in corpus:
            w.writerow([sid, cat, meta])
    log(f"wrote {outdir / 'series.csv'} ({len(corpus)} series)")


def read_series(outdir: Path):
    import numpy as np

    rows: dict[int, dict[int, float]] = {}
    with open(outdir / "series.csv") as f:
        for r in csv.DictReader(f):
            rows.setdefault(int(r["id"]), {})[int(r["i"])] = float(r["value"])
    cats = {}
    if (outdir / "series_meta.csv").exists():
        with open(outdir / "series_meta.csv") as f:
            for r in csv.DictReader(f):
                cats[int(r["id"])] = r["category"]
    return {sid: (cats.get(sid, "?"), np.array([d[i] for i in sorted(d)])) for sid, d in sorted(rows.items())}


# ----------------------------------------------------------------------------------------------
# reference implementations
# ----------------------------------------------------------------------------------------------


def ref_outliers(y, iqr_mult: float = IQR_MULT, period: int = PERIOD):
    """Kats 0.2.0 OutlierDetector.__clean_ts__ on a numpy array: statsmodels decomposition + IQR rule."""
    import numpy as np
    from statsmodels.tsa.seasonal import seasonal_decompose

    if len(y) < 2 * period or not np.all(np.isfinite(y)):
        return []
    r = seasonal_decompose(y, model="additive", period=period, extrapolate_trend="freq")
    detrend = y - r.trend
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = float(1 - np.nanvar(r.resid) / np.nanvar(detrend))
    yp = y - r.seasonal if strength >= 0.6 else y
    resid = yp - r.trend
    q = np.nanpercentile(resid, [25, 75])
    iqr = q[1] - q[0]
    limits = q + (iqr_mult * iqr * np.array([-1, 1]))
    return [int(i) for i in np.where((resid >= limits[1]) | (resid <= limits[0]))[0]]


def _cusum_llr(ts, mu0, mu1, cp):
    import numpy as np

    scale = np.sqrt((np.sum((ts[: cp + 1] - mu0) ** 2) + np.sum((ts[cp + 1 :] - mu1) ** 2)) / (len(ts) - 2))
    mu_t, sigma_t = np.mean(ts), np.std(ts)
    if scale == 0:
        scale = sigma_t * 0.01

    def part(x, m):
        return np.sum(np.log(scale / sigma_t) + 0.5 * (((x - m) / scale) ** 2 - ((x - mu_t) / sigma_t) ** 2))

    return -2 * (part(ts[: cp + 1], mu0) + part(ts[cp + 1 :], mu1))


def _cusum_locate(ts, direction, max_iter):
    """Kats CUSUMDetector's change-point location for one direction: the cumulative-sum extremum,
    refined until it stops moving. Returns (index, iterations); ts a float array of length >= 3."""
    import numpy as np

    n = len(ts)
    func = np.argmin if direction == "increase" else np.argmax
    cp = min(int(func(np.cumsum(ts - np.mean(ts)))), n - 2)
    it = 0
    while it < max_iter:
        it += 1
        mu0, mu1 = np.mean(ts[: cp + 1]), np.mean(ts[cp + 1 :])
        nxt = max(1, min(int(func(np.cumsum(ts - (mu0 + mu1) / 2))), n - 2))
        if nxt == cp:
            break
        cp = nxt
    return cp, it


def ref_cusum(ts, threshold=0.01, max_iter=10, delta_std_ratio=1.0, min_abs_change=0.0):
    """Direct numpy port of Kats CUSUMDetector (0.2.0 and later) math, no interest window / magnitude check.

    Returns [(index, direction, llr, p_value)] for the change points Kats would report."""
    import numpy as np
    from scipy.stats import chi2

    ts = np.asarray(ts, dtype=float)
    n = len(ts)
    if n < 3 or not np.all(np.isfinite(ts)) or np.std(ts) == 0:
        return []
    out = []
    for direction in ("increase", "decrease"):
        cp, _ = _cusum_locate(ts, direction, max_iter)
        mu0, mu1 = np.mean(ts[: cp + 1]), np.mean(ts[cp + 1 :])
        llr = _cusum_llr(ts, mu0, mu1, cp)
        p = 1 - chi2.cdf(llr, 2)
        sig = llr > chi2.ppf(1 - threshold, 2)
        moved = (mu0 + min_abs_change < mu1) if direction == "increase" else (mu0 > mu1 + min_abs_change)
        with np.errstate(invalid="ignore"):
            big = np.abs(mu1 - mu0) > np.std(ts[:cp]) * delta_std_ratio if cp > 0 else False
        if sig and moved and big:
            out.append((cp, direction, float(llr), float(p)))
    return out


def ref_trend(y, alpha=0.05):
    import pymannkendall as mk

    r = mk.original_test(y, alpha=alpha)
    return {"slope": float(r.slope), "p": float(r.p), "tau": float(r.Tau), "trend": r.trend, "z": float(r.z)}


def load_kats():
    try:
        import logging
        import warnings

        logging.disable(logging.CRITICAL)
        warnings.filterwarnings("ignore")
        from kats.consts import TimeSeriesData  # noqa: F401
        from kats.detectors.cusum_detection import CUSUMDetector  # noqa: F401
        from kats.detectors.outlier import OutlierDetector  # noqa: F401
        import kats

        return getattr(kats, "__version__", "0.2.0")
    except Exception as e:  # noqa: BLE001 - any import problem means "no Kats"
        log(f"Kats not available ({type(e).__name__}: {e}); Kats columns will be n/a")
        return None


def kats_outliers(y):
    import pandas as pd
    from kats.consts import TimeSeriesData
    from kats.detectors.outlier import OutlierDetector

    idx = pd.date_range("2024-01-01", periods=len(y), freq="D")
    d = OutlierDetector(TimeSeriesData(pd.DataFrame({"time": idx, "y": y})), "additive", IQR_MULT)
    d.detector()  # Kats logs and returns [] on failure
    return sorted(int(idx.get_loc(t)) for t in (d.outliers[0] if d.outliers else []))


def kats_cusum(y):
    import pandas as pd
    from kats.consts import TimeSeriesData
    from kats.detectors.cusum_detection import CUSUMDetector

    idx = pd.date_range("2024-01-01", periods=len(y), freq="D")
    try:
        cps = CUSUMDetector(TimeSeriesData(pd.DataFrame({"time": idx, "value": y}))).detector(threshold=0.01)
    except Exception:  # noqa: BLE001 - e.g. a flat series; Kats itself fails there
        return []
    return [(int(c.cp_index), c.direction, float(c.llr), float(c.p_value)) for c in cps]


# ----------------------------------------------------------------------------------------------
# comparison
# ----------------------------------------------------------------------------------------------


def outlier_agreement(series, a: dict, b: dict):
    """a, b: id -> set of flagged indices. Returns (point agreement %, identical series %, only_a, only_b)."""
    total = same = same_series = only_a = only_b = 0
    for sid, (_cat, y) in series.items():
        fa, fb = a.get(sid, set()), b.get(sid, set())
        total += len(y)
        same += len(y) - len(fa ^ fb)
        same_series += fa == fb
        only_a += len(fa - fb)
        only_b += len(fb - fa)
    n = max(1, len(series))
    return 100.0 * same / max(1, total), 100.0 * same_series / n, only_a, only_b


def cp_agreement(series, a: dict, b: dict, tol: int = 1):
    """a, b: id -> {direction: index}. Agreement over (series, direction): both silent, or both report
    within +-tol. Also the exact-index rate among the pairs both report."""
    agree = pairs = both = exact = 0
    for sid in series:
        for d in ("increase", "decrease"):
            pairs += 1
            ia, ib = a.get(sid, {}).get(d), b.get(sid, {}).get(d)
            if ia is None and ib is None:
                agree += 1
            elif ia is not None and ib is not None:
                both += 1
                exact += ia == ib
                agree += abs(ia - ib) <= tol
    return 100.0 * agree / max(1, pairs), (100.0 * exact / both) if both else float("nan"), both


def direction_of(p: float, tau: float, alpha: float) -> str:
    if not (p < alpha):
        return "no trend"
    return "increasing" if tau > 0 else "decreasing" if tau < 0 else "no trend"


def trend_agreement(series, ref: dict, got: dict, alpha: float):
    import numpy as np
    from scipy.stats import rankdata, spearmanr

    ids = [sid for sid in series if sid in ref and sid in got]
    if not ids:
        return None
    dir_same = sum(direction_of(got[s]["p"], got[s]["tau"], alpha) == ref[s]["trend"] for s in ids)
    rs = np.array([ref[s]["slope"] for s in ids])
    gs = np.array([got[s]["slope"] for s in ids])
    rr, gr = rankdata(rs), rankdata(gs)  # ties get the average rank
    rank_same = int(np.sum(rr == gr))
    rho = float(spearmanr(rs, gs).correlation) if len(ids) > 2 else float("nan")
    k = min(20, len(ids) // 2)
    order_r, order_g = np.argsort(-rs, kind="stable"), np.argsort(-gs, kind="stable")
    top_same = set(order_r[:k]) == set(order_g[:k])
    bottom_same = set(order_r[-k:]) == set(order_g[-k:]) if k else True
    return {
        "n": len(ids),
        "direction": 100.0 * dir_same / len(ids),
        "rank_identical": 100.0 * rank_same / len(ids),
        "order_identical": bool(np.array_equal(rr, gr)),
        "spearman": rho,
        "top_bottom_20": top_same and bottom_same,
        "max_slope_diff": float(np.max(np.abs(rs - gs))),
        "max_p_diff": float(max(abs(got[s]["p"] - ref[s]["p"]) for s in ids)),
        "max_tau_diff": float(max(abs(got[s]["tau"] - ref[s]["tau"]) for s in ids)),
    }


def read_lakesight(d: Path):
    need = ["outliers.csv", "changepoints.csv", "trend.csv"]
    missing = [n for n in need if not (d / n).exists()]
    if missing:
        print(f"missing in {d}: {', '.join(missing)} (formats in benches/reference/README.md)", file=sys.stderr)
        raise SystemExit(2)
    outl: dict[int, set] = {}
    with open(d / "outliers.csv") as f:
        for r in csv.DictReader(f):
            outl.setdefault(int(r["id"]), set()).add(int(r["i"]))
    cps: dict[int, dict] = {}
    with open(d / "changepoints.csv") as f:
        for r in csv.DictReader(f):
            cps.setdefault(int(r["id"]), {})[r["direction"].strip().lower()] = int(r["index"])
    trend = {}
    with open(d / "trend.csv") as f:
        for r in csv.DictReader(f):
            trend[int(r["id"])] = {"slope": float(r["slope"]), "p": float(r["p"]), "tau": float(r["tau"])}
    return outl, cps, trend


def fmt(v, pct=False):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if pct:
        return f"{v:.2f} %"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path.cwd() / "target" / "kats-parity"), help="where series.csv and ref_*.csv go")
    ap.add_argument("--generate-only", action="store_true", help="only write series.csv / series_meta.csv")
    ap.add_argument("--compare", metavar="DIR", help="directory with lakesight's outliers.csv, changepoints.csv, trend.csv")
    ap.add_argument("--no-venv", action="store_true", help="run with the current interpreter, install nothing")
    ap.add_argument("--venv", default=str(DEFAULT_VENV), help=f"virtualenv to create/use (default {DEFAULT_VENV})")
    ap.add_argument("--no-kats", action="store_true", help="do not install or run Kats")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--n-series", type=int, default=200)
    ap.add_argument("--length", type=int, default=120)
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args()

    if args.generate_only:
        try:
            import numpy  # noqa: F401
        except ImportError:
            maybe_reexec(args)
    else:
        maybe_reexec(args)
    try:
        import numpy  # noqa: F401
        if not args.generate_only:
            import pymannkendall  # noqa: F401
            import scipy  # noqa: F401
            import statsmodels  # noqa: F401
    except ImportError as e:
        print(f"{e}: run without --no-venv, or install numpy scipy pandas statsmodels pymannkendall", file=sys.stderr)
        return 2

    outdir = Path(args.out)
    corpus = generate(args.seed, args.n_series, args.length)
    write_series(outdir, corpus)
    if args.generate_only:
        return 0

    series = read_series(outdir)  # what the Rust side reads, parsed back
    kats_version = None if args.no_kats else load_kats()

    log("computing reference results")
    r_out, r_cp, r_tr, k_out, k_cp = {}, {}, {}, {}, {}
    import time as _time
    spent = {"ref_outliers": 0.0, "ref_cusum": 0.0, "ref_trend": 0.0, "kats_outliers": 0.0, "kats_cusum": 0.0}

    def timed(name, f):
        t0 = _time.perf_counter()
        r = f()
        spent[name] += _time.perf_counter() - t0
        return r

    for sid, (_cat, y) in series.items():
        r_out[sid] = timed("ref_outliers", lambda: set(ref_outliers(y)))
        r_cp[sid] = timed("ref_cusum", lambda: {d: i for i, d, _l, _p in ref_cusum(y)})
        r_tr[sid] = timed("ref_trend", lambda: ref_trend(y, args.alpha))
        if kats_version:
            k_out[sid] = timed("kats_outliers", lambda: set(kats_outliers(y)))
            k_cp[sid] = timed("kats_cusum", lambda: {d: i for i, d, _l, _p in kats_cusum(y)})
    n = max(len(series), 1)
    print(f"\n## Python reference time, one process, {len(series)} series x {args.length} points\n")
    print("| reference | total s | us per series |")
    print("|---|---|---|")
    for name, sec in spent.items():
        if sec > 0:
            print(f"| {name} | {sec:.2f} | {sec * 1e6 / n:.0f} |")
    ports = spent["ref_outliers"] + spent["ref_cusum"] + spent["ref_trend"]
    print(f"| ports, all three detectors | {ports:.2f} | {ports * 1e6 / n:.0f} |")
    if kats_version:
        k = spent["kats_outliers"] + spent["kats_cusum"] + spent["ref_trend"]
        print(f"| Kats 0.2.0 outliers + CUSUM, pymannkendall trend | {k:.2f} | {k * 1e6 / n:.0f} |")

    with open(outdir / "ref_outliers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "i"])
        for sid in series:
            for i in sorted(r_out[sid]):
                w.writerow([sid, i])
    with open(outdir / "ref_changepoints.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "index", "direction"])
        for sid in series:
            for d, i in sorted(r_cp[sid].items()):
                w.writerow([sid, i, d])
    with open(outdir / "ref_trend.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "slope", "p", "tau", "trend"])
        for sid in series:
            t = r_tr[sid]
            w.writerow([sid, repr(t["slope"]), repr(t["p"]), repr(t["tau"]), t["trend"]])
    log(f"wrote ref_outliers.csv, ref_changepoints.csv, ref_trend.csv to {outdir}")

    n_flags = sum(len(v) for v in r_out.values())
    n_cps = sum(len(v) for v in r_cp.values())
    print(f"\n## Kats parity corpus: {len(series)} series x {args.length} days, seed {args.seed}\n")
    print(f"Reference: {n_flags} outlier flags, {n_cps} change points, "
          f"{sum(t['trend'] != 'no trend' for t in r_tr.values())} significant trends (alpha {args.alpha}). "
          f"Kats: {kats_version or 'not installed'}.\n")

    print("| comparison | outlier flags identical (points) | outlier sets identical (series) | flags only left / only right | change points within ±1 | exact index (both report) |")
    print("|---|---|---|---|---|---|")
    failures: list[str] = []
    if kats_version:
        pa, sa, oa, ob = outlier_agreement(series, r_out, k_out)
        ca, ce, _ = cp_agreement(series, r_cp, k_cp)
        if oa or ob or ca < 100.0:
            failures.append(f"reference ports vs Kats {kats_version}: outlier flags {oa} / {ob} one-sided, change points {ca:.2f} % within ±1")
        print(f"| statsmodels+IQR port / numpy CUSUM port vs Kats {kats_version} | {fmt(pa, True)} | {fmt(sa, True)} | {oa} / {ob} | {fmt(ca, True)} | {fmt(ce, True)} |")
    else:
        print("| ports vs Kats | n/a | n/a | n/a | n/a | n/a |")

    if args.compare:
        l_out, l_cp, l_tr = read_lakesight(Path(args.compare))
        pa, sa, oa, ob = outlier_agreement(series, l_out, r_out)
        ca, ce, _ = cp_agreement(series, l_cp, r_cp)
        if oa or ob:
            failures.append(f"outliers: {oa} flags only in lakesight, {ob} only in the reference")
        if ca < 100.0:
            failures.append(f"change points: {ca:.2f} % of (series, direction) agree within ±1 bucket")
        print(f"| lakesight vs reference ports | {fmt(pa, True)} | {fmt(sa, True)} | {oa} / {ob} | {fmt(ca, True)} | {fmt(ce, True)} |")
        if kats_version:
            pa, sa, oa, ob = outlier_agreement(series, l_out, k_out)
            ca, ce, _ = cp_agreement(series, l_cp, k_cp)
            print(f"| lakesight vs Kats {kats_version} | {fmt(pa, True)} | {fmt(sa, True)} | {oa} / {ob} | {fmt(ca, True)} | {fmt(ce, True)} |")

        print("\n| outliers by category (lakesight vs reference) | series | flags identical (points) | sets identical |")
        print("|---|---|---|---|")
        cats = sorted({c for c, _ in series.values()})
        for c in cats:
            sub = {s: v for s, v in series.items() if v[0] == c}
            pa, sa, _, _ = outlier_agreement(sub, l_out, r_out)
            print(f"| {c} | {len(sub)} | {fmt(pa, True)} | {fmt(sa, True)} |")

        t = trend_agreement(series, r_tr, l_tr, args.alpha)
        print("\n| trend (lakesight vs pymannkendall original_test) | value |")
        print("|---|---|")
        if t is None:
            print("| series compared | 0 |")
        else:
            print(f"| series compared | {t['n']} |")
            print(f"| trend direction identical | {fmt(t['direction'], True)} |")
            print(f"| slope rank identical (ties averaged) | {fmt(t['rank_identical'], True)} |")
            print(f"| whole slope order identical | {fmt(t['order_identical'])} |")
            print(f"| Spearman rho of slopes | {t['spearman']:.6f} |")
            print(f"| top-20 and bottom-20 sets identical | {fmt(t['top_bottom_20'])} |")
            print(f"| max abs slope / p / tau difference | {t['max_slope_diff']:.3g} / {t['max_p_diff']:.3g} / {t['max_tau_diff']:.3g} |")
            if t["n"] != len(series):
                failures.append(f"trend: lakesight judged {t['n']} of {len(series)} series")
            if t["direction"] < 100.0 or not t["order_identical"]:
                failures.append(f"trend: direction {t['direction']:.2f} % identical, slope order identical: {t['order_identical']}")
            if t["max_slope_diff"] > 1e-9 or t["max_p_diff"] > 1e-14 or t["max_tau_diff"] > 1e-12:
                failures.append(f"trend: max |slope|/|p|/|tau| difference {t['max_slope_diff']:.3g} / {t['max_p_diff']:.3g} / {t['max_tau_diff']:.3g} "
                                "beyond 1e-9 / 1e-14 / 1e-12")
    else:
        print("\n(no --compare DIR given: lakesight rows omitted)")
    for f in failures:
        print(f"DISAGREEMENT: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
