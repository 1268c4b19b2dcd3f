"""Shared fixtures: the real local Kafka stack (scripts/kafka_stack.py), topic helpers, and the
Docker engine with the two project images (the images and e2e tiers).

The broker and the Connect worker are session-scoped (each takes seconds to start); tests get
isolation from fresh topic and connector names instead. The Docker fixtures start an engine
only when a test asks for one; the builds take minutes cold and seconds warm (Docker's layer
cache in /var/lib/docker).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from docker_engine import DockerEngine, build_local_bases, start_engine
from hypothesis_profiles import load_profile
from images import LOCAL_BASES, build_backup, build_connect
from kafka_stack import Broker, ConnectWorker, start_broker, start_connect

CONNECT_IMAGE = "kcb-test/connect:latest"
BACKUP_IMAGE = "kcb-test/backup:latest"

_counter = itertools.count()

load_profile()  # hypothesis: reproducible `ci` unless KCB_HYPOTHESIS_PROFILE says otherwise


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kafka-stack")


@pytest.fixture(scope="session")
def kafka_broker(stack_dir: Path) -> Iterator[Broker]:
    broker = start_broker(stack_dir / "broker")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def connect_worker(kafka_broker: Broker, stack_dir: Path) -> Iterator[ConnectWorker]:
    worker = start_connect(stack_dir / "connect", kafka_broker.bootstrap)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def own_worker(kafka_broker: Broker, tmp_path: Path) -> Iterator[ConnectWorker]:
    """A Connect worker this test may stop or restart without disturbing the shared one."""
    worker = start_connect(tmp_path / "connect", kafka_broker.bootstrap)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def create_topic(kafka_broker: Broker) -> Callable[..., str]:
    return kafka_broker.create_topic


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest, create_topic: Callable[..., str]) -> str:
    """A fresh single-partition topic named after the test."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60].strip("-")
    return create_topic(f"{base}-{os.getpid()}-{next(_counter)}", 1)


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """A test that configures structlog (e.g. into a buffer) must not leak it into the next."""
    yield
    structlog.reset_defaults()


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
    build_connect(docker_engine, CONNECT_IMAGE, LOCAL_BASES)
    return CONNECT_IMAGE


@pytest.fixture(scope="session")
def backup_image(docker_engine: DockerEngine, local_bases: None) -> str:
    build_backup(docker_engine, BACKUP_IMAGE, LOCAL_BASES)
    return BACKUP_IMAGE
