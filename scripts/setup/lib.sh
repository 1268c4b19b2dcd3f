# Shared helpers for scripts/setup/*.sh (sourced, not run).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
STAMPS="$TOOLS/stamps"
mkdir -p "$TOOLS/bin" "$STAMPS"

log() { printf '[setup] %s\n' "$*" >&2; }

# fresh NAME INPUT...: true when the stamp of NAME matches the hash of the given inputs
# (files or literal strings), i.e. the step already ran with exactly these inputs.
inputs_hash() {
  local item
  for item in "$@"; do
    if [ -f "$item" ]; then sha256sum "$item"; else printf '%s\n' "$item"; fi
  done | sha256sum | cut -d' ' -f1
}
fresh() {
  local name=$1; shift
  [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$(inputs_hash "$@")" ]
}
stamp() {
  local name=$1; shift
  inputs_hash "$@" > "$STAMPS/$name"
}

# apt_install STEP PACKAGE...: install the Debian packages not installed yet (one apt-get run).
apt_install() {
  local step=$1 p; shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "$step: all $# packages present"
    return 0
  fi
  log "$step: installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# require_go STEP MIN: a Go toolchain of at least MIN on PATH, or a clear error.
require_go() {
  local step=$1 min=$2 version
  if ! command -v go >/dev/null; then
    log "$step: no Go toolchain on PATH: install Go >= $min (it builds $step from source)"
    exit 1
  fi
  version=$(go env GOVERSION | sed 's/^go//')
  if [ "$(printf '%s\n%s\n' "$min" "$version" | sort -V | head -1)" != "$min" ]; then
    log "$step: Go $version is older than $min: install a newer Go"
    exit 1
  fi
}

# module_copy MODULE@VERSION DIR: a writable copy of a downloaded Go module, to build inside
# its own module root. The module and build caches stay in the user's defaults (not in the
# clone) and the builds use -trimpath, so a second clone reuses the compiled packages.
module_copy() {
  local src
  src=$(go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$2"
  mkdir -p "$2"
  cp -r "$src/." "$2/"
  chmod -R u+w "$2"
}
