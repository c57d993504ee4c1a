#!/usr/bin/env bash
# The scan benchmark on files shaped as Security Lake writes them (v1: the real samples' schema with
# required fields, GZIP, one 300k-row row group per file; v2: rows from the same generator in an Iceberg table with
# field ids and the OCSF 1.1.0 sample's schema), `lakesight query` against DuckDB.
# Usage: benches/aws_shaped_vs_duckdb.sh [ROWS=6000000] [v1|v2]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-6000000}"
VERSION="${2:-v1}"
DATA="${BENCH_DATA:-bench-data}/aws-${VERSION}-${ROWS}"
VENV="${HOME}/.cache/lakesight/bench-venv"
BIN="${LAKESIGHT_BIN:-target/release/lakesight}"
[ -n "${LAKESIGHT_BIN:-}" ] || cargo build --release --quiet
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb pyarrow numpy 'pyiceberg[sql-sqlite,pyiceberg-core]==0.12.*'
if [ ! -d "$DATA/aws" ]; then
  "$VENV/bin/python" benches/aws_shaped_lake.py --out "$DATA" --rows "$ROWS" --version "$VERSION"
fi
"$VENV/bin/python" benches/lake_vs_duckdb.py --set "aws-$VERSION" --lake "$(cd "$DATA" && pwd)" --bin "$BIN" --runs "${RUNS:-3}"
