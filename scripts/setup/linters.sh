#!/usr/bin/env bash
# The chart linters users run, pinned: kube-score built from the Go module proxy into
# .tools/bin/kube-score, and checkov from PyPI into its own venv .tools/checkov: its own pins
# (packaging<24, ...) would downgrade the project's. Every package of it is pinned with its
# hashes in scripts/setup/checkov-requirements.txt, compiled from checkov-requirements.in:
#   cd scripts/setup && uv pip compile --python-version 3.11 --generate-hashes \
#     checkov-requirements.in -o checkov-requirements.txt
# tests/chart/test_chart_linters.py runs both on the chart's renders.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KUBE_SCORE_VERSION=v1.20.0
CHECKOV_VERSION=3.3.30
REQUIREMENTS="$ROOT/scripts/setup/checkov-requirements.txt"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

if ! fresh kube-score "$KUBE_SCORE_VERSION" || [ ! -x "$TOOLS/bin/kube-score" ]; then
  require_go kube-score 1.23
  log "kube-score: building $KUBE_SCORE_VERSION"
  GOBIN="$TOOLS/bin" go install -trimpath \
    -ldflags "-X main.version=${KUBE_SCORE_VERSION#v}" \
    "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
  stamp kube-score "$KUBE_SCORE_VERSION"
else
  log "kube-score: $KUBE_SCORE_VERSION present"
fi

grep -q "^checkov==$CHECKOV_VERSION " "$REQUIREMENTS" || {
  log "checkov: $REQUIREMENTS does not pin checkov==$CHECKOV_VERSION: regenerate it"
  exit 1
}
VENV="$TOOLS/checkov"
if fresh checkov "$CHECKOV_VERSION" "$REQUIREMENTS" && [ -x "$VENV/bin/checkov" ]; then
  log "checkov: $CHECKOV_VERSION present"
  exit 0
fi
log "checkov: installing $CHECKOV_VERSION into $VENV"
rm -rf "$VENV"
"$TOOLS/bin/uv" venv -q --python "$TOOLS/venv/bin/python" "$VENV"
VIRTUAL_ENV="$VENV" "$TOOLS/bin/uv" pip sync -q --require-hashes "$REQUIREMENTS"
stamp checkov "$CHECKOV_VERSION" "$REQUIREMENTS"
