"""Helpers for tests that talk to the real broker and Connect worker."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafka_connect_backup.config import SinkRotation
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of, sink_file
from kafka_stack import KafkaSettings, run_kafka_tool
from waiting import eventually

_counter = itertools.count()


def produce_json(
    bootstrap: str,
    topic: str,
    records: list[dict[str, object]],
    key: str | None = None,
    *,
    settings: KafkaSettings | None = None,
) -> list[str]:
    """Produce records as JSON strings (delivery-confirmed); returns the exact lines sent.
    `settings`: a secured broker's client settings (SecureBroker.client_settings)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, **(settings or {}), "enable.idempotence": True}
    )
    lines = [json.dumps(record, separators=(",", ":")) for record in records]
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for line in lines:
        producer.produce(topic, line.encode(), key=key, on_delivery=delivered)
        producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0 and not failures, f"undelivered: {remaining}, errors: {failures[:3]}"
    return lines


def consume_all(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 60,
    *,
    settings: KafkaSettings | None = None,
) -> list[tuple[bytes | None, bytes | None]]:
    """Read a topic from the beginning until `expected` records arrived (or timeout).
    `settings`: a secured broker's client settings (SecureBroker.client_settings)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            **(settings or {}),
            "group.id": f"test-reader-{os.getpid()}-{next(_counter)}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[tuple[bytes | None, bytes | None]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1):
                if message.error() is None:
                    records.append((message.key(), message.value()))
        # Give a last chance to over-delivery to show up, so "exactly N" is really checked.
        for message in consumer.consume(1000, timeout=1):
            if message.error() is None:
                records.append((message.key(), message.value()))
    finally:
        consumer.close()
    return records


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for_lines(files: Path | list[Path], expected: int, timeout: float = 60) -> list[str]:
    """Poll sink files until together they hold `expected` lines, then a short grace so an
    over-delivery (duplicates) shows up too; returns their lines, file after file."""
    paths = [files] if isinstance(files, Path) else files

    def lines() -> list[str]:
        return [line for path in paths for line in read_lines(path)]

    eventually(
        lines,
        f"{expected} lines in {[str(p) for p in paths]}",
        timeout=timeout,
        until=lambda found: len(found) >= expected,
    )
    time.sleep(1.0)
    return lines()


def put_connector(connect_url: str, name: str, config: dict[str, str]) -> None:
    response = requests.put(f"{connect_url}/connectors/{name}/config", json=config, timeout=30)
    assert response.status_code in (200, 201), response.text


def stop_connector(url: str, name: str) -> None:
    """PUT /stop, then wait until the connector is STOPPED with no tasks left."""
    response = requests.put(f"{url}/connectors/{name}/stop", timeout=60)
    assert response.status_code in (202, 204), response.text
    eventually(
        lambda: requests.get(f"{url}/connectors/{name}/status", timeout=10).json(),
        f"{name} STOPPED with no tasks",
        timeout=30,
        until=lambda status: status["connector"]["state"] == "STOPPED" and not status["tasks"],
    )


def start_file_sink(
    connect_url: str,
    create_topic: Callable[..., str],
    tmp_path: Path,
    sink_prefix: str,
    topic_prefix: str,
    partitions: int,
) -> tuple[str, str, Path, str, Path]:
    """A fresh topic of `partitions` and its FileStreamSink connector writing this month's
    file: (sink name, topic, sink dir, connector, live file)."""
    sink = f"{sink_prefix}-{uuid.uuid4().hex[:6]}"
    topic = create_topic(f"{topic_prefix}-{uuid.uuid4().hex[:8]}", partitions)
    sink_path = tmp_path / "filesink"
    sink_path.mkdir()
    name = connector_name(topic, sink)
    live = sink_file(sink_path, topic, sink, period_of(datetime.now(UTC), SinkRotation.MONTHLY))
    put_connector(
        connect_url,
        name,
        {"connector.class": "FileStreamSink", "tasks.max": "1", "topics": topic, "file": str(live)},
    )
    return sink, topic, sink_path, name, live


def end_offsets(admin: object, topic: str, partitions: int) -> list[int]:
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    request = {TopicPartition(topic, p): latest for p in range(partitions)}
    results = admin.list_offsets(request)  # type: ignore[attr-defined]
    return [results[tp].result(30).offset for tp in sorted(request, key=lambda t: t.partition)]


def wait_for_first_record(
    admin: object, topic: str, sender: subprocess.Popen[str] | None = None
) -> None:
    """Until partition 0 of `topic` holds a record (a restore under way has sent one); fails
    at once when `sender`, the process expected to send it, has ended."""

    def ends() -> list[int]:
        assert sender is None or sender.poll() is None, sender and sender.communicate()
        return end_offsets(admin, topic, 1)

    eventually(ends, f"a record in {topic}", timeout=120, until=lambda e: e != [0], interval=0.05)


@contextmanager
def producers_throttled(bootstrap: str, bytes_per_second: int) -> Iterator[None]:
    """Cap every librdkafka producer (default client.id `rdkafka`) with a broker quota, so a
    send lasts long enough for a test to act in the middle of it on however fast a machine."""

    def configure(*change: str) -> None:
        result = run_kafka_tool(
            "kafka.admin.ConfigCommand",
            [
                "--bootstrap-server", bootstrap, "--alter", "--entity-type", "clients",
                "--entity-name", "rdkafka", *change,
            ],
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()

    configure("--add-config", f"producer_byte_rate={bytes_per_second}")
    try:
        yield
    finally:
        configure("--delete-config", "producer_byte_rate")


def write_sink(path: Path, count: int) -> Path:
    start = datetime(2021, 1, 19, 15, tzinfo=UTC).timestamp()
    lines = [
        json.dumps({"seq": i, "utcTime": datetime.fromtimestamp(start + i, UTC).isoformat()})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
