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


def series_vs_duck(bin_, con, series, manifest, frm, to, title="series family"):
    """Print a table: each job series' build time in `manifest` against DuckDB running the same
    SQL (`lakesight series-sql` for days `frm`..`to`) on `con`, fetching all rows."""
    print(f"| {title} | rows | lakesight s | DuckDB s | ratio |")
    print("|---|---|---|---|---|")
    tot_l = tot_d = 0.0
    for s in series:
        fam, bucket = s["family"], s.get("bucket", "day")
        key = f"{fam}/{bucket}"
        st = manifest["series"].get(key)
        if not st or st.get("warning"):
            continue
        sql = subprocess.run([bin_, "series-sql", "--family", fam, "--bucket", bucket, "--from", str(frm), "--to", str(to)],
                             capture_output=True, text=True, check=True).stdout
        t = time.perf_counter()
        rows = len(con.execute(sql).fetchall())
        d = time.perf_counter() - t
        l = st["build_ms"] / 1000
        tot_l += l
        tot_d += d
        print(f"| {key} | {st['rows']:,} (DuckDB {rows:,}) | {l:.2f} | {d:.2f} | {l / d:.2f}x |")
    print(f"| **all series** | | {tot_l:.2f} | {tot_d:.2f} | {tot_l / tot_d:.2f}x |")
