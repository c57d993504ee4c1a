#!/usr/bin/env bash
# Builds lakesight's container image with buildah (Debian's package). Usage:
#   jobs/container/build.sh [TAG]            all stages, Rust toolchain image from a registry
#   jobs/container/build.sh --host [TAG]     no registry: the release binary is built here (or
#                                            taken from $LAKESIGHT_BIN) and passed in as the
#                                            `build` stage, laid out by the same rootfs.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
host=0
if [ "${1:-}" = "--host" ]; then host=1; shift; fi
tag="${1:-localhost/lakesight:latest}"
args=(build --layers -f "$root/jobs/container/Containerfile" -t "$tag")
if [ "$host" = 1 ]; then
    bin="${LAKESIGHT_BIN:-}"
    if [ -z "$bin" ]; then
        (cd "$root" && cargo build --release --locked --bin lakesight)
        bin="${CARGO_TARGET_DIR:-$root/target}/release/lakesight"
    fi
    ctx="$(mktemp -d)"
    trap 'rm -rf "$ctx"' EXIT
    "$root/jobs/container/rootfs.sh" "$bin" "$ctx/rootfs"
    args+=(--build-context "build=$ctx")
fi
buildah "${args[@]}" "$root"
