#!/usr/bin/env bash
# Install (once) the notebooks' Python packages into $HOME/.cache/lakesight/nb-venv and print its
# python. CI runs it from .ci/run; tests/it/notebooks.rs executes the notebooks with that python.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${LAKESIGHT_NOTEBOOK_VENV:-$HOME/.cache/lakesight/nb-venv}"
STAMP="$(sha256sum requirements.txt | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.lakesight-nb" 2>/dev/null)" != "$STAMP" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt >&2
  "$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name python3 >/dev/null 2>&1
  echo "$STAMP" > "$VENV/.lakesight-nb"
fi
echo "$VENV/bin/python"
