"""sinkFormat envelope on the real broker and Connect worker: the supervisor's reconciler
declares the connector (ByteArrayConverters and the envelope transform from plugin.path), and
every record, with its key, binary value, repeated and binary headers, tombstone, null key,
timestamp, partition and offset, lands in `{topic}-{sinkName}-{period}.envelope.sink` as
exactly the expected JSON line; switching the format of a running connector starts the other
format's file from the next record and leaves the first file as it was."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from kafka_connect_backup.config import Config, SinkFormat
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.kafka.envelope import FIELDS, encode_bytes, parse_line
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of, sink_file
from kafka_helpers import produce_json, read_lines, wait_for_lines
from kafka_stack import Broker, ConnectWorker, wait_running
from supervisor_helpers import delete_connectors, make_config, sink_name

pytestmark = pytest.mark.integration

PARTITIONS = 3
Headers = list[tuple[str, bytes | None]]
# (partition, key, value, headers): every kind of byte string the envelope must keep.
RECORDS: list[tuple[int, bytes | None, bytes | None, Headers]] = [
    (0, b"order-1", b'{"id":1,"utcTime":"2026-11-02T08:00:00Z"}', [("trace", b"t1")]),
    (1, b"bin-\xff", bytes(range(256)), [("h", b"a"), ("bin", b"\x00\xff\xfe"), ("h", b"b")]),
    (2, None, b"value with a null key", []),
    (0, b"order-1", None, [("reason", b"deleted")]),  # a tombstone
    (1, "ключ 😀".encode(), 'quote " backslash \\ nl \n tab \t nul \0 é 😀'.encode(), []),
    (2, b"", b"", [("empty", b""), ("none", None), ("h", "😀".encode()), ("h", b"\xc0\x80")]),
    (0, b"k\xed\xa0\x80", b"\xe2\x82", [("trace", b"t2"), ("trace", b"t2")]),
]
BASE_TIMESTAMP = 1_767_225_600_000  # 2026-01-01T00:00:00Z, in ms


def _produce(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Produce RECORDS (delivery-confirmed); the envelope line each one should become."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    delivered: list[Message] = []
    errors: list[str] = []

    def report(err: object, message: Message) -> None:
        (errors.append(str(err)) if err is not None else delivered.append(message))

    for index, (partition, key, value, headers) in enumerate(RECORDS):
        wire: list[tuple[str, str | bytes | None]] = list(headers)
        producer.produce(
            topic,
            value,
            key,
            partition=partition,
            timestamp=BASE_TIMESTAMP + index,
            headers=wire,
            on_delivery=report,
        )
    assert producer.flush(60) == 0 and not errors, errors
    expected = []
    for message in delivered:
        index = message.timestamp()[1] - BASE_TIMESTAMP
        partition, key, value, headers = RECORDS[index]
        assert message.partition() == partition
        expected.append(
            {
                "timestamp": BASE_TIMESTAMP + index,
                "timestampType": "CreateTime",
                "partition": partition,
                "offset": message.offset(),
                "key": encode_bytes(key),
                "value": encode_bytes(value),
                "headers": [[name, encode_bytes(data)] for name, data in headers],
            }
        )
    return expected


def _config(topic: str, sink: str, sink_path: Path, url: str, fmt: SinkFormat) -> Config:
    return make_config(
        topics=[topic], sink=sink, sink_path=sink_path, connect_url=url, sinkFormat=fmt.value
    )


def _declare(config: Config, period: str) -> None:
    """What the supervisor does each reconcile: create or update the connector, resume it."""
    Reconciler(config, ConnectClient(config.connect.url)).reconcile(period)
    wait_running(config.connect.url, [connector_name(config.topics[0], config.sink_name)])


def test_envelope_lines_hold_every_part_of_every_record(
    kafka_broker: Broker,
    connect_worker: ConnectWorker,
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = create_topic(f"envelope-{os.getpid()}-{tmp_path.name[-12:]}", PARTITIONS)
    sink = sink_name()
    config = _config(topic, sink, tmp_path, connect_worker.url, SinkFormat.ENVELOPE)
    period = period_of(datetime.now(UTC), config.sink_rotation)
    path = sink_file(tmp_path, topic, sink, period, SinkFormat.ENVELOPE)
    try:
        _declare(config, period)
        expected = _produce(kafka_broker.bootstrap, topic)
        lines = wait_for_lines([path], len(expected))
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
    assert not sink_file(tmp_path, topic, sink, period).exists()  # no value-format file
    assert path.name.endswith(".envelope.sink")
    parsed = [json.loads(line) for line in lines]
    assert all(tuple(line) == FIELDS for line in parsed)  # every field, in order
    assert len(parsed) == len(expected) == len(RECORDS)
    by_position = {(e["partition"], e["offset"]): e for e in expected}
    for line in parsed:
        assert line == by_position[(line["partition"], line["offset"])]
    for partition in range(PARTITIONS):  # each partition in offset order
        offsets = [line["offset"] for line in parsed if line["partition"] == partition]
        assert offsets == sorted(offsets) and len(offsets) == sum(
            1 for r in RECORDS if r[0] == partition
        )
    # The bytes read back exactly (the parser part 4's restore builds on).
    records = {(r.partition, r.offset): r for r in map(parse_line, lines)}
    for (partition, offset), line in by_position.items():
        index = line["timestamp"] - BASE_TIMESTAMP
        _, key, value, headers = RECORDS[index]
        record = records[(partition, offset)]
        assert (record.key, record.value, list(record.headers)) == (key, value, headers)
    tombstone = next(line for line in parsed if line["value"] is None)
    assert tombstone["key"] == "order-1" and tombstone["headers"] == [["reason", "deleted"]]
    assert '"value":null' in next(line for line in lines if '"reason"' in line)


def _records(prefix: str, count: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}-{i}", "utcTime": "2026-11-02T08:00:00Z"} for i in range(count)]


def test_switching_the_format_starts_a_new_file_and_leaves_the_old_one_untouched(
    kafka_broker: Broker, connect_worker: ConnectWorker, unique_topic: str, tmp_path: Path
) -> None:
    sink = sink_name()
    url = connect_worker.url
    value_config = _config(unique_topic, sink, tmp_path, url, SinkFormat.VALUE)
    envelope_config = _config(unique_topic, sink, tmp_path, url, SinkFormat.ENVELOPE)
    period = period_of(datetime.now(UTC), value_config.sink_rotation)
    value_file = sink_file(tmp_path, unique_topic, sink, period)
    envelope_file = sink_file(tmp_path, unique_topic, sink, period, SinkFormat.ENVELOPE)
    try:
        _declare(value_config, period)
        first = produce_json(kafka_broker.bootstrap, unique_topic, _records("a", 50))
        assert wait_for_lines([value_file], 50) == first
        before = (value_file.read_bytes(), value_file.stat().st_mtime_ns)

        _declare(envelope_config, period)  # a running release switched to envelope
        second = produce_json(kafka_broker.bootstrap, unique_topic, _records("b", 40))
        enveloped = wait_for_lines([envelope_file], 40)
        assert (value_file.read_bytes(), value_file.stat().st_mtime_ns) == before
        records = [parse_line(line) for line in enveloped]
        # From the next record on: nothing lost, nothing written twice.
        assert [r.value for r in records] == [line.encode() for line in second]
        assert [r.offset for r in records] == list(range(50, 90))
        envelope_bytes = envelope_file.read_bytes()

        _declare(value_config, period)  # and back: value lines go to the value file only
        third = produce_json(kafka_broker.bootstrap, unique_topic, _records("c", 30))
        assert wait_for_lines([value_file], 80) == first + third
        assert envelope_file.read_bytes() == envelope_bytes
    finally:
        delete_connectors(url, f"-{sink}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [value_file.name, envelope_file.name]
    )
    assert read_lines(envelope_file) == enveloped
