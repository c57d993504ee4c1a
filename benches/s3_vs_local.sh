#!/usr/bin/env bash
# The nightly run over the same lake from local disk and from a loopback S3-compatible server.
# Usage: benches/s3_vs_local.sh LAKE_DIR [moto|s3s]   (LAKE_DIR from benches/lake_vs_duckdb.sh)
#   moto: moto 5.2.5 in server mode (Python, the tests' server; tests/servers/moto.sh), lake uploaded
#   s3s:  s3s-fs (Rust, `cargo install s3s-fs --features binary` into $HOME/.cache/lakesight/s3s-fs),
#         serving a hard-linked copy of the lake as bucket `bench` (no upload)
# Prints wall time, peak RSS and the manifest's stage timings of each run, and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKE="$(cd "$1" && pwd)"; SERVER="${2:-s3s}"
PORT="${BENCH_S3_PORT:-45199}"
cargo build --release --quiet
BIN=target/release/lakesight
LAST=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['last_day'])" "$LAKE/labels.json")
WORK="$(mktemp -d)"; trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
case "$SERVER" in
  moto)
    SRV=$(tests/servers/moto.sh start "$PORT")
    "$HOME/.cache/lakesight/moto-venv/bin/python" - "$LAKE" "$PORT" <<'EOF'
import os, sys, boto3
lake, port = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
s3.create_bucket(Bucket="bench")
for root, _, files in os.walk(lake):
    for f in files:
        p = os.path.join(root, f)
        s3.upload_file(p, "bench", "lake/" + os.path.relpath(p, lake))
EOF
    ;;
  s3s)
    S3S="$HOME/.cache/lakesight/s3s-fs"
    [ -x "$S3S/bin/s3s-fs" ] || cargo install --quiet --locked s3s-fs --version 0.14.1 --features binary --root "$S3S"
    mkdir -p "$WORK/root/bench"
    cp -al "$LAKE" "$WORK/root/bench/lake"
    "$S3S/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$WORK/root" >"$WORK/s3s.log" 2>&1 &
    SRV=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    ;;
  *) echo "server: moto or s3s" >&2; exit 2 ;;
esac
run() { # $1 = label, $2 = lake URL, rest = env
  local label=$1 url=$2; shift 2
  local out="$WORK/out-$label"
  /usr/bin/time -f "%e %M" -o "$WORK/time-$label" env "$@" "$BIN" --log-format json run --job jobs/nightly.toml --date "$LAST" \
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
for i in 1 2; do
  run "local$i" "$LAKE"
  run "s3$i" "s3://bench/lake" AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
done
python3 - "$WORK" <<'EOF'
import json, sys, statistics
w = sys.argv[1]
def stage(label, key):
    return [json.load(open(f"{w}/out-{label}{i}/manifest.json"))["timings_ms"][key] for i in (1, 2)]
for key in ("open_lake", "series"):
    l, s = statistics.median(stage("local", key)), statistics.median(stage("s3", key))
    print(f"{key}: local {l:.0f} ms, S3 {s:.0f} ms, ratio {s / max(l, 1):.2f}x")
EOF
