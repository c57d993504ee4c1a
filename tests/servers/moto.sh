#!/usr/bin/env bash
# Install (once, into $HOME/.cache/lakesight/moto-venv) and start moto in server mode on loopback:
# a real S3-compatible server that also speaks the Glue and Athena APIs (see
# ../shared/reference/local-servers.md for what moto's Athena does and does not do).
#   tests/servers/moto.sh install          install only
#   tests/servers/moto.sh start PORT       start in the background, wait for the port, print the PID
set -euo pipefail
VENV="${LAKESIGHT_MOTO_VENV:-$HOME/.cache/lakesight/moto-venv}"
MOTO_VERSION="5.2.5"
install() {
  if [ ! -x "$VENV/bin/moto_server" ] || [ "$(cat "$VENV/.lakesight-moto" 2>/dev/null)" != "$MOTO_VERSION" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    echo "$MOTO_VERSION" > "$VENV/.lakesight-moto"
  fi
}
case "${1:-}" in
  install) install ;;
  start)
    install
    PORT="$2"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"${LAKESIGHT_MOTO_LOG:-/dev/null}" 2>&1 &
    PID=$!
    for _ in $(seq 1 150); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "$PID"; exit 0; fi
      kill -0 "$PID" 2>/dev/null || { echo "moto_server exited" >&2; exit 1; }
      sleep 0.2
    done
    echo "moto_server did not open port $PORT" >&2; kill "$PID"; exit 1 ;;
  *) echo "usage: $0 install | start PORT" >&2; exit 2 ;;
esac
