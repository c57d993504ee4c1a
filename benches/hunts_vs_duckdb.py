#!/usr/bin/env python3
"""The network and DNS hunts over a generated lake, side by side with DuckDB running the same SQL.

lakesight runs a job holding only the hunts (`[hunts]` of jobs/demo.toml, one cheap series because a
job needs one) over one day with its baseline and no rollup store, so every hunt queries the whole
window; each hunt's query time and judging time come from the manifest (`<hunt>.query_ms`, `.judge_ms`).
DuckDB gets the normalised views from `lakesight views --dialect duckdb` (read_parquet over the
files lakesight's catalog found) and the hunts' templates (`queries/hunts/*.sql`) rendered for the
same window, and is timed in-process per query, fetching all rows. Same threads (all cores).
Usage: python benches/hunts_vs_duckdb.py --lake DIR --bin BIN --date YYYY-MM-DD [--baseline 14]
"""
import argparse, datetime, os, re, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import duck_with_views, run_job  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Hunt -> the template it reads (queries/hunts/<table>.sql).
HUNTS = {"beaconing": "beacon_pairs", "exfiltration": "flow_edges", "lateral_movement": "flow_edges", "dns": "dns_names"}


def job_text(baseline: int) -> str:
    demo = open(os.path.join(ROOT, "jobs/demo.toml")).read()
    keep, skip = [], False
    for line in demo.splitlines():
        if line.startswith("["):
            name = line.strip("[] ")
            skip = not (name in ("job", "detectors.outliers", "output") or name.startswith("hunts") or line.startswith("[[series"))
            if line.startswith("[[series"):
                skip = bool(keep and any(l.startswith("[[series") for l in keep))  # only the first series
        if not skip:
            keep.append(line)
    text = "\n".join(keep)
    text = re.sub(r"(?m)^from = .*$", "", text)
    text = re.sub(r"(?m)^to = .*$", "", text)
    text = re.sub(r"(?m)^baseline_days = .*$", f"baseline_days = {baseline}", text)
    text = re.sub(r"(?m)^(report|plots|features) = .*$", r"\1 = false", text)
    return text


def render(template: str, frm: datetime.date, end: datetime.date) -> str:
    """queries/hunts templates as lakesight renders them for day buckets (see `series-sql`)."""
    body = "\n".join(l for l in template.splitlines() if not l.startswith("--"))
    subs = {
        "{{bucket}}": "'day'",
        "{{eventday_from}}": f"'{frm:%Y%m%d}'",
        "{{eventday_to}}": f"'{end - datetime.timedelta(days=1):%Y%m%d}'",
        "{{start}}": f"TIMESTAMP '{frm} 00:00:00'",
        "{{end}}": f"TIMESTAMP '{end} 00:00:00'",
    }
    for k, v in subs.items():
        body = body.replace(k, v)
    # The one Trino function of the templates DuckDB lacks (lakesight and Athena take it as is).
    body = body.replace("to_unixtime(", "epoch(")
    if "{{" in body:
        sys.exit(f"unrendered placeholder in {body[:200]}")
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--baseline", type=int, default=14)
    a = ap.parse_args()
    day = datetime.date.fromisoformat(a.date)
    frm, end = day - datetime.timedelta(days=a.baseline), day + datetime.timedelta(days=1)

    counts = {}
    for view in ["network_activity", "dns_activity"]:
        p = subprocess.run([a.bin, "--log-format", "json", "query", "--lake", a.lake, "--format", "csv",
                            f"SELECT count(*) AS n FROM lakesight.{view} WHERE time >= TIMESTAMP '{frm} 00:00:00' "
                            f"AND time < TIMESTAMP '{end} 00:00:00'"], capture_output=True, text=True, check=True)
        counts[view] = int(p.stdout.strip().splitlines()[-1])

    work = tempfile.mkdtemp(prefix="lakesight-hunts-")
    job = os.path.join(work, "job.toml")
    open(job, "w").write(job_text(a.baseline))
    wall, rss_mb, m = run_job(a.bin, job, a.date, a.lake, os.path.join(work, "out"))
    con = duck_with_views(a.bin, a.lake)
    print(f"window {frm} .. {day} ({a.baseline + 1} days): {counts['network_activity']:,} flows, {counts['dns_activity']:,} DNS queries")
    print(f"lakesight run (hunts + one series): {wall:.1f} s wall, peak RSS {rss_mb:.0f} MB, {m['findings_total']} findings")
    print()
    print("| hunt | table rows (lakesight / DuckDB) | lakesight query s | judging s | DuckDB query s | query ratio |")
    print("|---|---|---|---|---|---|")
    tot_l = tot_d = tot_j = 0.0
    for hunt, table in HUNTS.items():
        st = m.get(hunt)
        if not st:
            sys.exit(f"manifest has no {hunt} section")
        sql = render(open(os.path.join(ROOT, f"queries/hunts/{table}.sql")).read(), frm, end)
        t = time.perf_counter()
        rows = len(con.execute(sql).fetchall())
        d = time.perf_counter() - t
        q = st["query_ms"] / 1000
        j = st["judge_ms"] / 1000
        tot_l, tot_d, tot_j = tot_l + q, tot_d + d, tot_j + j
        print(f"| {hunt} | {st['rows']:,} / {rows:,} | {q:.2f} | {j:.2f} | {d:.2f} | {q / d:.2f}x |")
    print(f"| **all hunts** | | {tot_l:.2f} | {tot_j:.2f} | {tot_d:.2f} | {tot_l / tot_d:.2f}x |")


if __name__ == "__main__":
    main()
