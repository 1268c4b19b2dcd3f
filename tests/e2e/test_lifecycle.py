"""The release over time: `helm upgrade` lowering the retention, `kubectl delete pod` in the
middle of a cycle, `helm uninstall` then `helm install` again on the kept volumes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from e2e.release import Release
from e2e.scenario import PASSWORD, backup_now, backup_values, produce, wait_for_sink

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SINK = "file-sink"


def _values(topic: str, retention: int, **extra: Any) -> dict[str, Any]:
    return backup_values(topic, SINK, {"retention": retention}, **extra)


def _snapshots(release: Release) -> list[dict[str, Any]]:
    """`kcb snapshots list` without the private mount point each listing gets."""
    listed: list[dict[str, Any]] = release.kcb_json("snapshots", "list")
    return [{k: v for k, v in s.items() if k != "path"} for s in listed]


def _snapshot_names(release: Release) -> list[str]:
    return [s["name"] for s in release.kcb_json("snapshots", "list")]


def _setup(release: Release, topic: str) -> Path:
    data = release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret("kafka-backup-password", PASSWORD)
    release.broker.create_topic(topic)
    return data / "filesink"


def test_upgrade_lowers_retention_and_a_pod_deleted_mid_cycle_leaves_nothing(
    release: Release,
) -> None:
    topic = "e2e-lifecycle"
    sink_dir = _setup(release, topic)
    # encfs and a 1 s grace for the backup step (the chart keeps 30 s of the 31 to resume and
    # unmount): the big file below keeps its copy busy far past it.
    release.install(_values(topic, 3, terminationGracePeriodSeconds=31))
    first_pod = release.wait_ready()["metadata"]["name"]
    sent = produce(release, topic, "l", 40)
    assert wait_for_sink(sink_dir, topic, SINK, 40) == sent
    for _ in range(3):
        backup_now(release)
    assert _snapshot_names(release) == ["alpha.0", "alpha.1", "alpha.2"]

    release.upgrade(_values(topic, 1, terminationGracePeriodSeconds=31))
    second_pod = release.wait_ready(other_than=first_pod)["metadata"]["name"]
    assert second_pod != first_pod  # the config checksum rolled the pod
    backup_now(release)
    assert _snapshot_names(release) == ["alpha.0"]  # alpha.1 and alpha.2 pruned

    # A stale compressed file of 1.5 GiB (random, so encryption cannot shrink it): the next
    # cycle copies it through encfs for seconds, far past the 1 s grace it gets.
    big = sink_dir / f"{topic}-{SINK}-2025-01.sink-1738000000.gz"
    with big.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(16 << 20))
    os.chown(big, 1000, 1000)
    before = _snapshots(release)
    # The log is followed from its start: this cycle's events come after one more request.
    requested = sum(e.get("event") == "cycle.requested" for e in release.log_events(pod=second_pod))
    log = subprocess.Popen(
        release.kubectl_command("logs", "-f", second_pod, "-c", "supervisor"),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[dict[str, Any]] = []
    mounted = threading.Event()

    def follow() -> None:
        assert log.stdout is not None
        seen = 0
        for line in log.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            seen += event.get("event") == "cycle.requested"
            if seen <= requested:
                continue
            lines.append(event)
            if event.get("event") == "volume.mounted":
                mounted.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    release.exec("kcb", "backup-now", "--no-wait")
    assert mounted.wait(120), lines[-5:]
    release.kubectl("delete", "pod", second_pod, "--wait=false")
    reader.join(180)
    log.wait(30)
    events = [e.get("event") for e in lines]
    assert "snapshot.copy_stopped" in events, events[-15:]
    done = [e for e in lines if e.get("event") == "cycle.done"]
    assert done and done[-1]["ok"] is False  # aborted, not half-saved

    third_pod = release.wait_ready(other_than=second_pod)["metadata"]["name"]
    assert release.cluster.fuse_mounts() == []
    tools = ("rsync", "encfs", "gocryptfs")
    leftovers = [c for _, c in release.cluster.processes() if any(t in c for t in tools)]
    assert leftovers == []
    # The previous snapshot is intact: alpha.0 exactly as before the interrupted cycle.
    assert _snapshots(release) == before
    big.unlink()
    backup_now(release)  # the new pod's first cycle
    assert _snapshot_names(release) == ["alpha.0"]
    assert third_pod not in (first_pod, second_pod)


def test_reinstall_on_kept_volumes_mounts_the_existing_volume(release: Release) -> None:
    topic = "e2e-reinstall"
    sink_dir = _setup(release, topic)
    release.install(_values(topic, 3))
    release.wait_ready()
    sent = produce(release, topic, "r", 25)
    assert wait_for_sink(sink_dir, topic, SINK, 25) == sent
    backup_now(release)
    backup_now(release)
    listed = release.kcb_json("snapshots", "list")
    assert [s["name"] for s in listed] == ["alpha.0", "alpha.1"]
    target = release.volumes / "backup-target"
    config = sorted(p.name for p in target.iterdir() if not p.is_dir())
    before = {p: p.read_bytes() for p in target.iterdir() if p.is_file()}

    release.uninstall()
    claims = release.kubectl("get", "pvc", "-o", "name").stdout.split()
    assert f"persistentvolumeclaim/{release.name}-data" in claims  # helm kept the data PVC
    release.install(_values(topic, 3))
    release.wait_ready()
    backup_now(release)
    names = _snapshot_names(release)
    assert names == ["alpha.0", "alpha.1", "alpha.2"]  # the earlier two, one rotation on
    assert sorted(p.name for p in target.iterdir() if not p.is_dir()) == config
    assert {p: p.read_bytes() for p in before} == before  # the volume config untouched
    supervisor = release.log_events()
    mounted = [e for e in supervisor if e.get("event") == "volume.mounted"]
    assert mounted and all(e["initialised"] is False for e in mounted)
