#!/usr/bin/env bash
# One-command toolchain bootstrap: installs what the project needs from the package registries
# into .tools/ (git-ignored). Every step is idempotent and skips itself when its inputs have not
# changed, so a second run takes seconds and changes nothing.
#
#   scripts/setup.sh demo   what `make demo` needs: the FUSE/encryption/snapshot tools, a JRE,
#                           the Python venv, the Kafka jars (no Docker, helm or cluster)
#   scripts/setup.sh all    everything `make test` needs: the above, plus the Docker engine and
#                           debootstrap (images tier), helm, helm-unittest, kube-score and checkov
#                           (chart tier), and a one-node Kubernetes built from source (e2e tier)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup/lib.sh
source scripts/setup/lib.sh

profile=${1:-all}
case "$profile" in
  demo) steps=(apt python kafka-jars) ;;
  all) steps=(apt python kafka-jars helm linters kube) ;;
  *) log "unknown set-up profile '$profile': use 'demo' or 'all'"; exit 2 ;;
esac
for step in "${steps[@]}"; do
  SETUP_PROFILE=$profile bash "scripts/setup/$step.sh"
done
log "toolchain ($profile) ready in $TOOLS"
