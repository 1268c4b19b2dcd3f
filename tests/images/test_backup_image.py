"""The backup image: its tools run, and a real backup cycle in it (FUSE through `--device
/dev/fuse`, every capability dropped but SYS_ADMIN as in the chart's devicePlugin mode, not
privileged, the pod's fsGroup as a supplementary group) beside the Connect image leaves an
encrypted `alpha.0` whose plaintext equals the sink files."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from docker_engine import DockerEngine
from image_helpers import (
    connect_container,
    host_container,
    rest_ready,
    wait_until,
    worker_properties,
    writable_by,
)
from kafka_connect_backup.kafka.topic_metadata import read_metadata
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.sinkfiles import connector_name, metadata_name
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import Broker, free_port
from local_config import local_backup, local_config, write_config

pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]  # cold image builds take minutes

CONNECT_UID = 1000
SINK_PATH = "/data/filesink"  # the same path in both containers, as in the chart's pod
TARGET_DIR = "/mnt/backup_nfs_enc"
ENGINE_CONFIG = {"encfs": ".encfs6.xml", "gocryptfs": "gocryptfs.conf"}
HELPERS = Path(__file__).resolve().parents[2] / "charts/kafka-connect-backup/templates/_helpers.tpl"


def chart_fuse_capabilities() -> list[str]:
    """The supervisor's capabilities in the chart's devicePlugin mode (kcb.fuseCapabilities)."""
    text = HELPERS.read_text()
    body = text[text.index('define "kcb.fuseCapabilities"') :]
    match = re.search(r"toJson \(list ([^)]*)\)", body)
    assert match, "kcb.fuseCapabilities lost its list"
    return re.findall(r'"([A-Z_]+)"', match.group(1))


def run_in(engine: DockerEngine, image: str, script: str) -> str:
    return engine.docker("run", "--rm", image, "sh", "-c", script).stdout.decode()


def test_backup_image_ships_the_tools_the_supervisor_drives(
    docker_engine: DockerEngine, backup_image: str
) -> None:
    # Each command must exit 0 (`set -e`); its first output line is checked below.
    output = run_in(
        docker_engine,
        backup_image,
        "set -e; id -u; encfs --version 2>&1; gocryptfs -version; rsnapshot version;"
        " rsync --version | head -n1; fusermount3 --version 2>&1; tini --version;"
        " kcb --help | head -n1; restore.py --help | head -n1;"
        " command -v restore.py; command -v kcb",
    ).splitlines()
    assert output[0] == "0"  # root: mounting FUSE needs it (and only that: not privileged)
    assert output[1].startswith("encfs version 1.9")
    assert output[2].startswith("gocryptfs 2.")
    assert output[3].startswith("rsnapshot 1.4")
    assert output[4].startswith("rsync  version 3")
    assert output[5].startswith("fusermount3 version: 3")
    assert output[6].startswith("tini version 0.19")
    assert output[7].startswith("usage: kcb")
    assert output[8].lower().startswith("usage:")
    assert output[9:] == ["/usr/local/bin/restore.py", "/opt/kcb/bin/kcb"]
    entrypoint = docker_engine.docker(
        "image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", backup_image
    ).stdout.decode()
    assert entrypoint.split() == [
        '["/usr/bin/tini","--"]',
        '["kcb","supervise","--config","/etc/kcb/config.yaml"]',
    ]


def supervisor_config(
    topic: str, sink_name: str, connect_port: int, metrics_port: int, bootstrap: str, engine: str
) -> dict[str, Any]:
    """The pod's config with the container's paths."""
    return local_config(
        topics=[topic],
        sink_name=sink_name,
        sink_path=SINK_PATH,
        connect_url=f"http://127.0.0.1:{connect_port}",
        bootstrap_servers=bootstrap,
        metrics_port=metrics_port,
        backup=local_backup(
            password_file="/etc/encrypt-key/password",
            target_dir=TARGET_DIR,
            mount_point="/mnt/backup",
            work_dir="/tmp/kcb",
            retention=3,
            engine=engine,
            require_target_mount=True,  # the bind mount is a mount point in the container
        ),
        restartTimeout="1d",  # cycles only on demand (kcb backup-now) in this test
        reconcileIntervalSeconds=1,
        connect={"stopTimeoutSeconds": 60},
        logLevel="INFO",
    )


@contextmanager
def decrypted(engine: str, target: Path, plain: Path, password: str) -> Iterator[Path]:
    """The host's own encfs/gocryptfs, read-only: an independent check of the ciphertext."""
    plain.mkdir()
    command = {
        "encfs": ["encfs", "-S", "-o", "ro", str(target), str(plain)],
        "gocryptfs": ["gocryptfs", "-q", "-ro", str(target), str(plain)],
    }[engine]
    subprocess.run(command, input=f"{password}\n".encode(), check=True, timeout=60)
    try:
        yield plain
    finally:
        subprocess.run(["fusermount3", "-u", str(plain)], check=True, timeout=60)


