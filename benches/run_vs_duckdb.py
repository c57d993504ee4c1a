#!/usr/bin/env python3
"""Whole `lakesight run` over a generated lake: time per stage and peak memory, and the series stage
side by side with DuckDB running the same series SQL over the same files in the same run.

lakesight's series time per family comes from its manifest (`series.<family>.build_ms`: query and
collection into series). DuckDB gets the normalised views from `lakesight views --dialect duckdb`
(read_parquet over exactly the files lakesight's catalog found) and the series SQL from
`lakesight series-sql`, and is timed in-process per query, fetching all rows.
Usage: python benches/run_vs_duckdb.py --lake DIR --bin target/release/lakesight --job jobs/nightly.toml --date YYYY-MM-DD
"""
import argparse, datetime, json, os, resource, subprocess, sys, tempfile, time, tomllib

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--date", required=True)
    a = ap.parse_args()
    out = tempfile.mkdtemp(prefix="lakesight-bench-")
    t0 = time.perf_counter()
    p = subprocess.run([a.bin, "--log-format", "json", "run", "--job", a.job, "--date", a.date, "--lake", a.lake, "--out", out],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(p.stderr[-3000:])
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    m = json.load(open(os.path.join(out, "manifest.json")))
    job = tomllib.load(open(a.job, "rb"))
    baseline = job["job"].get("baseline_days", 28)
    day = datetime.date.fromisoformat(a.date)
    frm = day - datetime.timedelta(days=baseline)

    views = subprocess.run([a.bin, "views", "--lake", a.lake, "--dialect", "duckdb"], capture_output=True, text=True, check=True).stdout
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    for stmt in views.split(";\n"):
        if stmt.strip():
            con.execute(stmt)
    print(f"lakesight run: {wall:.1f} s wall, peak RSS {rss_mb:.0f} MB, {m['inputs']['files']} files, {m['inputs']['rows']:,} rows, "
          f"{m['findings_total']} findings")
    print("stages (ms): " + ", ".join(f"{k} {v}" for k, v in m["timings_ms"].items()))
    print()
    print("| series family | rows | lakesight s | DuckDB s | ratio |")
    print("|---|---|---|---|---|")
    tot_l = tot_d = 0.0
    for s in job["series"]:
        fam, bucket = s["family"], s.get("bucket", "day")
        key = f"{fam}/{bucket}"
        st = m["series"].get(key)
        if not st or st.get("warning"):
            continue
        sql = subprocess.run([a.bin, "series-sql", "--family", fam, "--bucket", bucket, "--from", str(frm), "--to", str(day)],
                             capture_output=True, text=True, check=True).stdout
        t = time.perf_counter()
        rows = len(con.execute(sql).fetchall())
        d = time.perf_counter() - t
        l = st["build_ms"] / 1000
        tot_l += l
        tot_d += d
        print(f"| {key} | {st['rows']} (DuckDB {rows}) | {l:.2f} | {d:.2f} | {l / d:.2f}x |")
    print(f"| **all series** | | {tot_l:.2f} | {tot_d:.2f} | {tot_l / tot_d:.2f}x |")


if __name__ == "__main__":
    main()
