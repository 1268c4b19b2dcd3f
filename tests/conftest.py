"""Shared fixtures: the real local Kafka stack (scripts/kafka_stack.py) and topic helpers.

The broker and the Connect worker are session-scoped (each takes seconds to start); tests get
isolation from fresh topic and connector names instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from kafka_stack import Broker, ConnectWorker, start_broker, start_connect

_counter = itertools.count()


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
