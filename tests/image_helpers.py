"""Helpers of the images tier: host directories for container users, Connect worker settings,
waiting on a container with its log in the failure message."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from testcontainers.core.container import DockerContainer

from docker_engine import OWNER_LABEL
from waiting import eventually


def writable_by(path: Path, uid: int) -> Path:
    """Make a host directory writable by a container user (we run as root in CI)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    else:
        path.chmod(0o777)
    return path


def worker_properties(path: Path, bootstrap: str, rest_port: int) -> Path:
    """Worker settings for the Connect container (host network: the broker is on loopback)."""
    path.write_text(
        "\n".join(
            [
                f"bootstrap.servers={bootstrap}",
                f"listeners=http://127.0.0.1:{rest_port}",
                "plugin.path=/opt/kafka/plugins",
                "key.converter=org.apache.kafka.connect.storage.StringConverter",
                "value.converter=org.apache.kafka.connect.storage.StringConverter",
                "key.converter.schemas.enable=false",
                "value.converter.schemas.enable=false",
                "offset.storage.file.filename=/data/connect.offsets",
                "offset.flush.interval.ms=10000",
                "consumer.fetch.max.wait.ms=100",
                "",
            ]
        )
    )
    return path


def host_container(image: str, **kwargs: Any) -> DockerContainer:
    """A container on host networking (the engine has no bridge), labelled with its owner."""
    labels = {OWNER_LABEL: str(os.getpid())}
    return DockerContainer(image).with_kwargs(network_mode="host", labels=labels, **kwargs)


def connect_container(
    image: str, properties: Path, sink_dir: Path, mount_at: str
) -> DockerContainer:
    return (
        host_container(image)
        .with_volume_mapping(str(properties), "/etc/kafka-connect/worker.properties", "ro")
        .with_volume_mapping(str(sink_dir), mount_at, "rw")
    )


def wait_until(
    check: Callable[[], bool], container: DockerContainer, what: str, timeout: float = 120
) -> None:
    """Poll `check`; fail early with the container's log if it exits. Ready means the check
    passes while the container still runs: on host networking a port it failed to bind may be
    answered by another process."""

    def ready() -> bool:
        passed = check()
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status not in ("created", "running"):
            logs = wrapped.logs().decode(errors="replace")[-4000:]
            pytest.fail(f"{what}: container {wrapped.status}:\n{logs}")
        return passed

    try:
        eventually(ready, f"{what}: ready", timeout=timeout, interval=0.5)
    except AssertionError as exc:
        logs = container.get_wrapped_container().logs().decode(errors="replace")[-4000:]
        pytest.fail(f"{exc}:\n{logs}")


def rest_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    return check
