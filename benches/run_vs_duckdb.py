#!/usr/bin/env python3
"""Whole `lakesight run` over a generated lake: time per stage and peak memory, and the series stage
side by side with DuckDB running the same series SQL over the same files in the same run.

lakesight's series time per family comes from its manifest (`series.<family>.build_ms`: query and
collection into series). DuckDB gets the normalised views from `lakesight views --dialect duckdb`
(read_parquet over exactly the files lakesight's catalog found) and the series SQL from
`lakesight series-sql`, and is timed in-process per query, fetching all rows.
Usage: python benches/run_vs_duckdb.py --lake DIR --bin target/release/lakesight --job jobs/nightly.toml --date YYYY-MM-DD
"""
import argparse, datetime, os, sys, tempfile, tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import duck_with_views, run_job, series_vs_duck  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--date", required=True)
    a = ap.parse_args()
    out = tempfile.mkdtemp(prefix="lakesight-bench-")
    wall, rss_mb, m = run_job(a.bin, a.job, a.date, a.lake, out)
    job = tomllib.load(open(a.job, "rb"))
    baseline = job["job"].get("baseline_days", 28)
    day = datetime.date.fromisoformat(a.date)
    frm = day - datetime.timedelta(days=baseline)

    con = duck_with_views(a.bin, a.lake)
    print(f"lakesight run: {wall:.1f} s wall, peak RSS {rss_mb:.0f} MB, {m['inputs']['files']} files, {m['inputs']['rows']:,} rows, "
          f"{m['findings_total']} findings")
    print("stages (ms): " + ", ".join(f"{k} {v}" for k, v in m["timings_ms"].items()))
    print()
    series_vs_duck(a.bin, con, job["series"], m, frm, day)

if __name__ == "__main__":
    main()
