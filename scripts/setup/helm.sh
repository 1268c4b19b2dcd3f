#!/usr/bin/env bash
# helm (v3, pinned) built from the Go module proxy into .tools/bin/helm, and the helm-unittest
# plugin (pinned) built from its module source into a project-local HELM_PLUGINS directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HELM_VERSION=v3.22.0
UNITTEST_VERSION=v1.1.2
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
# helm v3.22 declares go 1.26 in its go.mod; Debian's packaged Go is too old for it.
require_go helm 1.26

if ! fresh helm "$HELM_VERSION" || [ ! -x "$TOOLS/bin/helm" ]; then
  log "helm: building $HELM_VERSION"
  GOBIN="$TOOLS/bin" go install -trimpath \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$HELM_VERSION"
else
  log "helm: $HELM_VERSION present"
fi

PLUGIN_DIR="$TOOLS/helm-plugins/helm-unittest"
# The layout tag is part of the stamp so a changed install layout rebuilds once.
PLUGIN_LAYOUT=single-binary-v2
if ! fresh helm-unittest "$UNITTEST_VERSION" "$PLUGIN_LAYOUT" || [ ! -x "$PLUGIN_DIR/untt" ] \
   || grep -q platformCommand "$PLUGIN_DIR/plugin.yaml" 2>/dev/null; then
  log "helm-unittest: building $UNITTEST_VERSION"
  # Its go.mod has a replace directive, so `go install mod@ver` refuses it: build it inside
  # its own module root, from a writable copy of the downloaded module.
  work=$(mktemp -d)
  module_copy "github.com/helm-unittest/helm-unittest@$UNITTEST_VERSION" "$work"
  rm -rf "$PLUGIN_DIR"
  mkdir -p "$PLUGIN_DIR"
  (cd "$work" && go build -trimpath -o "$PLUGIN_DIR/untt" ./cmd/helm-unittest)
  # The upstream plugin.yaml points at per-platform binaries fetched by an install hook
  # (untt-linux-amd64, ...). We built one binary from source, so keep the metadata and point
  # `command` at it, dropping platformCommand and the download hooks.
  python3 - "$work/plugin.yaml" "$PLUGIN_DIR/plugin.yaml" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
keep = [l for l in src.splitlines()
        if re.match(r'^(name|version|usage|description|ignoreFlags):', l)]
keep.append('command: "$HELM_PLUGIN_DIR/untt"')
open(sys.argv[2], "w").write("\n".join(keep) + "\n")
PY
  rm -rf "$work"
  stamp helm-unittest "$UNITTEST_VERSION" "$PLUGIN_LAYOUT"
else
  log "helm-unittest: $UNITTEST_VERSION present"
fi
