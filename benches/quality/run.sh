#!/usr/bin/env bash
# The detection-quality benchmark (issue "A world that is hard to fool"): realistic sample lakes
# over seeds and attack strengths, the demo job over each, findings scored against labels.json.
# Writes benches/quality/results-<date>.md. Usage:
#   benches/quality/run.sh [SEEDS] [STRENGTHS] [EVENTS_PER_DAY] [DAYS]
# e.g. benches/quality/run.sh 1,2,3,4,5 1,2,4,8 20000 28   (about 2 minutes per lake on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS="${1:-1,2,3,4,5}"
STRENGTHS="${2:-1,2,4,8}"
EPD="${3:-20000}"
DAYS="${4:-28}"
out="benches/quality/results-$(date -u +%Y-%m-%d).md"
cargo run --locked --example quality -- --seeds "$SEEDS" --strengths "$STRENGTHS" \
    --events-per-day "$EPD" --days "$DAYS" | tee "$out"
echo "wrote $out" >&2
