"""Images tier fixtures: a Docker engine (started here when none runs), the local stand-in base
images, and the two project images built on them. Everything is session-scoped: the builds take
minutes cold and seconds warm (Docker's layer cache in /var/lib/docker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from docker_engine import (
    LOCAL_DEBIAN,
    LOCAL_JRE,
    LOCAL_MAVEN,
    ROOT,
    DockerEngine,
    build_local_bases,
    context_tar,
    start_engine,
)

CONNECT_IMAGE = "kcb-test/connect:latest"
BACKUP_IMAGE = "kcb-test/backup:latest"
BACKUP_CONTEXT = (
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "images/backup/Dockerfile",
    "images/backup/config.example.yaml",
    "images/backup/src",
    "scripts/restore.py",
)
CONNECT_UID = 1000  # the image's non-root user


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    # Ryuk (testcontainers' reaper) is an image from a registry we cannot reach; the fixture
    # removes this session's containers itself.
    testcontainers_config.ryuk_disabled = True
    engine = start_engine()
    engine.remove_orphans()
    try:
        yield engine
    finally:
        engine.remove_containers(f"{LABEL_SESSION_ID}={SESSION_ID}")
        engine.stop()


@pytest.fixture(scope="session")
def local_bases(docker_engine: DockerEngine) -> None:
    build_local_bases(docker_engine)


@pytest.fixture(scope="session")
def connect_image(docker_engine: DockerEngine, local_bases: None) -> str:
    docker_engine.build(
        CONNECT_IMAGE,
        context=ROOT / "images" / "connect",
        build_args={"MAVEN_IMAGE": LOCAL_MAVEN, "JRE_IMAGE": LOCAL_JRE},
    )
    return CONNECT_IMAGE


@pytest.fixture(scope="session")
def backup_image(docker_engine: DockerEngine, local_bases: None) -> str:
    docker_engine.build(
        BACKUP_IMAGE,
        context_tar=context_tar(BACKUP_CONTEXT),
        dockerfile="images/backup/Dockerfile",
        build_args={"BASE_IMAGE": LOCAL_DEBIAN},
    )
    return BACKUP_IMAGE
