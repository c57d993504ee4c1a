#!/usr/bin/env bash
# The big day (issue #17, item 2): the nightly job over one day of BIG events after a history,
# with peak RSS, events/s, per-stage times and DuckDB on the same series SQL; then the baseline's
# cost, 90 days against 30, cold and warm rollup store. benches/big_day.py says why the history is
# smaller than the big day.
#
#   benches/big_day.sh [BIG=100000000] [HISTORY_DAYS=30] [HISTORY_EVENTS_PER_DAY=3000000] [ACCOUNTS=200]
#
# Data goes under $BENCH_DATA (default bench-data/), kept for the next run: ~15 GB at the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG="${1:-100000000}"; HDAYS="${2:-30}"; HEPD="${3:-3000000}"; ACC="${4:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
VENV="${HOME}/.cache/lakesight/bench-venv"
cargo build --release --quiet --bin lakesight
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
"$VENV/bin/python" benches/big_day.py --bin "$CARGO_TARGET_DIR/release/lakesight" --data "${BENCH_DATA:-bench-data}" \
  --big "$BIG" --history-days "$HDAYS" --history-epd "$HEPD" --accounts "$ACC" ${BIG_DAY_ARGS:-}
