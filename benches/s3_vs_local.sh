#!/usr/bin/env bash
# The nightly run over the same lake from local disk and from a loopback S3-compatible server.
# Usage: benches/s3_vs_local.sh LAKE_DIR [moto|s3s]   (LAKE_DIR from benches/lake_vs_duckdb.sh)
#   moto: moto 5.2.5 in server mode (Python, the tests' server; tests/servers/moto.sh), lake uploaded
#   s3s:  s3s-fs (Rust, `cargo install s3s-fs --features binary` into $HOME/.cache/lakesight/s3s-fs),
#         serving its own folder; the lake is uploaded as bucket `bench` through PutObject
# Three runs each: local disk, S3 (default job: `[s3] cache_mb = 512`), S3 with the cache off
# (range requests only). Prints wall time, peak RSS and the manifest's stage timings of each run, and
# the ratios of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKE="$(cd "$1" && pwd)"; SERVER="${2:-s3s}"
PORT="${BENCH_S3_PORT:-45199}"
cargo build --release --quiet
BIN=target/release/lakesight
LAST=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['last_day'])" "$LAKE/labels.json")
WORK="$(mktemp -d)"; trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
# The lake goes in through the server's PutObject, as it would reach S3: s3s-fs serving files it did
# not write (a hard-linked folder) computes their MD5 on every GET, ranged ones included, so each
# footer or column read cost a hash of the whole file (the figures before 2026-11-29 afternoon have it).
upload() { # $1 = port
  tests/servers/moto.sh install
  "$HOME/.cache/lakesight/moto-venv/bin/python" - "$LAKE" "$1" <<'EOF'
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
lake, port = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
s3.create_bucket(Bucket="bench")
paths = [os.path.join(r, f) for r, _, fs in os.walk(lake) for f in fs]
def put(p):
    s3.upload_file(p, "bench", "lake/" + os.path.relpath(p, lake))
with ThreadPoolExecutor(8) as ex:
    list(ex.map(put, paths))
EOF
}
case "$SERVER" in
  moto)
    SRV=$(tests/servers/moto.sh start "$PORT")
    upload "$PORT"
    ;;
  s3s)
    S3S="$HOME/.cache/lakesight/s3s-fs"
    [ -x "$S3S/bin/s3s-fs" ] || cargo install --quiet --locked s3s-fs --version 0.14.1 --features binary --root "$S3S"
    mkdir -p "$WORK/root"
    "$S3S/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$WORK/root" >"$WORK/s3s.log" 2>&1 &
    SRV=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    upload "$PORT"
    ;;
  *) echo "server: moto or s3s" >&2; exit 2 ;;
esac
# The nightly job without its rollup store: this measures scanning the lake (with the store, every
# run after the first would read its stored days instead).
grep -v '^\[rollup\]\|^recompute_days' jobs/nightly.toml > "$WORK/job.toml"
(cat "$WORK/job.toml"; printf '\n[s3]\ncache_mb = 0\n') > "$WORK/nocache.toml"
run() { # $1 = label, $2 = lake URL, $3 = job file, rest = env
  local label=$1 url=$2 job=$3; shift 3
  local out="$WORK/out-$label"
  /usr/bin/time -f "%e %M" -o "$WORK/time-$label" env "$@" "$BIN" --log-format json run --job "$job" --date "$LAST" \
    --lake "$url" --out "$out" >/dev/null 2>"$WORK/log-$label"
  read -r wall rss < "$WORK/time-$label"
  python3 - "$label" "$wall" "$rss" "$out/manifest.json" <<'EOF'
import json, sys
label, wall, rss, path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
m = json.load(open(path))
t = m["timings_ms"]
print(f"{label}: wall {wall:.2f} s, peak RSS {rss/1024:.0f} MB, open_lake {t['open_lake']} ms, series {t['series']} ms, "
      f"{m['inputs']['files']} files, {m['findings_total']} findings")
EOF
}
S3ENV=(AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true)
for i in 1 2 3; do
  run "local$i" "$LAKE" "$WORK/job.toml"
  run "s3$i" "s3://bench/lake" "$WORK/job.toml" "${S3ENV[@]}"
  run "s3nocache$i" "s3://bench/lake" "$WORK/nocache.toml" "${S3ENV[@]}"
done
python3 - "$WORK" <<'EOF'
import json, sys, statistics
w = sys.argv[1]
def stage(label, key):
    return statistics.median(json.load(open(f"{w}/out-{label}{i}/manifest.json"))["timings_ms"][key] for i in (1, 2, 3))
for key in ("open_lake", "series", "total"):
    l, s, n = stage("local", key), stage("s3", key), stage("s3nocache", key)
    print(f"{key}: local {l:.0f} ms, S3 {s:.0f} ms ({s / max(l, 1):.2f}x), S3 without cache {n:.0f} ms ({n / max(l, 1):.2f}x)")
EOF
