#!/usr/bin/env bash
# Whole-run benchmark over a 30-day, ~21M-event generated lake; series stage vs DuckDB.
# Usage: benches/run_vs_duckdb.sh [EVENTS_PER_DAY=700000] [DAYS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
EPD="${1:-700000}"; DAYS="${2:-30}"
DATA="${BENCH_DATA:-bench-data}/lake-${EPD}x${DAYS}"
VENV="${HOME}/.cache/lakesight/bench-venv"
cargo build --release --quiet
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
[ -f "$DATA/labels.json" ] || target/release/lakesight sample-lake --out "$DATA" --days "$DAYS" --events-per-day "$EPD" --codec zstd
LAST=$(python3 -c "import json;print(json.load(open('$DATA/labels.json'))['last_day'])")
"$VENV/bin/python" benches/run_vs_duckdb.py --lake "$(cd "$DATA" && pwd)" --bin target/release/lakesight --job jobs/nightly.toml --date "$LAST"
