#!/usr/bin/env bash
# One-command toolchain bootstrap: installs everything the project needs from the package
# registries into .tools/ (git-ignored). Every step is idempotent and skips itself when its
# inputs have not changed, so a second run takes seconds and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup/lib.sh
source scripts/setup/lib.sh

for step in apt python kafka-jars helm; do
  bash "scripts/setup/$step.sh"
done
log "toolchain ready in $TOOLS"
