#!/usr/bin/env bash
# Debian packages: the FUSE/encryption/snapshot tools the supervisor wraps and the JDK/Maven
# used to resolve the Kafka jars and build the envelope transform (the demo needs no more); for
# the full set-up also the Docker engine and debootstrap of the images tier. The cluster's own
# packages are in kube.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=(encfs gocryptfs rsnapshot rsync fuse3
          openjdk-17-jdk-headless maven git curl ca-certificates gzip procps util-linux
          python3-pip python3-venv)
if [ "${SETUP_PROFILE:-all}" != demo ]; then
  PACKAGES+=(docker.io debootstrap)
fi

apt_install apt "${PACKAGES[@]}"
