#!/usr/bin/env bash
# Debian packages: the FUSE/encryption/snapshot tools the supervisor wraps and the JDK/Maven
# used to resolve the Kafka jars (the demo needs no more); for the full set-up also the Docker
# engine and debootstrap of the images tier. The cluster's own packages are in kube.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=(encfs gocryptfs rsnapshot rsync fuse3
          openjdk-17-jre-headless maven git curl ca-certificates gzip procps util-linux
          python3-pip python3-venv)
if [ "${SETUP_PROFILE:-all}" != demo ]; then
  PACKAGES+=(docker.io debootstrap)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "apt: all ${#PACKAGES[@]} packages present"
  exit 0
fi
log "apt: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
