#!/usr/bin/env python3
"""Write a CloudTrail lake shaped as Security Lake writes it (v1 Hive Parquet or v2 Iceberg), for
the scan benchmark.

lakesight's own generator writes every column nullable, so its files match the table schema the
catalog declares and DataFusion never adapts them. Security Lake's v1 files do not: their writer
(parquet-mr through Avro) marks most struct fields required, names list elements `array` and map
entries after the column, and writes GZIP with one large row group per file. This script takes the
exact Arrow schema of a real sample file (`../shared/data/security-lake-samples/1.0.0-rc.2/
CLOUD_TRAIL/api_activity…`) and fills it with synthetic rows: Zipf principals, a few hundred APIs,
a few thousand source addresses, random UUIDs where CloudTrail has them, a 10-entry `unmapped` map.

Layout: `<out>/aws/CLOUD_TRAIL_MGMT/1.0/region=us-east-1/accountId=<a>/eventDay=<d>/<n>.gz.parquet`,
one row group of ROWS_PER_FILE rows per file, time-sorted. Deterministic for a given seed.

`--version v2` writes source version 2 as Security Lake stores it: one Apache Iceberg table at
`<out>/aws/CLOUD_TRAIL_MGMT/2.0/` (format version 2, partitioned on `day(time_dt)`, `region`,
`accountid`), written by pyiceberg, whose Parquet files carry Iceberg field ids and keep the
required fields of the real OCSF 1.1.0 sample (`1.1.0/CLOUD_TRAIL/api_activity/…`); timestamps
are microseconds as Iceberg stores them (the sample's are milliseconds). Codec and row-group size
as for v1 (Security Lake's v2 production codec is not documented; its samples are GZIP). One
snapshot per day. lakesight reads it through the metadata; DuckDB reads the same data files.

Usage: python benches/aws_shaped_lake.py --out DIR [--rows 6000000] [--rows-per-file 300000]
       [--sample FILE] [--seed 7] [--codec gzip] [--version v1|v2]
"""
import argparse
import datetime as dt
import glob
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SAMPLE_GLOB = os.path.join(
    HERE, "..", "..", "shared", "data", "security-lake-samples", "1.0.0-rc.2", "CLOUD_TRAIL",
    "api_activity*", "DeleteLoadBalancer.test.gz.parquet")
V2_SAMPLE_GLOB = os.path.join(
    HERE, "..", "..", "shared", "data", "security-lake-samples", "1.1.0", "CLOUD_TRAIL",
    "api_activity", "tests_DeleteLoadBalancer.test.parquet")
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
    if pa.types.is_timestamp(t):
        ms = rng.integers(1_700_000_000_000, 1_800_000_000_000, size=n, dtype=np.int64)
        return pa.array(ms, type=pa.timestamp("ms", tz="UTC")).cast(t)
    sys.exit(f"no filler for {path}: {t}")


def micros(t):
    """`t` with every timestamp in microseconds (Iceberg's unit), nullability kept."""
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, micros(f.type), f.nullable, f.metadata) for f in t])
    if pa.types.is_list(t):
        v = t.value_field
        return pa.list_(pa.field(v.name, micros(v.type), v.nullable))
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    return t


class IcebergTable:
    """The v2 table: created on first use, one append (snapshot) per day."""

    def __init__(self, out, schema, codec, rows_per_group):
        from pyiceberg.catalog import Catalog
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import assign_fresh_schema_ids
        from pyiceberg.transforms import DayTransform, IdentityTransform

        os.makedirs(out, exist_ok=True)
        location = "file://" + os.path.abspath(os.path.join(out, "aws", "CLOUD_TRAIL_MGMT", "2.0"))
        self.catalog = SqlCatalog("bench", uri="sqlite:///" + os.path.join(tempfile.mkdtemp(), "catalog.db"),
                                  warehouse="file://" + os.path.abspath(out))
        self.catalog.create_namespace_if_not_exists("sl")
        # The partition spec from the start, as Security Lake creates its tables (no spec evolution).
        # Ids as create_table assigns them, so the spec's source ids stay right.
        ice_schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(schema))
        spec = PartitionSpec(
            PartitionField(ice_schema.find_field("time_dt").field_id, 1000, DayTransform(), "time_dt_day"),
            PartitionField(ice_schema.find_field("region").field_id, 1001, IdentityTransform(), "region"),
            PartitionField(ice_schema.find_field("accountid").field_id, 1002, IdentityTransform(), "accountid"))
        self.table = self.catalog.create_table(
            "sl.cloud_trail_mgmt", schema=ice_schema, location=location, partition_spec=spec,
            properties={"format-version": "2", "write.parquet.compression-codec": codec,
                        "write.parquet.row-group-limit": str(rows_per_group),
                        "write.target-file-size-bytes": str(1 << 30)})

    def append(self, tables):
        self.table.append(pa.concat_tables(tables))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=6_000_000)
    ap.add_argument("--rows-per-file", type=int, default=300_000)
    ap.add_argument("--sample", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--codec", default="gzip")
    ap.add_argument("--version", choices=["v1", "v2"], default="v1")
    a = ap.parse_args()
    v2 = a.version == "v2"
    pattern = V2_SAMPLE_GLOB if v2 else DEFAULT_SAMPLE_GLOB
    sample = a.sample or (glob.glob(pattern) or sys.exit(f"no sample at {pattern}"))[0]
    schema = pq.ParquetFile(sample).schema_arrow
    if v2:
        schema = pa.schema([pa.field(f.name, micros(f.type), f.nullable) for f in schema])
    rng = np.random.default_rng(a.seed)
    principals = [f"arn:aws:iam::{ACCOUNTS[0]}:user/user{i:04d}" for i in range(2000)]
    apis = [f"Api{i:03d}" for i in range(300)]
    ips = [f"10.{i // 250 % 250}.{i % 250}.{(i * 7) % 250}" for i in range(5000)]
    files = max(1, a.rows // a.rows_per_file)
    written = 0
    ice = IcebergTable(a.out, schema, a.codec, a.rows_per_file) if v2 else None
    pending = []
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
            ".metadata.version": pa.array(["1.1.0" if v2 else "1.0.0-rc.2"] * n),
            ".metadata.product.name": pa.array(["CloudTrail"] * n),
            ".metadata.product.vendor_name": pa.array(["AWS"] * n),
        }
        if v2:
            ctx[".time_dt"] = pa.array(times * 1000, type=pa.timestamp("us", tz="UTC"))
            ctx[".region"] = pa.array(["us-east-1"] * n)
            ctx[".accountid"] = pa.array([account] * n)
            ctx[".cloud.account.uid"] = pa.array([account] * n)
        cols = [fill(f.type, n, ctx, f".{f.name}") for f in schema]
        table = pa.Table.from_arrays(cols, schema=schema)
        written += n
        if v2:
            pending.append(table)
            if len(pending) == len(ACCOUNTS) or i == files - 1:
                ice.append(pending)
                pending = []
            continue
        d = os.path.join(a.out, "aws", "CLOUD_TRAIL_MGMT", "1.0", "region=us-east-1", f"accountId={account}",
                         f"eventDay={day:%Y%m%d}")
        os.makedirs(d, exist_ok=True)
        pq.write_table(table, os.path.join(d, f"part-{i:05d}.gz.parquet"), compression=a.codec,
                       row_group_size=n, use_dictionary=True)
    print(f"wrote {written} rows in {files} files under {a.out} (schema of {os.path.basename(sample)})")


if __name__ == "__main__":
    main()
