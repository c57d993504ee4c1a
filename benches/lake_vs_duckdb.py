#!/usr/bin/env python3
"""Side-by-side scan benchmark: `lakesight query` vs DuckDB over the same generated lake.

Source version 2 is Iceberg (data under aws/<SOURCE>/2.0/data/<partition path>/): DuckDB globs the
data files of the one region (the generated tables have no files outside their snapshot), lakesight
plans them from the Iceberg metadata. Each query runs in a fresh process per engine, runs interleaved, median of N; peak RSS of the child
process from getrusage. Both engines get the same number of threads (all cores).
Usage: python benches/lake_vs_duckdb.py --lake DIR --bin target/release/lakesight [--runs 3]
       [--set generated|aws-v1|aws-v2]
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

QUERIES = {
    "Q1 events per principal per hour (CloudTrail)": (
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, date_trunc('hour', time_dt) AS h, count(*) AS n "
        "FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 GROUP BY 1, 2) x",
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, date_trunc('hour', time_dt) AS h, count(*) AS n "
        "FROM read_parquet('{lake}/aws/CLOUD_TRAIL_MGMT/2.0/data/*/region=us-east-1/*/*.parquet', hive_partitioning=true) GROUP BY 1, 2) x",
    ),
    "Q2 bytes per source IP per day (VPC Flow)": (
        "SELECT count(*) FROM (SELECT src_endpoint.ip AS ip, date_trunc('day', time_dt) AS d, sum(traffic.bytes) AS b "
        "FROM amazon_security_lake_table_us_east_1_vpc_flow_2_0 GROUP BY 1, 2) x",
        "SELECT count(*) FROM (SELECT src_endpoint.ip AS ip, date_trunc('day', time_dt) AS d, sum(traffic.bytes) AS b "
        "FROM read_parquet('{lake}/aws/VPC_FLOW/2.0/data/*/region=us-east-1/*/*.parquet', hive_partitioning=true) GROUP BY 1, 2) x",
    ),
}

# A v1 CloudTrail lake shaped as Security Lake writes it (`benches/aws_shaped_lake.py`: the real
# samples' schema with its required fields, GZIP, one row group of 300k rows per file). v1 has no
# `time_dt`: both engines bucket the epoch milliseconds by integer division.
AWS_V1 = "read_parquet('{lake}/aws/CLOUD_TRAIL_MGMT/1.0/*/*/*/*.parquet', hive_partitioning=true)"
AWS_V1_QUERIES = {
    "Q1 events per principal per hour (v1 CloudTrail, AWS-shaped)": (
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, time / 3600000 AS h, count(*) AS n "
        "FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0 GROUP BY 1, 2) x",
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, time // 3600000 AS h, count(*) AS n "
        f"FROM {AWS_V1} GROUP BY 1, 2) x",
    ),
    "Q3 principals calling three APIs (struct filter, v1 AWS-shaped)": (
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, count(*) AS n "
        "FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0 "
        "WHERE api.operation IN ('Api000', 'Api007', 'Api123') GROUP BY 1) x",
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, count(*) AS n "
        f"FROM {AWS_V1} WHERE api.operation IN ('Api000', 'Api007', 'Api123') GROUP BY 1) x",
    ),
}

# The same lake as source version 2, an Iceberg table written by pyiceberg (`aws_shaped_lake.py
# --version v2`: field ids, the OCSF 1.1.0 sample's required fields, GZIP): lakesight plans the
# files from the Iceberg metadata, DuckDB reads the data files (one snapshot per day, nothing
# deleted, so the folder holds exactly the live files).
AWS_V2 = ("read_parquet('{lake}/aws/CLOUD_TRAIL_MGMT/2.0/data/*/*/*/*.parquet', hive_partitioning=false)")
AWS_V2_QUERIES = {
    "Q1 events per principal per hour (v2 CloudTrail, AWS-shaped Iceberg)": (
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, date_trunc('hour', time_dt) AS h, count(*) AS n "
        "FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 GROUP BY 1, 2) x",
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, date_trunc('hour', time_dt) AS h, count(*) AS n "
        f"FROM {AWS_V2} GROUP BY 1, 2) x",
    ),
    "Q3 principals calling three APIs (struct filter, v2 AWS-shaped Iceberg)": (
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, count(*) AS n "
        "FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 "
        "WHERE api.operation IN ('Api000', 'Api007', 'Api123') GROUP BY 1) x",
        "SELECT count(*) FROM (SELECT actor.user.uid AS p, count(*) AS n "
        f"FROM {AWS_V2} WHERE api.operation IN ('Api000', 'Api007', 'Api123') GROUP BY 1) x",
    ),
}

DUCK = r'''
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads TO %d" % int(sys.argv[2]))
print(con.execute(sys.argv[1]).fetchall()[0][0])
'''


def timed(cmd, env=None):
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    return dt, rss, p.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", choices=["generated", "aws-v1", "aws-v2"], default="generated",
                    help="generated: lakesight's own v2 lake; aws-v1/aws-v2: benches/aws_shaped_lake.py's lake")
    a = ap.parse_args()
    queries = {"generated": QUERIES, "aws-v1": AWS_V1_QUERIES, "aws-v2": AWS_V2_QUERIES}[a.set]
    threads = os.cpu_count()
    rows = []
    for name, (ls_sql, duck_sql) in queries.items():
        ls_t, dk_t, ls_out, dk_out = [], [], None, None
        ls_rss = dk_rss = 0
        for _ in range(a.runs):
            t, _, ls_out = timed([a.bin, "--log-format", "json", "query", "--lake", a.lake, "--format", "csv", ls_sql])
            ls_t.append(t)
            t, _, dk_out = timed([sys.executable, "-c", DUCK, duck_sql.format(lake=a.lake), str(threads)])
            dk_t.append(t)
        # Peak RSS per engine: one extra isolated run each (ru_maxrss of children is a running max).
        ls_rss = measure_rss([a.bin, "--log-format", "json", "query", "--lake", a.lake, "--format", "csv", ls_sql])
        dk_rss = measure_rss([sys.executable, "-c", DUCK, duck_sql.format(lake=a.lake), str(threads)])
        ls_groups = ls_out.splitlines()[-1]
        if ls_groups.strip() != dk_out.strip():
            sys.exit(f"{name}: results differ: lakesight {ls_groups} vs duckdb {dk_out}")
        m_ls, m_dk = statistics.median(ls_t), statistics.median(dk_t)
        rows.append((name, ls_groups, m_ls, m_dk, m_ls / m_dk, ls_rss, dk_rss))
    print("| query | groups | lakesight s | DuckDB s | ratio | lakesight peak MB | DuckDB peak MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f}x | {r[5]/1024:.0f} | {r[6]/1024:.0f} |")


def measure_rss(cmd):
    # Run through a tiny wrapper so each measurement is its own child tree.
    code = "import resource,subprocess,sys; subprocess.run(sys.argv[1:],capture_output=True,check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    p = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True, check=True)
    return int(p.stdout.strip())


if __name__ == "__main__":
    main()