def connector_running(url: str) -> bool:
    try:
        status = requests.get(url, timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    tasks = status.get("tasks", [])
    states = [status.get("connector", {}).get("state")] + [t.get("state") for t in tasks]
    return bool(tasks) and all(state == "RUNNING" for state in states)


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_backup_cycle_in_the_image_snapshots_the_sink_files_encrypted(
    engine: str,
    docker_engine: DockerEngine,
    connect_image: str,
    backup_image: str,
    kafka_broker: Broker,
    unique_topic: str,
    tmp_path: Path,
) -> None:
    sink_dir = writable_by(tmp_path / "sink", CONNECT_UID)
    sink_dir.chmod(0o2775)  # as the chart's sink-dir init container leaves it
    target = tmp_path / "target"
    target.mkdir()
    password = secrets.token_urlsafe(24)
    password_file = tmp_path / "password"
    password_file.write_text(password + "\n")
    connect_port, metrics_port = free_port(), free_port()
    sink_name = f"img-{engine}"
    config = write_config(
        tmp_path / "config.yaml",
        supervisor_config(
            unique_topic, sink_name, connect_port, metrics_port, kafka_broker.bootstrap, engine
        ),
    )
    properties = worker_properties(
        tmp_path / "worker.properties", kafka_broker.bootstrap, connect_port
    )
    name = connector_name(unique_topic, sink_name)
    supervisor = (
        # FUSE rights only: the device and the chart's devicePlugin capabilities (SYS_ADMIN),
        # everything else dropped, never --privileged; the pod's fsGroup as Kubernetes adds it.
        host_container(
            backup_image,
            devices=["/dev/fuse:/dev/fuse:rwm"],
            cap_drop=["ALL"],
            cap_add=chart_fuse_capabilities(),
            group_add=[str(CONNECT_UID)],
        )
        .with_volume_mapping(str(sink_dir), SINK_PATH, "rw")
        .with_volume_mapping(str(target), TARGET_DIR, "rw")
        .with_volume_mapping(str(password_file), "/etc/encrypt-key/password", "ro")
        .with_volume_mapping(str(config), "/etc/kcb/config.yaml", "ro")
    )

    with connect_container(connect_image, properties, sink_dir, SINK_PATH) as connect:
        connect_url = f"http://127.0.0.1:{connect_port}"
        wait_until(rest_ready(f"{connect_url}/connectors"), connect, "Connect REST")
        with supervisor:
            wait_until(
                rest_ready(f"http://127.0.0.1:{metrics_port}/healthz"), supervisor, "supervisor"
            )
            # The supervisor owns the connector: it creates it without help.
            status_url = f"{connect_url}/connectors/{name}/status"
            wait_until(lambda: connector_running(status_url), supervisor, "connector running")
            # The file the supervisor declared, on its own clock (not the test's).
            declared = requests.get(f"{connect_url}/connectors/{name}/config", timeout=10).json()
            inside = Path(declared["file"])
            assert inside.parent == Path(SINK_PATH), declared
            sink_on_host = sink_dir / inside.name
            before = produce_json(
                kafka_broker.bootstrap,
                unique_topic,
                [{"id": i, "utcTime": f"2026-11-01T10:00:{i % 60:02d}Z"} for i in range(300)],
            )
            assert wait_for_lines(sink_on_host, len(before)) == before

            # `kcb backup-now` in the container asks the running supervisor for a cycle.
            wrapped = supervisor.get_wrapped_container()
            wrapped.reload()
            assert wrapped.status == "running", wrapped.logs().decode(errors="replace")[-4000:]
            exit_code, (stdout, stderr) = wrapped.exec_run(
                ["kcb", "backup-now", "--timeout", "600", "--json"], demux=True
            )
            assert exit_code == 0, (stdout or b"").decode() + (stderr or b"").decode()
            answer = json.loads(stdout)
            assert answer["ok"] is True, answer
            assert answer["stopped"] == [name]
            assert answer["resumed"] == [name]

            # Resumed: what is produced after the cycle lands in the same file, once.
            after = produce_json(
                kafka_broker.bootstrap,
                unique_topic,
                [{"id": i, "utcTime": f"2026-11-01T11:00:{i % 60:02d}Z"} for i in range(300, 400)],
            )
            assert wait_for_lines(sink_on_host, 400) == before + after

            wrapped.reload()
            host_config = wrapped.attrs["HostConfig"]
            assert host_config["Privileged"] is False
            assert host_config["CapDrop"] == ["ALL"]
            assert host_config["CapAdd"] == ["SYS_ADMIN"]
            _, status = wrapped.exec_run(["cat", "/proc/1/status"])
            kernel = dict(line.split(":", 1) for line in status.decode().splitlines())
            assert kernel["CapEff"].strip() == f"{1 << 21:016x}"  # CAP_SYS_ADMIN alone
            assert str(CONNECT_UID) in kernel["Groups"].split()
            wrapped.stop(timeout=60)  # SIGTERM through tini: a clean exit, FUSE unmounted
            assert wrapped.wait(timeout=90)["StatusCode"] == 0, wrapped.logs().decode()[-3000:]
            logs = wrapped.logs().decode(errors="replace")
    assert password not in logs

    # Ciphertext only on the target: the engine's config, no plaintext name or content.
    assert (target / ENGINE_CONFIG[engine]).is_file()
    stored = [p for p in target.rglob("*") if p.is_file()]
    assert len(stored) > 1
    for path in stored:
        relative = str(path.relative_to(target))
        assert unique_topic not in relative and ".sink" not in relative and "alpha" not in relative
        assert before[0].encode() not in path.read_bytes()

    with decrypted(engine, target, tmp_path / "plain", password) as plain:
        snapshots = sorted(p.name for p in plain.iterdir() if p.name.startswith("alpha."))
        assert snapshots == ["alpha.0"]
        files = {
            p.name: p.read_text()
            for p in (plain / "alpha.0" / "localhost").rglob("*")
            if p.is_file()
        }
        # Beside localhost/: the completeness marker written after the snapshot's verification.
        assert json.loads((plain / "alpha.0" / MARKER_NAME).read_text())["verified"] is True
        # And the topic's metadata file, written while the connector was stopped.
        metadata = read_metadata(
            plain / "alpha.0" / "localhost" / metadata_name(unique_topic, sink_name)
        )
    assert (metadata.topic, metadata.partitions) == (unique_topic, 1)
    assert metadata.groups[f"connect-{name}"] == {0: len(before)}  # the sink's commit at the stop
    assert files.pop(metadata_name(unique_topic, sink_name))
    assert files == {sink_on_host.name: "".join(line + "\n" for line in before)}


def test_backup_image_uses_the_toolchains_uv_version() -> None:
    # The image resolves uv.lock with the same uv as `make setup`, so both install the same set.
    root = Path(__file__).parents[2]
    dockerfile = (root / "images" / "backup" / "Dockerfile").read_text()
    setup = (root / "scripts" / "setup" / "python.sh").read_text()
    in_image = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.M)
    in_setup = re.search(r"^UV_VERSION=(\S+)$", setup, re.M)
    assert in_image and in_setup
    assert in_image.group(1) == in_setup.group(1)
