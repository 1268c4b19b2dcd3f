"""`backup.fuse.mode: devicePlugin` through the real runtime: the node advertises the FUSE
device plugin's extended resource (patched into its status: no real plugin runs here, so the
pod gets no /dev/fuse and runs no backup cycle), the chart is installed in that mode, and
inside the running containers the kernel's view of their capabilities is read back from
/proc/1/status: the supervisor holds exactly SYS_ADMIN (and the pod's fsGroup as a
supplementary group), the connect container nothing. What the cycle does to the Connect
user's real sink files is then done with those rights: link, create beside, rsync them as a
snapshot does; and what root's file rights would allow is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.release import Release
from e2e.scenario import PASSWORD, produce, wait_for_sink
from kube_cluster import NODE_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

RESOURCE = "kcb.example.com/fuse"
SINK = "file-sink"
# linux/capability.h
CAPABILITIES = {
    0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 2: "CAP_DAC_READ_SEARCH", 3: "CAP_FOWNER",
    4: "CAP_FSETID", 5: "CAP_KILL", 6: "CAP_SETGID", 7: "CAP_SETUID", 8: "CAP_SETPCAP",
    9: "CAP_LINUX_IMMUTABLE", 10: "CAP_NET_BIND_SERVICE", 11: "CAP_NET_BROADCAST",
    12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 14: "CAP_IPC_LOCK", 15: "CAP_IPC_OWNER",
    16: "CAP_SYS_MODULE", 17: "CAP_SYS_RAWIO", 18: "CAP_SYS_CHROOT", 19: "CAP_SYS_PTRACE",
    20: "CAP_SYS_PACCT", 21: "CAP_SYS_ADMIN", 22: "CAP_SYS_BOOT", 23: "CAP_SYS_NICE",
    24: "CAP_SYS_RESOURCE", 25: "CAP_SYS_TIME", 26: "CAP_SYS_TTY_CONFIG", 27: "CAP_MKNOD",
    28: "CAP_LEASE", 29: "CAP_AUDIT_WRITE", 30: "CAP_AUDIT_CONTROL", 31: "CAP_SETFCAP",
    32: "CAP_MAC_OVERRIDE", 33: "CAP_MAC_ADMIN", 34: "CAP_SYSLOG", 35: "CAP_WAKE_ALARM",
    36: "CAP_BLOCK_SUSPEND", 37: "CAP_AUDIT_READ", 38: "CAP_PERFMON", 39: "CAP_BPF",
    40: "CAP_CHECKPOINT_RESTORE",
}  # fmt: skip
SUPERVISOR_CAPABILITIES = {"CAP_SYS_ADMIN"}
FS_GROUP = "1000"  # podSecurityContext.fsGroup


def decode(mask: str) -> set[str]:
    value = int(mask, 16)
    names = {name for bit, name in CAPABILITIES.items() if value >> bit & 1}
    unknown = value & ~sum(1 << bit for bit in CAPABILITIES)
    assert not unknown, f"capability bits beyond the table: {unknown:#x}"
    return names


def process_status(release: Release, container: str) -> dict[str, str]:
    """/proc/1/status of a container (its entrypoint: tini, the JVM) as the kernel reports it."""
    text = release.exec("cat", "/proc/1/status", container=container).stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@pytest.fixture
def fuse_resource(release: Release) -> Iterator[str]:
    """The node advertises RESOURCE, as a FUSE device plugin would (node status capacity)."""
    path = "/status/capacity/" + RESOURCE.replace("/", "~1")

    def patch(op: dict[str, Any]) -> None:
        release.cluster.kubectl(
            "patch", "node", NODE_NAME, "--subresource=status", "--type=json",
            "-p", json.dumps([op]),
        )  # fmt: skip

    patch({"op": "add", "path": path, "value": "4"})
    try:
        yield RESOURCE
    finally:
        patch({"op": "remove", "path": path})


def test_device_plugin_mode_gives_the_supervisor_sys_admin_alone_and_connect_none(
    release: Release, fuse_resource: str
) -> None:
    topic = "device-plugin-events"
    data = release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret("kafka-backup-password", PASSWORD)
    release.broker.create_topic(topic)
    values = {
        "topicList": topic,
        "sinkName": SINK,
        # No /dev/fuse without a real plugin: keep the first cycle out of the test's way.
        "restartTimeout": "1d",
        "backup": {
            "enabled": True,
            "encryption": {"existingSecret": "kafka-backup-password"},
            "fuse": {"mode": "devicePlugin", "resourceName": fuse_resource},
        },
        "targetPvcName": "kafka-backup-nfs",
    }
    release.install(values)
    pod = release.wait_ready()

    # The scheduler counted the resource; only the supervisor asks for it.
    spec = {c["name"]: c for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]}
    assert spec["supervisor"]["resources"]["limits"][fuse_resource] == "1"
    assert all(fuse_resource not in (c.get("resources") or {}).get("limits", {})
               for name, c in spec.items() if name != "supervisor")  # fmt: skip
    assert spec["supervisor"]["securityContext"]["privileged"] is False

    supervisor = process_status(release, "supervisor")
    assert supervisor["Uid"].split()[0] == "0"
    for kind in ("CapEff", "CapPrm", "CapBnd"):
        assert decode(supervisor[kind]) == SUPERVISOR_CAPABILITIES, (kind, supervisor[kind])
    assert decode(supervisor["CapAmb"]) == set()
    assert FS_GROUP in supervisor["Groups"].split()

    connect = process_status(release, "connect")
    assert connect["Uid"].split()[0] == "1000"
    for kind in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert decode(connect[kind]) == set(), (kind, connect[kind])
    assert connect["NoNewPrivs"].strip() == "1"

    # The Connect user's own sink file, group-writable (umask 002) in its set-gid directory
    # (the sink-dir init container), handled as the cycle handles it with SYS_ADMIN alone:
    # hard-link it (staging), create beside it (compression), rsync it as a snapshot does.
    sent = produce(release, topic, "dp", 20)
    sink_dir = data / "filesink"
    assert wait_for_sink(sink_dir, topic, SINK, 20) == sent
    [sink_file] = sink_dir.glob(f"{topic}-{SINK}-*.sink")
    assert sink_file.stat().st_uid == 1000 and sink_dir.stat().st_uid == 1000
    assert sink_file.stat().st_mode & 0o777 == 0o664
    assert sink_dir.stat().st_mode & 0o7777 == 0o2775
    script = (
        "set -e; cd /data/filesink; f=$(ls {topic}-*.sink); "
        'ln "$f" .cap-probe-link; touch .cap-probe; mkdir -p /tmp/cap-probe; '
        'rsync -a --no-owner --no-group "$f" /tmp/cap-probe/; '
        'stat -c \'%s %Y\' "$f" /tmp/cap-probe/"$f"; stat -c %u /tmp/cap-probe/"$f"; '
        "rm .cap-probe-link .cap-probe"
    ).replace("{topic}", topic)
    done = release.exec("sh", "-c", script)
    original, copy, owner = done.stdout.split("\n")[:3]
    assert original == copy and owner == "0", done.stdout
    # And what was dropped stays dropped: root's file rights (keeping the owner needs CHOWN),
    # new device nodes (MKNOD).
    keep_owner = (
        f"cd /data/filesink && mkdir /tmp/cap-probe2 && rsync -a {topic}-*.sink /tmp/cap-probe2/"
    )
    kept = release.exec("sh", "-c", keep_owner, check=False)
    assert kept.returncode != 0 and "Operation not permitted" in kept.stderr, kept.stderr
    refused = release.exec("mknod", "/tmp/null2", "c", "1", "3", check=False)
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr
