"""The cluster module's promise: `down`, and the death of the process that ran `up`, leave no
process, mount, network link or network namespace behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kube_cluster import NODE_LINK, POD_BRIDGE, ROOT, KubeCluster, alive, link_exists
from waiting import eventually

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def _pod_links() -> set[str]:
    out = subprocess.run(
        ["ip", "-o", "link", "show", "master", POD_BRIDGE],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}


def _mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split(" ")[4] for line in lines if line.split(" ")[4].startswith(str(path))]


def _assert_nothing_left(cluster: KubeCluster, pids: list[int], pod_links: set[str]) -> None:
    eventually(
        lambda: [p for p in pids if alive(p)],
        "no process left",
        timeout=30,
        until=lambda left: not left,
    )
    assert [p for p in pids if alive(p)] == []
    assert not link_exists(NODE_LINK) and not link_exists(POD_BRIDGE)
    all_links = subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True, check=False
    ).stdout
    assert [name for name in pod_links if f" {name}@" in all_links] == []
    # The pods' network namespace files live under the work dir (containerd's state).
    assert _mounts_under(cluster.work_dir) == []


def test_down_and_a_killed_owner_leave_nothing_behind(
    kube_cluster: KubeCluster, cluster_images: dict[str, str], image_archives: dict[str, Path]
) -> None:
    cluster = kube_cluster
    # A running pod, so there is a sandbox, a veth, a network namespace and overlay mounts.
    cluster.kubectl(
        "run", "probe", "--image", cluster_images["connect"], "--image-pull-policy=Never",
        "--restart=Never", "--command", "--", "sleep", "600",
    )  # fmt: skip
    cluster.kubectl("wait", "--for=condition=Ready", "pod/probe", "--timeout=120s")
    pids = [pid for pid, _ in cluster.processes()]
    commands = " ".join(command for _, command in cluster.processes())
    for part in ("etcd", "kube-apiserver", "kubelet", "containerd-shim", "sleep 600"):
        assert part in commands
    links = _pod_links()
    assert len(links) == 1
    try:
        cluster.down()
        _assert_nothing_left(cluster, pids, links)
        assert cluster.status()["running"] is False

        # The owner dies without a word (SIGKILL): the cluster goes with it.
        owner = subprocess.Popen(
            [
                sys.executable, "-c",
                ("import sys, time; sys.path.insert(0, sys.argv[1]); "
                "from kube_cluster import KubeCluster; from pathlib import Path; "
                "KubeCluster(Path(sys.argv[2])).up(tie_to_parent=True); "
                "print('ready', flush=True); time.sleep(600)"),
                str(ROOT / "scripts"), str(cluster.work_dir),
            ],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        pids = [pid for pid, _ in cluster.processes()]
        assert len(pids) >= 7
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        eventually(
            lambda: [p for p in pids if alive(p)],
            "no process left",
            timeout=30,
            until=lambda left: not left,
        )
        assert [p for p in pids if alive(p)] == []  # every process, without a `down`
        assert _mounts_under(cluster.work_dir) == []
        cluster.down()  # what is left for it: the node's links
        _assert_nothing_left(cluster, pids, set())
    finally:
        # The session's cluster again, with the images, for the other e2e tests.
        cluster.up(tie_to_parent=True)
        for archive in image_archives.values():
            cluster.import_image(archive)
