"""What the side-by-side benchmarks against DuckDB share: one timed `lakesight run` with its
manifest, and a DuckDB connection holding lakesight's normalised views over the same files."""
import json, os, resource, subprocess, sys, time

import duckdb


def run_job(bin_, job, date, lake, out):
    """`lakesight run` of `job` for `date` into `out`: (wall seconds, peak RSS MB, manifest)."""
    t0 = time.perf_counter()
    p = subprocess.run([bin_, "--log-format", "json", "run", "--job", job, "--date", date, "--lake", lake, "--out", out],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(p.stderr[-3000:])
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss_mb, json.load(open(os.path.join(out, "manifest.json")))


def duck_with_views(bin_, lake):
    """DuckDB on all cores with `lakesight views --dialect duckdb` (read_parquet over exactly the
    files lakesight's catalog found)."""
    views = subprocess.run([bin_, "views", "--lake", lake, "--dialect", "duckdb"], capture_output=True, text=True, check=True).stdout
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    for stmt in views.split(";\n"):
        if stmt.strip():
            con.execute(stmt)
    return con
