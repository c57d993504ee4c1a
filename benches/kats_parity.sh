#!/usr/bin/env bash
# Kats parity and speed: the reference corpus through lakesight's Kats ports and through the Python
# references (Kats 0.2.0, statsmodels, pymannkendall, a numpy port of Kats' CUSUM; PyPI, own venv).
# Usage: benches/kats_parity.sh [N_SERIES=200] [LENGTH=120]   (speed run: benches/kats_parity.sh 10000 365)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"; LEN="${2:-120}"
OUT="target/kats-parity-${N}x${LEN}"
cargo build --release --quiet --example kats_parity
python3 benches/reference/kats_parity.py --generate-only --out "$OUT" --n-series "$N" --length "$LEN"
target/release/examples/kats_parity "$OUT" "$OUT/lakesight"
python3 benches/reference/kats_parity.py --out "$OUT" --compare "$OUT/lakesight" --n-series "$N" --length "$LEN"
