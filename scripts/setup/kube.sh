#!/usr/bin/env bash
# A one-node Kubernetes for the e2e tier, from the package registries only (no kind node image,
# k3s release or image registry is reachable here):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl  Go module k8s.io/kubernetes
#   etcd                                                                       Go module go.etcd.io/etcd/server/v3
#   the pause image (a one-layer image archive)                                build/pause/linux/pause.c of the module
#   containerd, runc, CNI plugins, iptables                                    Debian packages
# into .tools/kube/. Go's module and build caches stay in the user's defaults (with -trimpath),
# so the 9-minute compile happens once per machine, not once per clone. The versions are pinned
# here and nowhere else; scripts/kube_cluster.py reads them from .tools/kube/versions.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

K8S_VERSION=v1.34.4    # 1.34 is the last minor whose kubelet runs on cgroup v1 (these machines)
ETCD_VERSION=v3.6.16
PAUSE_TAG=registry.k8s.io/pause:3.10.1

KUBE="$TOOLS/kube"
BIN="$KUBE/bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off
require_go kube 1.24  # Kubernetes 1.34's go.mod
mkdir -p "$BIN"

PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 gcc libc6-dev)
apt_install kube "${PACKAGES[@]}"

# pin_local_replaces VERSION: every required module replaced by a local path (`=> ./staging/..`,
# `=> ../api`) is replaced by the same module at VERSION instead: the module zip holds no nested
# modules, so the local paths do not exist. Replaces of modules nothing requires (etcd's
# `=> ./FORBIDDEN_DEPENDENCY` guards) stay as they are.
pin_local_replaces() {
  go mod edit -json | python3 -c '
import json, sys
mod = json.load(sys.stdin)
required = {r["Path"] for r in mod.get("Require") or []}
for r in mod.get("Replace") or []:
    if r["New"]["Path"].startswith(".") and r["Old"]["Path"] in required:
        print(r["Old"]["Path"])' | while read -r dep; do
    go mod edit -replace "$dep=$dep@$1"
  done
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  # Without these the server reports v0.0.0-master and helm's semverCompare on KubeVersion fails.
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

have_all() { local b; for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done; }

if fresh kube "$K8S_VERSION" "$LDFLAGS" && have_all "${K8S_BINARIES[@]}"; then
  log "kube: Kubernetes $K8S_VERSION present"
else
  log "kube: building Kubernetes $K8S_VERSION (about 9 min on 2 cores the first time on a machine)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  module_copy "k8s.io/kubernetes@$K8S_VERSION" "$work/kubernetes"
  (
    cd "$work/kubernetes"
    rm -f go.work go.work.sum
    pin_local_replaces "v0.${K8S_VERSION#v1.}"
    # go.sum misses the staging modules' own hashes; -mod=mod fills them in.
    go build -trimpath -ldflags "$LDFLAGS" -o "$BIN/" \
      "${K8S_BINARIES[@]/#/./cmd/}"
    gcc -static -O2 -DVERSION="kcb-$K8S_VERSION" -o "$KUBE/pause" build/pause/linux/pause.c
  )
  rm -rf "$work"
  trap - EXIT
  stamp kube "$K8S_VERSION" "$LDFLAGS"
fi

if fresh etcd "$ETCD_VERSION" && have_all etcd; then
  log "kube: etcd $ETCD_VERSION present"
else
  log "kube: building etcd $ETCD_VERSION"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  module_copy "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$work/etcd"
  (cd "$work/etcd" && pin_local_replaces "$ETCD_VERSION" && go build -trimpath -o "$BIN/etcd" .)
  rm -rf "$work"
  trap - EXIT
  stamp etcd "$ETCD_VERSION"
fi

# The pause binary as a one-layer image archive (docker save format) for `ctr images import`.
if fresh pause "$PAUSE_TAG" "$KUBE/pause" && [ -f "$KUBE/pause.tar" ]; then
  log "kube: pause image present"
else
  python3 - "$KUBE/pause" "$PAUSE_TAG" "$KUBE/pause.tar" <<'PY'
import hashlib, io, json, sys, tarfile
binary, tag, out = sys.argv[1:]
def add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode
    tar.addfile(info, io.BytesIO(data))
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.GNU_FORMAT) as t:
    add(t, "pause", open(binary, "rb").read(), 0o755)
layer_bytes = layer.getvalue()
diff_id = hashlib.sha256(layer_bytes).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
}).encode()
config_id = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": f"{config_id}.json", "RepoTags": [tag],
                        "Layers": [f"{diff_id}/layer.tar"]}]).encode()
with tarfile.open(out + ".tmp", mode="w", format=tarfile.GNU_FORMAT) as t:
    add(t, f"{diff_id}/layer.tar", layer_bytes)
    add(t, f"{config_id}.json", config)
    add(t, "manifest.json", manifest)
import os; os.replace(out + ".tmp", out)
PY
  stamp pause "$PAUSE_TAG" "$KUBE/pause"
fi

python3 - "$KUBE/versions.json" "$K8S_VERSION" "$ETCD_VERSION" "$PAUSE_TAG" <<'PY'
import json, os, sys
out, k8s, etcd, pause = sys.argv[1:]
text = json.dumps({"kubernetes": k8s, "etcd": etcd, "pauseImage": pause}, indent=2) + "\n"
if not os.path.exists(out) or open(out).read() != text:
    open(out + ".tmp", "w").write(text); os.replace(out + ".tmp", out)
PY
log "kube: Kubernetes $K8S_VERSION, etcd $ETCD_VERSION in $BIN"
