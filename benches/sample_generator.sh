#!/usr/bin/env bash
# Throughput and peak memory of `lakesight sample-lake` (issue #12, item 3: "a fast generator").
#
#   benches/sample_generator.sh [BIN] [EVENTS_PER_DAY] [DAYS]
#
# BIN defaults to target/release/lakesight. Writes to a temporary folder, removed after each run.
# Prints one line per run: world, codec, events, wall seconds, events/s, peak RSS.
set -euo pipefail
BIN=${1:-target/release/lakesight}
EPD=${2:-2000000}
DAYS=${3:-7}
for run in "simple zstd" "realistic zstd" "simple gzip"; do
  set -- $run
  out=$(mktemp -d)
  /usr/bin/time -v -o "$out.time" "$BIN" sample-lake --out "$out/lake" --days "$DAYS" \
    --events-per-day "$EPD" --world "$1" --codec "$2" >"$out.log" 2>&1
  events=$(grep -o 'wrote [0-9]* events' "$out.log" | head -1 | awk '{print $2}')
  wall=$(grep 'Elapsed (wall clock)' "$out.time" | awk '{print $NF}')
  secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident set size' "$out.time" | awk '{print $NF}')
  echo "$1 $2 events=${events:-?} wall=${secs}s rate=$(awk -v e="${events:-0}" -v s="$secs" 'BEGIN{printf "%.0f", e/s}')/s peak_rss=$((rss / 1024))MB"
  rm -rf "$out" "$out.time" "$out.log"
done
