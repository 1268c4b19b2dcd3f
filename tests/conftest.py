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
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from docker_engine import DockerEngine, build_local_bases, start_engine
from hypothesis_profiles import load_profile
from images import LOCAL_BASES, build_backup, build_connect
from kafka_stack import (
    AclSpec,
    Broker,
    ConnectWorker,
    SecureBroker,
    start_broker,
    start_connect,
    start_secure_connect,
)

CONNECT_IMAGE = "kcb-test/connect:latest"
BACKUP_IMAGE = "kcb-test/backup:latest"

_counter = itertools.count()

load_profile()  # hypothesis: reproducible `ci` unless KCB_HYPOTHESIS_PROFILE says otherwise

# A shell without job control starts a background `make test` with SIGINT ignored, and every
# child inherits that: the tests that press Ctrl-C on restore.py, the supervisor or the demo
# would find it ignored. Restore the default so children start with Python's KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """The secured broker (kafka_stack.SecureBroker): SASL_SSL and mutual TLS only, ACLs
    enforced. Started on first use only; tests isolate themselves by fresh names."""
    broker = SecureBroker("secure-broker", tmp_path_factory.mktemp("secure-broker")).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def secure_topic(request: pytest.FixtureRequest, secure_broker: SecureBroker) -> str:
    """A fresh single-partition topic on the secured broker, named after the test."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60].strip("-")
    return secure_broker.create_topic(f"{base}-{os.getpid()}-{next(_counter)}", 1)


@pytest.fixture
def grant(secure_broker: SecureBroker) -> Iterator[Callable[[str, list[AclSpec]], None]]:
    """grant(principal, acls) on the secured broker, effective on return; revoked after the
    test."""
    granted: list[tuple[str, list[AclSpec]]] = []

    def _grant(principal: str, acls: list[AclSpec]) -> None:
        secure_broker.grant(principal, acls)
        granted.append((principal, acls))

    yield _grant
    for principal, acls in reversed(granted):
        secure_broker.revoke(principal, acls)


@pytest.fixture(scope="session")
def secure_connect(
    secure_broker: SecureBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectWorker]:
    """A Connect worker on the secured broker as User:backup over SCRAM-SHA-512, configured
    as the chart renders it (credentials through DirectoryConfigProvider). It needs no ACL of
    its own; grant each sink's (kafka_stack.sink_acls) before creating the connector."""
    worker = start_secure_connect(tmp_path_factory.mktemp("secure-connect"), secure_broker)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def secure_worker(
    secure_broker: SecureBroker, tmp_path: Path
) -> Iterator[Callable[..., ConnectWorker]]:
    """Start a Connect worker of this test's own on the secured broker:
    secure_worker(user="backup", mode="scram-sha-512", extra=..., jvm_options=...);
    stopped after the test."""
    workers: list[ConnectWorker] = []

    def _start(user: str = "backup", mode: str = "scram-sha-512", **kwargs: Any) -> ConnectWorker:
        work_dir = tmp_path / f"connect-{mode}-{user}-{len(workers)}"
        worker = start_secure_connect(work_dir, secure_broker, user, mode, **kwargs)
        workers.append(worker)
        return worker

    yield _start
    for worker in workers:
        worker.stop()


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
