#!/usr/bin/env python3
"""A real one-node Kubernetes cluster on this machine, for the e2e tier and by hand.

    scripts/kube_cluster.py up [--broker] [--images] [--work-dir DIR]
        start it (returns once the node is Ready); --broker: a Kafka broker the pods reach on
        10.200.0.1:9092; --images: build both project images and side-load them
    scripts/kube_cluster.py status [--work-dir DIR]  what runs, as JSON
    scripts/kube_cluster.py down [--work-dir DIR]    stop it (and the broker); nothing is left

The binaries come from `scripts/setup/kube.sh` (`.tools/kube/bin`: kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kubectl, etcd; the pause image archive) and
Debian (containerd, runc, CNI plugins). Every part runs under one work directory: PKI, etcd's
data, containerd's root and state, the kubelet's root, the CNI config and IP leases, the logs.

Clean-up does not depend on anyone tidying up: all the cluster's processes run in one PID
namespace and one private mount namespace (`unshare --pid --mount --kill-child`). Stopping its
first process makes the kernel end every process in it (containerd's shims and the containers
too), and its mounts (overlay snapshots, emptyDirs, network-namespace files) go with it; the
namespace dies with the process that started it when `up(tie_to_parent=True)`, even when that
is killed. Left on the host are only the node's veth pair and the pod bridge, which `down`
deletes (and a `--broker` broker, which `down` stops).

Addresses: the node is 10.200.0.1 on a veth pair (the kernel has no dummy module); the API
server, the kubelet and, for the e2e tier, a Kafka broker listen there. Pods get 10.244.0.0/24
on a bridge and reach the node address through their default route; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from docker_engine import DockerError, build_local_bases, start_engine
from images import LOCAL_BASES, PUBLIC_BASES, build_backup, build_connect, public_bases_pullable
from kafka_stack import Broker, StackError

ROOT = Path(__file__).resolve().parents[1]
KUBE_TOOLS = ROOT / ".tools" / "kube"
BIN = KUBE_TOOLS / "bin"
DEFAULT_WORK_DIR = ROOT / ".tools" / "kube-cluster"

NODE_NAME = "kcb-node"
NODE_LINK, NODE_PEER = "kcn0", "kcn1"
NODE_IP = "10.200.0.1"
POD_BRIDGE = "kcb0"
POD_SUBNET, POD_GATEWAY = "10.244.0.0/24", "10.244.0.1"
SERVICE_RANGE, SERVICE_IP = "10.96.0.0/24", "10.96.0.1"
API_PORT = 6443
BROKER_PORT = 9092
# What `up --images` builds and side-loads (pull policy Never).
DEV_IMAGES = {"connect": "kcb-dev/connect:latest", "supervisor": "kcb-dev/backup:latest"}
KUBELET_PORT = 10250
# One cluster per machine: the node's links and address are machine-wide.
OWNER_FILE = Path("/run/kcb-kube-cluster.json")

_PR_SET_PDEATHSIG = 1
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")


class ClusterError(RuntimeError):
    """The cluster failed to start or stop; the message names the log to read."""


def _run(
    args: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,  # noqa: A002 (subprocess.run's name for it)
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with `check`, a ClusterError carrying its stderr when it fails."""
    proc = subprocess.run(
        list(args), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        name = Path(args[0]).name
        raise ClusterError(
            f"{name} {shlex.join(args[1:])} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", name], check=False).returncode == 0


def versions() -> dict[str, str]:
    """The pinned versions `scripts/setup/kube.sh` built (kubernetes, etcd, pauseImage)."""
    path = KUBE_TOOLS / "versions.json"
    if not path.is_file():
        raise ClusterError(f"{path} is missing: run `make setup` (scripts/setup/kube.sh)")
    data: dict[str, str] = json.loads(path.read_text())
    return data


# --- PKI ----------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    _run(["openssl", *args])


def _issue(pki: Path, name: str, subject: str, extensions: str) -> None:
    """An EC key and a certificate for it signed by the cluster CA."""
    ext = pki / f"{name}.ext"
    ext.write_text(extensions + "\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr"),
             "-subj", subject)  # fmt: skip
    _openssl("x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
             "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "3650",
             "-extfile", str(ext), "-out", str(pki / f"{name}.crt"))  # fmt: skip


