#!/usr/bin/env bash
# Generate a 20M+ event lake and compare `lakesight query` with DuckDB on the same files.
# Usage: benches/lake_vs_duckdb.sh [EVENTS_PER_DAY=700000] [DAYS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
EPD="${1:-700000}"; DAYS="${2:-30}"
DATA="${BENCH_DATA:-bench-data}/lake-${EPD}x${DAYS}"
VENV="${HOME}/.cache/lakesight/bench-venv"
cargo build --release --quiet
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
if [ ! -f "$DATA/labels.json" ]; then
  /usr/bin/time -v target/release/lakesight sample-lake --out "$DATA" --days "$DAYS" --events-per-day "$EPD" --codec zstd 2>&1 \
    | grep -E "wrote|Elapsed|Maximum resident" || true
fi
"$VENV/bin/python" benches/lake_vs_duckdb.py --lake "$(cd "$DATA" && pwd)" --bin target/release/lakesight --runs "${RUNS:-3}"
