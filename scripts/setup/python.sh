#!/usr/bin/env bash
# Python: uv (pinned, from PyPI) and the project venv from pyproject.toml + uv.lock.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

UV_VERSION=0.13.9
UV_DIR="$TOOLS/uv"
if [ ! -x "$UV_DIR/bin/uv" ] || ! "$UV_DIR/bin/uv" --version | grep -q "$UV_VERSION"; then
  log "python: installing uv $UV_VERSION"
  rm -rf "$UV_DIR"
  python3 -m pip install -q --disable-pip-version-check --prefix "$UV_DIR" "uv==$UV_VERSION"
  # Debian's python3 installs a --prefix under local/ (its posix_local scheme): find the binary.
  if [ ! -x "$UV_DIR/bin/uv" ]; then
    found=$(find "$UV_DIR" -path '*/bin/uv' -type f | head -n 1)
    [ -n "$found" ] || { log "python: pip installed uv $UV_VERSION, but no bin/uv under $UV_DIR"; exit 1; }
    mkdir -p "$UV_DIR/bin"
    ln -sf "$found" "$UV_DIR/bin/uv"
  fi
fi
ln -sf "$UV_DIR/bin/uv" "$TOOLS/bin/uv"

export UV_PROJECT_ENVIRONMENT="$TOOLS/venv"
if fresh python "$ROOT/pyproject.toml" "$ROOT/uv.lock" && [ -x "$TOOLS/venv/bin/python" ]; then
  log "python: venv up to date"
  exit 0
fi
log "python: syncing $UV_PROJECT_ENVIRONMENT"
cd "$ROOT"
if [ -f uv.lock ]; then "$TOOLS/bin/uv" sync --frozen -q; else "$TOOLS/bin/uv" sync -q; fi
stamp python "$ROOT/pyproject.toml" "$ROOT/uv.lock"
