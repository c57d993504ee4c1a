#!/usr/bin/env python3
"""Write a v1 CloudTrail lake shaped as Security Lake writes it, for the scan benchmark.

lakesight's own generator writes every column nullable, so its files match the table schema the
catalog declares and DataFusion never adapts them. Security Lake's v1 files do not: their writer
(parquet-mr through Avro) marks most struct fields required, names list elements `array` and map
entries after the column, and writes GZIP with one large row group per file. This script takes the
exact Arrow schema of a real sample file (`../shared/data/security-lake-samples/1.0.0-rc.2/
CLOUD_TRAIL/api_activity…`) and fills it with synthetic rows: Zipf principals, a few hundred APIs,
a few thousand source addresses, random UUIDs where CloudTrail has them, a 10-entry `unmapped` map.

Layout: `<out>/aws/CLOUD_TRAIL_MGMT/1.0/region=us-east-1/accountId=<a>/eventDay=<d>/<n>.gz.parquet`,
one row group of ROWS_PER_FILE rows per file, time-sorted. Deterministic for a given seed.

Usage: python benches/aws_shaped_lake.py --out DIR [--rows 6000000] [--rows-per-file 300000]
       [--sample FILE] [--seed 7] [--codec gzip]
"""
import argparse
import datetime as dt
import glob
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SAMPLE_GLOB = os.path.join(
    HERE, "..", "..", "shared", "data", "security-lake-samples", "1.0.0-rc.2", "CLOUD_TRAIL",
    "api_activity*", "DeleteLoadBalancer.test.gz.parquet")
ACCOUNTS = ["111122223333", "444455556666"]
DAY0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuids(rng, n):
    """n random UUID strings (8-4-4-4-12 hex), vectorised."""
    raw = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    chars = HEX[raw]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    s = np.concatenate([chars[:, :8], dash, chars[:, 8:12], dash, chars[:, 12:16], dash,
                        chars[:, 16:20], dash, chars[:, 20:]], axis=1)
    return pa.array(s.view("S36").ravel()).cast(pa.string())


def pick(rng, values, n, zipf=None):
    """n draws from `values` (uniform, or Zipf-like with exponent `zipf`), as a dictionary-free array."""
    values = pa.array(values, type=pa.string())
    if zipf:
        w = 1.0 / np.arange(1, len(values) + 1) ** zipf
        idx = rng.choice(len(values), size=n, p=w / w.sum())
    else:
        idx = rng.integers(0, len(values), size=n)
    return values.take(pa.array(idx))


def fill(t, n, ctx, path=""):
    """An array of type `t` and length n with plausible values; `ctx` holds the shared columns."""
    rng = ctx["rng"]
    if pa.types.is_struct(t):
        children = [fill(f.type, n, ctx, f"{path}.{f.name}") for f in t]
        return pa.StructArray.from_arrays(children, fields=list(t))
    if pa.types.is_list(t):
        # resources[]: one element per row.
        inner = fill(t.value_type, n, ctx, f"{path}[]")
        offsets = pa.array(np.arange(n + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, inner, type=t)
    if pa.types.is_map(t):
        k = 10
        names = ["requestParameters.bucketName"] + [f"requestParameters.key{i}" for i in range(1, k)]
        keys = pa.array(np.tile(np.array(names, dtype=object), n), type=pa.string())
        vals = pick(rng, [f"value-{i}" for i in range(500)], n * k)
        offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
        return pa.MapArray.from_arrays(offsets, keys, vals, type=t)
    if path in ctx:
        return ctx[path]
    if pa.types.is_string(t):
        if path.endswith(".uid") or path.endswith(".uuid"):
            return uuids(rng, n)
        return pick(rng, [f"{path.strip('.')}-{i}" for i in range(8)], n)
    if pa.types.is_int32(t):
        return pa.array(rng.integers(0, 6, size=n, dtype=np.int32))
    if pa.types.is_int64(t):
        return pa.array(rng.integers(1_700_000_000_000, 1_800_000_000_000, size=n, dtype=np.int64))
    if pa.types.is_boolean(t):
        return pa.array(rng.integers(0, 2, size=n).astype(bool))
    sys.exit(f"no filler for {path}: {t}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=6_000_000)
    ap.add_argument("--rows-per-file", type=int, default=300_000)
    ap.add_argument("--sample", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--codec", default="gzip")
    a = ap.parse_args()
    sample = a.sample or (glob.glob(DEFAULT_SAMPLE_GLOB) or sys.exit(f"no sample at {DEFAULT_SAMPLE_GLOB}"))[0]
    schema = pq.ParquetFile(sample).schema_arrow
    rng = np.random.default_rng(a.seed)
    principals = [f"arn:aws:iam::{ACCOUNTS[0]}:user/user{i:04d}" for i in range(2000)]
    apis = [f"Api{i:03d}" for i in range(300)]
    ips = [f"10.{i // 250 % 250}.{i % 250}.{(i * 7) % 250}" for i in range(5000)]
    files = max(1, a.rows // a.rows_per_file)
    written = 0
    for i in range(files):
        n = a.rows_per_file
        account = ACCOUNTS[i % len(ACCOUNTS)]
        day = DAY0 + dt.timedelta(days=i // len(ACCOUNTS))
        t0 = int(day.timestamp() * 1000)
        times = np.sort(rng.integers(t0, t0 + 86_400_000, size=n, dtype=np.int64))
        ctx = {
            "rng": rng,
            ".time": pa.array(times),
            ".actor.user.uid": pick(rng, principals, n, zipf=1.1),
            ".api.operation": pick(rng, apis, n, zipf=1.0),
            ".src_endpoint.ip": pick(rng, ips, n, zipf=0.8),
            ".cloud.region": pa.array(["us-east-1"] * n),
            ".class_uid": pa.array(np.full(n, 3005, dtype=np.int32)),
            ".category_uid": pa.array(np.full(n, 3, dtype=np.int32)),
            ".type_uid": pa.array(np.full(n, 300501, dtype=np.int32)),
            ".metadata.version": pa.array(["1.0.0-rc.2"] * n),
            ".metadata.product.name": pa.array(["CloudTrail"] * n),
            ".metadata.product.vendor_name": pa.array(["AWS"] * n),
        }
        cols = [fill(f.type, n, ctx, f".{f.name}") for f in schema]
        table = pa.Table.from_arrays(cols, schema=schema)
        d = os.path.join(a.out, "aws", "CLOUD_TRAIL_MGMT", "1.0", "region=us-east-1", f"accountId={account}",
                         f"eventDay={day:%Y%m%d}")
        os.makedirs(d, exist_ok=True)
        pq.write_table(table, os.path.join(d, f"part-{i:05d}.gz.parquet"), compression=a.codec,
                       row_group_size=n, use_dictionary=True)
        written += n
    print(f"wrote {written} rows in {files} files under {a.out} (schema of {os.path.basename(sample)})")


if __name__ == "__main__":
    main()