def _write_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
             "-days", "3650", "-subj", "/CN=kcb-e2e-ca")  # fmt: skip
    server_sans = ",".join(
        [f"IP:{NODE_IP}", "IP:127.0.0.1", f"IP:{SERVICE_IP}", "DNS:localhost", "DNS:kubernetes"]
        + [f"DNS:kubernetes.default{suffix}" for suffix in ("", ".svc", ".svc.cluster.local")]
    )
    _issue(pki, "apiserver", "/CN=kube-apiserver",
           f"subjectAltName={server_sans}\nextendedKeyUsage=serverAuth")  # fmt: skip
    _issue(pki, "kubelet", f"/CN={NODE_NAME}",
           f"subjectAltName=IP:{NODE_IP}\nextendedKeyUsage=serverAuth")  # fmt: skip
    # One cluster-admin identity for kubectl and the control plane: a test cluster on loopback.
    _issue(pki, "admin", "/O=system:masters/CN=kcb-admin", "extendedKeyUsage=clientAuth")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(pki / "sa.key"))
    _openssl("ec", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


# --- the cluster --------------------------------------------------------------------------


@dataclass
class KubeCluster:
    work_dir: Path = DEFAULT_WORK_DIR

    @property
    def pki(self) -> Path:
        return self.work_dir / "pki"

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "admin.kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.work_dir / "containerd" / "containerd.sock"

    @property
    def node_ip(self) -> str:
        return NODE_IP

    @property
    def _state_file(self) -> Path:
        return self.work_dir / "state.json"

    # --- commands against the cluster ---------------------------------------------------

    def kubectl_command(self, *args: str) -> list[str]:
        return [str(BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]

    def kubectl(
        self,
        *args: str,
        input: str | None = None,  # noqa: A002 (subprocess.run's name for it)
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return _run(self.kubectl_command(*args), input=input, check=check, timeout=timeout)

    def env(self) -> dict[str, str]:
        """Environment for helm and kubectl run against this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def import_image(self, archive: Path) -> None:
        """Side-load an image archive (`docker save` format) into the node's containerd."""
        _run(["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io",
              "images", "import", str(archive)], timeout=600)  # fmt: skip

    def start_broker(self) -> str:
        """A Kafka broker on the node address, port 9092, for a cluster brought up by hand:
        it outlives this process and `down` stops it. Returns its bootstrap address."""
        broker = Broker(
            "broker", self.work_dir / "broker", host=NODE_IP, port=BROKER_PORT, detached=True
        )
        broker.start()
        assert broker.process is not None
        self._write_state(brokerPid=broker.process.pid)
        return broker.bootstrap

    def load_images(self) -> dict[str, str]:
        """Build both project images on the local Docker engine (public bases when a registry
        answers, else the local stand-ins) and side-load them. Returns {role: image}."""
        engine = start_engine()
        try:
            bases = PUBLIC_BASES if public_bases_pullable(engine) else LOCAL_BASES
            if bases is LOCAL_BASES:
                build_local_bases(engine)
            built = {"connect": DEV_IMAGES["connect"], "supervisor": DEV_IMAGES["supervisor"]}
            build_connect(engine, built["connect"], bases)
            build_backup(engine, built["supervisor"], bases)
            for image in built.values():
                archive = self.work_dir / "image.tar"
                engine.docker("save", "-o", str(archive), image, timeout=600)
                self.import_image(archive)
                archive.unlink()
        finally:
            engine.stop()
        return built

    # --- lifecycle ----------------------------------------------------------------------

    def up(self, *, tie_to_parent: bool = False, timeout: float = 180) -> KubeCluster:
        """Start every part and return once the node is Ready. `tie_to_parent`: the cluster
        dies with the calling process (test fixtures); without it it runs until `down`."""
        for binary in (*COMPONENTS, "kubectl"):
            if not os.access(BIN / binary, os.X_OK):
                raise ClusterError(f"{BIN / binary} is missing: run `make setup`")
        if not (KUBE_TOOLS / "pause.tar").is_file():
            raise ClusterError(f"{KUBE_TOOLS / 'pause.tar'} is missing: run `make setup`")
        self._claim_machine()
        try:
            self._wipe()
            _write_pki(self.pki)
            self._write_configs()
            self._create_node_link()
            self._start(tie_to_parent)
            self._wait_ready(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def down(self, timeout: float = 60) -> None:
        """Stop everything this cluster started and delete its links. Safe to call twice, and
        after a crash (it reads what `up` recorded)."""
        state = self._read_state()
        broker = state.get("brokerPid")
        if isinstance(broker, int) and alive(broker):
            os.kill(broker, signal.SIGTERM)  # Kafka's shutdown hooks run
            deadline = time.monotonic() + timeout
            while alive(broker) and time.monotonic() < deadline:
                self._reap(broker)
                time.sleep(0.2)
            if alive(broker):
                os.kill(broker, signal.SIGKILL)
        pid = state.get("pid")
        if isinstance(pid, int) and alive(pid):
            init = self._namespace_init(pid)
            if init is not None:
                os.kill(init, signal.SIGTERM)  # the launcher stops the kubelet first
            deadline = time.monotonic() + timeout
            while alive(pid) and time.monotonic() < deadline:
                self._reap(pid)
                time.sleep(0.2)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)  # --kill-child: the namespace goes with it
            self._reap(pid)
        namespace = state.get("pidNamespace")
        if isinstance(namespace, str):
            deadline = time.monotonic() + timeout
            while self._processes_in(namespace) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = self._processes_in(namespace)
            if left:
                raise ClusterError(f"processes of the cluster still run after {timeout}s: {left}")
        self._state_file.unlink(missing_ok=True)
        if self._owner() not in (None, str(self.work_dir)):
            return  # the links and cgroups belong to the cluster of another work dir
        for link in (NODE_LINK, POD_BRIDGE):
            if link_exists(link):
                _run(["ip", "link", "delete", link])
        self._remove_cgroups()
        OWNER_FILE.unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        state = self._read_state()
        pid = state.get("pid")
        running = isinstance(pid, int) and alive(pid)
        namespace = state.get("pidNamespace")
        processes = self._processes_in(namespace) if isinstance(namespace, str) else []
        nodes: list[dict[str, str]] = []
        if running:
            proc = self.kubectl("get", "nodes", "-o", "json", check=False, timeout=20)
            if proc.returncode == 0:
                for item in json.loads(proc.stdout)["items"]:
                    ready = [
                        c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready"
                    ]
                    nodes.append(
                        {"name": item["metadata"]["name"], "ready": ready[0] if ready else "?"}
                    )
        return {
            "workDir": str(self.work_dir),
            "running": running,
            "processes": len(processes),
            "nodes": nodes,
            "links": [link for link in (NODE_LINK, POD_BRIDGE) if link_exists(link)],
            "kubeconfig": str(self.kubeconfig),
            "versions": versions(),
        }

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process of the cluster: the launcher's descendants,
        containerd's shims and every container's processes among them."""
        pid = self._read_state().get("pid")
        if not isinstance(pid, int):
            return []
        found, queue = [], [pid]
        while queue:
            current = queue.pop()
            for task in Path(f"/proc/{current}/task").glob("*"):
                try:
                    queue.extend(int(c) for c in (task / "children").read_text().split())
                except OSError:
                    continue
            try:
                argv = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found.append((current, " ".join(a.decode(errors="replace") for a in argv if a)))
        return found

    def fuse_mounts(self) -> list[str]:
        """FUSE mounts in any mount namespace of the cluster's processes (the containers')."""
        mounts: set[str] = set()
        for pid, _ in self.processes():
            try:
                lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                left, _, right = line.partition(" - ")
                fs_type = right.split(" ")[0]
                if fs_type == "fuse" or fs_type.startswith("fuse."):  # not fusectl
                    mounts.add(f"{fs_type} on {left.split(' ')[4]}")
        return sorted(mounts)

    def __enter__(self) -> KubeCluster:
        return self.up(tie_to_parent=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # --- internals ----------------------------------------------------------------------

    def _owner(self) -> str | None:
        try:
            owner: str = json.loads(OWNER_FILE.read_text())["workDir"]
        except (OSError, ValueError, KeyError):
            return None
        return owner

    def _claim_machine(self) -> None:
        owner = self._owner()
        if owner is not None and owner != str(self.work_dir):
            other = KubeCluster(Path(owner))
            other_pid = other._read_state().get("pid")
            if isinstance(other_pid, int) and alive(other_pid):
                raise ClusterError(
                    f"another cluster runs on this machine (work dir {owner}): stop it with "
                    f"`scripts/kube_cluster.py down --work-dir {owner}`"
                )
            other.down()  # a crashed one: clean up what it left
        self.down()  # a crashed earlier run of this one
        OWNER_FILE.write_text(json.dumps({"workDir": str(self.work_dir)}) + "\n")

    def _read_state(self) -> dict[str, object]:
        try:
            state: dict[str, object] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return state

    def _write_state(self, **values: object) -> None:
        state = {**self._read_state(), **values}
        self._state_file.write_text(json.dumps(state) + "\n")

    def _wipe(self) -> None:
        if self.work_dir.exists():
            _run(["rm", "-rf", "--one-file-system", str(self.work_dir)])
        for sub in ("logs", "etcd", "containerd", "kubelet", "cni/net.d", "cni/ipam", "pods-logs"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "kcb",
                            "cluster": {
                                "server": f"https://{NODE_IP}:{API_PORT}",
                                "certificate-authority": str(self.pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": [
                        {
                            "name": "admin",
                            "user": {
                                "client-certificate": str(self.pki / "admin.crt"),
                                "client-key": str(self.pki / "admin.key"),
                            },
                        }
                    ],
                    "contexts": [{"name": "kcb", "context": {"cluster": "kcb", "user": "admin"}}],
                    "current-context": "kcb",
                },
                indent=2,
            )
        )
        self.kubeconfig.chmod(0o600)

    def _write_configs(self) -> None:
        self._write_kubeconfig()
        work, pki = self.work_dir, self.pki
        pause_image = versions()["pauseImage"]
        (work / "containerd" / "config.toml").write_text(
            f"""version = 2
root = "{work}/containerd/root"
state = "{work}/containerd/state"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  # These machines are containers themselves: without it every sandbox fails
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{work}/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{work}/cni/net.d"
"""
        )
        (work / "cni" / "net.d" / "10-kcb.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "kcb",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": POD_BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": f"{work}/cni/ipam",
                            },
                        }
                    ],
                },
                indent=2,
            )
        )
        # The pods' resolver. This machine's nameserver is not reachable from the pod network
        # (no masquerading), so every lookup there waited out the resolver's timeouts (10 s),
        # and Kafka's Java SASL client looks the broker's address up in reverse before each
        # connection: Connect took 10 s per connection to a secured broker. The loopback of
        # the pod's own network answers "port unreachable" at once: a lookup fails at once and
        # Java uses the address itself. Nothing here has a DNS server for pods (no CoreDNS).
        (work / "pod-resolv.conf").write_text(
            "# kcb e2e cluster: no DNS server for pods; lookups fail at once\n"
            "nameserver 127.0.0.1\n"
        )
        (work / "kubelet-config.json").write_text(
            json.dumps(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "address": NODE_IP,
                    "port": KUBELET_PORT,
                    "readOnlyPort": 0,
                    "healthzPort": 0,
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": False},
                        "x509": {"clientCAFile": str(pki / "ca.crt")},
                    },
                    "authorization": {"mode": "AlwaysAllow"},
                    "tlsCertFile": str(pki / "kubelet.crt"),
                    "tlsPrivateKeyFile": str(pki / "kubelet.key"),
                    # cgroup v1 here: Kubernetes 1.34 is the last to allow it, when asked.
                    "failCgroupV1": False,
                    "cgroupDriver": "cgroupfs",
                    "failSwapOn": False,
                    "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
                    "podLogsDir": f"{work}/pods-logs",
                    "resolvConf": str(work / "pod-resolv.conf"),
                    # Tests must not depend on this machine's free disk: never evict or GC.
                    "evictionHard": {
                        "memory.available": "100Mi",
                        "nodefs.available": "0%",
                        "nodefs.inodesFree": "0%",
                        "imagefs.available": "0%",
                    },
                    "imageGCHighThresholdPercent": 100,
                    "imageGCLowThresholdPercent": 99,
                    "serializeImagePulls": False,
                    "maxPods": 20,
                },
                indent=2,
            )
        )

    def _create_node_link(self) -> None:
        _run(["ip", "link", "add", NODE_LINK, "type", "veth", "peer", "name", NODE_PEER])
        _run(["ip", "addr", "add", f"{NODE_IP}/24", "dev", NODE_LINK])
        _run(["ip", "link", "set", NODE_LINK, "up"])
        _run(["ip", "link", "set", NODE_PEER, "up"])

    def _commands(self) -> dict[str, list[str]]:
        work, pki = self.work_dir, self.pki
        etcd_port, peer_port = 23790, 23800  # loopback only, inside this machine
        kubeconfig = str(self.kubeconfig)
        return {
            "etcd": [
                str(BIN / "etcd"), "--name=kcb", f"--data-dir={work}/etcd",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=kcb=http://127.0.0.1:{peer_port}",
                "--listen-metrics-urls=", "--unsafe-no-fsync",
            ],
            "kube-apiserver": [
                str(BIN / "kube-apiserver"),
                f"--advertise-address={NODE_IP}", f"--bind-address={NODE_IP}",
                f"--secure-port={API_PORT}", f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--client-ca-file={pki}/ca.crt",
                f"--tls-cert-file={pki}/apiserver.crt",
                f"--tls-private-key-file={pki}/apiserver.key",
                f"--kubelet-client-certificate={pki}/admin.crt",
                f"--kubelet-client-key={pki}/admin.key",
                f"--kubelet-certificate-authority={pki}/ca.crt",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki}/sa.pub",
                f"--service-account-signing-key-file={pki}/sa.key",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
            ],
            "kube-controller-manager": [
                str(BIN / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--service-account-private-key-file={pki}/sa.key",
                f"--root-ca-file={pki}/ca.crt", "--leader-elect=false", "--secure-port=0",
                "--use-service-account-credentials=false",
            ],
            "kube-scheduler": [
                str(BIN / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false", "--secure-port=0",
            ],
            "containerd": ["containerd", f"--config={work}/containerd/config.toml"],
            "kubelet": [
                str(BIN / "kubelet"), f"--config={work}/kubelet-config.json",
                f"--kubeconfig={kubeconfig}", f"--root-dir={work}/kubelet",
                f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}",
            ],
        }  # fmt: skip

    def _launcher(self) -> str:
        """The first process of the namespace: starts the parts in order, and stops them in
        reverse order when one exits or on SIGTERM."""
        commands = self._commands()
        logs = self.logs

        def start(name: str) -> str:
            return f"{shlex.join(commands[name])} >{logs}/{name}.log 2>&1 &\npids[{name}]=$!\n"

        ctr = shlex.join(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io",
             "images", "import", str(KUBE_TOOLS / "pause.tar")]
        )  # fmt: skip
        return f"""set -u
# Shim sockets and runc state stay inside this mount namespace.
mkdir -p /run/containerd && mount -t tmpfs tmpfs /run/containerd
declare -A pids
stop() {{
  # In reverse order of start: an API server whose etcd is gone retries it for 20 s.
  trap '' TERM INT
  for name in kubelet kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
    pid=${{pids[$name]:-}}
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  done
  exit "${{1:-0}}"
}}
trap 'stop 0' TERM INT
{start("etcd")}{start("containerd")}
for _ in $(seq 300); do [ -S {shlex.quote(str(self.containerd_socket))} ] && break; sleep 0.1; done
{ctr} >{logs}/pause-import.log 2>&1 || {{ echo "pause image import failed" >&2; stop 1; }}
{start("kube-apiserver")}{start("kube-controller-manager")}{start("kube-scheduler")}{start("kubelet")}
wait -n
echo "a cluster process exited: $(jobs -l)" >&2
stop 1
"""

    def _start(self, tie_to_parent: bool) -> None:
        script = self.work_dir / "launcher.sh"
        script.write_text(self._launcher())

        def preexec() -> None:
            if tie_to_parent:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

        stdout = (self.logs / "launcher.log").open("ab")
        process = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount",
                "--propagation",
                "private",
                "--mount-proc",
                "bash",
                str(script),
            ],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 (prctl only, in the fresh child)
        )
        stdout.close()
        deadline = time.monotonic() + 10
        init = None
        while init is None and time.monotonic() < deadline:
            init = self._namespace_init(process.pid)
            time.sleep(0.05)
        if init is None:
            raise ClusterError(
                f"the cluster's launcher did not start; see {self.logs}/launcher.log"
            )
        namespace = str(Path(f"/proc/{init}/ns/pid").readlink())
        self._write_state(pid=process.pid, pidNamespace=namespace)

    @staticmethod
    def _namespace_init(unshare_pid: int) -> int | None:
        try:
            children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    @staticmethod
    def _processes_in(namespace: str) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if str((entry / "ns" / "pid").readlink()) == namespace:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    @staticmethod
    def _remove_cgroups() -> None:
        """The kubelet's cgroups (`kubepods` under each v1 controller), deepest first."""
        for controller in Path("/sys/fs/cgroup").glob("*/kubepods"):
            for path in sorted(controller.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()
            with contextlib.suppress(OSError):
                controller.rmdir()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = self._read_state()
        pid = state.get("pid")
        last = "not started"
        while time.monotonic() < deadline:
            if not (isinstance(pid, int) and alive(pid)):
                raise ClusterError(
                    f"the cluster stopped while starting; see the logs in {self.logs}"
                )
            last = self._readiness()
            if last == "ready":
                return
            time.sleep(1)
        raise ClusterError(
            f"the cluster is not ready after {timeout:.0f}s ({last}); see {self.logs}"
        )

    def _readiness(self) -> str:
        try:
            response = requests.get(
                f"https://{NODE_IP}:{API_PORT}/readyz",
                cert=(str(self.pki / "admin.crt"), str(self.pki / "admin.key")),
                verify=str(self.pki / "ca.crt"),
                timeout=5,
            )
        except requests.RequestException as exc:
            return f"API server not answering: {type(exc).__name__}"
        if response.status_code != 200:
            return f"API server not ready: {response.status_code}"
        proc = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False, timeout=20)
        if proc.returncode != 0:
            return "node not registered"
        conditions = json.loads(proc.stdout)["status"].get("conditions", [])
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return "node not Ready"
        sa = self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
        return "ready" if sa.returncode == 0 else "service accounts not created yet"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument(
        "--images", action="store_true", help="up: build both project images and side-load them"
    )
    parser.add_argument(
        "--broker", action="store_true", help=f"up: a Kafka broker on {NODE_IP}:{BROKER_PORT}"
    )
    args = parser.parse_args(argv)
    cluster = KubeCluster(args.work_dir.resolve())
    try:
        if args.command == "up":
            started = time.monotonic()
            cluster.up()
            print(f"cluster ready in {time.monotonic() - started:.0f}s")
            if args.broker:
                print(f"Kafka broker: {cluster.start_broker()}")
            if args.images:
                built = cluster.load_images()
                print(
                    "images side-loaded; install with --set "
                    f"image.name={built['connect']},image.connect.pullPolicy=Never,"
                    f"image.supervisor.repository={built['supervisor'].rsplit(':', 1)[0]},"
                    f"image.supervisor.tag=latest,image.supervisor.pullPolicy=Never"
                )
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "down":
            cluster.down()
            print("cluster stopped; nothing left running")
        else:
            print(json.dumps(cluster.status(), indent=2))
    except (ClusterError, StackError, DockerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
