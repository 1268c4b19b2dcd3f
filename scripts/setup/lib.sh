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
