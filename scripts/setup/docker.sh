#!/usr/bin/env bash
# Local stand-ins for the public base images, built from Debian packages only (no image registry
# is reachable here). Needs a running Docker engine; the images test tier starts one and calls this.
#
#   kcb-local/debian:bookworm  debootstrap --variant=minbase + docker import  (for debian:bookworm-slim)
#   kcb-local/jre:17           + openjdk-17-jre-headless                      (for eclipse-temurin:17-jre)
#   kcb-local/maven:3-jdk17    + maven, openjdk-17-jdk-headless               (for maven:3-eclipse-temurin-17)
#
# Cached by the engine itself: the base is skipped when an image with the same recipe label
# exists, and the two layers on top hit Docker's build cache, so a warm run takes seconds.
# Env: DOCKER (client to use), DEBIAN_MIRROR (default: the host's Debian mirror).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE_IMAGE=kcb-local/debian:bookworm
JRE_IMAGE=kcb-local/jre:17
MAVEN_IMAGE=kcb-local/maven:3-jdk17
SUITE=bookworm

# The Debian client matches the Debian engine; a newer client elsewhere on PATH also works.
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
if ! "$DOCKER" info >/dev/null 2>&1; then
  log "docker: no engine answers '$DOCKER info'; start dockerd first (the images tier does)"
  exit 1
fi

# The host's own Debian mirror (it is known to be reachable), else the official one.
host_mirror() {
  local uri
  uri=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+/debian/?$' /etc/apt/sources.list.d/*.sources \
          2>/dev/null | head -n1 | awk '{print $2}') || true
  if [ -z "$uri" ]; then
    uri=$(grep -hoE '^deb[[:space:]]+[^[:space:]]+/debian/?[[:space:]]' /etc/apt/sources.list \
            2>/dev/null | head -n1 | awk '{print $2}') || true
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror)}

image_label() {  # image_label IMAGE KEY: the label's value, empty when the image is missing
  "$DOCKER" image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# --- 1. the Debian base: debootstrap + import (minutes, so only when the recipe changed) -------
LOCAL_CAS=(/usr/local/share/ca-certificates/*.crt)
[ -e "${LOCAL_CAS[0]}" ] || LOCAL_CAS=()
BASE_RECIPE=$(inputs_hash "debootstrap --variant=minbase $SUITE" "$MIRROR" \
                          /etc/apt/sources.list.d/debian.sources "${LOCAL_CAS[@]}")
if [ "$(image_label "$BASE_IMAGE" kcb.recipe)" = "$BASE_RECIPE" ]; then
  log "docker: $BASE_IMAGE up to date"
else
  log "docker: debootstrap $SUITE (minbase) from $MIRROR"
  command -v debootstrap >/dev/null || { log "docker: debootstrap missing (scripts/setup/apt.sh)"; exit 1; }
  rootfs=$(mktemp -d /var/tmp/kcb-rootfs.XXXXXX)
  cleanup() {
    # debootstrap mounts proc/sys (and may bind /dev) inside the target: unmount before deleting.
    findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | xargs -r -n1 umount -l || true
    rm -rf --one-file-system "$rootfs"
  }
  trap cleanup EXIT
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  # apt inside the image uses the same suites as the host (updates + security), if it has them.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  # The host's local CAs too (e.g. a TLS-intercepting egress proxy): ca-certificates picks them
  # up when a layer installs it, so Maven and pip inside the builds trust what the host trusts.
  if [ ${#LOCAL_CAS[@]} -gt 0 ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "${LOCAL_CAS[@]}" "$rootfs/usr/local/share/ca-certificates/"
  fi
  # Slim-image habits: no recommends, no cached .debs, no apt lists in the layer.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/90kcb-slim"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
  tar --numeric-owner --xattrs -C "$rootfs" -c . \
    | "$DOCKER" import \
        --change "LABEL kcb.recipe=$BASE_RECIPE" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >/dev/null
  log "docker: imported $BASE_IMAGE"
fi

# --- 2. JRE and Maven layers (Docker's build cache makes a repeat a no-op) -----------------------
build() {  # build TAG: Dockerfile on stdin, no context
  DOCKER_BUILDKIT=0 "$DOCKER" build -q --force-rm --network host -t "$1" - >/dev/null
  log "docker: $1 ready"
}
build "$JRE_IMAGE" <<EOF
FROM $BASE_IMAGE
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
EOF
build "$MAVEN_IMAGE" <<EOF
FROM $JRE_IMAGE
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless \\
 && rm -rf /var/lib/apt/lists/*
EOF
