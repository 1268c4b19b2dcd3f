"""Exact restores from envelope files on the real broker and Connect worker: 100,000 records
over 3 partitions (keys, null keys, binary values, tombstones, repeated and binary headers,
timestamps) sunk by Connect with sinkFormat envelope and restored into a new topic come back
record by record (partition, order, key, value, headers, timestamp); a compacted topic restored
by the runbook from its files and its metadata file keeps its configs and its latest value per
key, and two consumer groups end at their mapped offsets (--restore-groups)."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.kafka.admin import KafkaAdmin
from kafka_connect_backup.kafka.client import KafkaConnection
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata, write_metadata
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of
from kafka_connect_backup.restore.cli import main as restore
from kafka_connect_backup.supervisor.offsets import record_at_stop
from kafka_stack import Broker, ConnectWorker, wait_running
from supervisor_helpers import delete_connectors, make_config, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
Row = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]], int]


def _record(
    i: int, keyed: bool = False
) -> tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
    partition = i % 3
    # A compacted topic refuses records without a key.
    key = None if i % 17 == 0 and not keyed else b"k-%d" % (i % 4000)
    value = None if i % 23 == 0 else bytes([i % 256, 0, 255]) + os.urandom(12)
    choices: list[list[tuple[str, bytes | None]]] = [
        [],
        [("h", b"a")],
        [("h", b"a"), ("h", b"\x00\xff\xfe"), ("none", None)],
        [("trace", "é😀".encode())],
    ]
    headers = choices[i % 4]
    return partition, key, value, headers


def _produce(bootstrap: str, topic: str, count: int, keyed: bool = False) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )
    errors: list[str] = []
    for i in range(count):
        partition, key, value, headers = _record(i, keyed)
        wire: list[tuple[str, str | bytes | None]] = list(headers)
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    partition=partition,
                    timestamp=T0 + i,
                    headers=wire,
                    on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
                )
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(120) == 0 and not errors, errors[:3]


def read_topic(bootstrap: str, topic: str) -> dict[int, list[Row]]:
    """Every record of every partition, in offset order: (offset, key, value, headers, ts)."""
    admin = KafkaAdmin(KafkaConnection(bootstrap))
    info = admin.describe(topic, configs=False)
    assert info is not None
    ends = {tp.partition: tp.offset for tp in admin.latest_offsets(topic, info.partitions)}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    found: dict[int, list[Row]] = {p: [] for p in range(info.partitions)}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(info.partitions)])
        done = {p for p, end in ends.items() if end == 0}

        def read() -> dict[int, int]:
            """One batch more; how many rows each partition has so far."""
            for message in consumer.consume(5000, timeout=2):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                raw: Any = message.headers() or []  # (name, bytes | None) pairs, in order
                headers = [(str(k), v) for k, v in raw]
                value = message.value()
                found[partition].append(
                    (offset, message.key(), value if not isinstance(value, str) else value.encode(),
                     headers, message.timestamp()[1])
                )  # fmt: skip
                if offset + 1 >= ends[partition]:
                    done.add(partition)
            return {p: len(rows) for p, rows in found.items()}

        # A bound, so that a partition short of its end offset fails and names itself.
        eventually(
            read,
            f"{topic}: every partition read up to its end offset {ends}",
            timeout=120,
            until=lambda _: len(done) == info.partitions,
            interval=0,
        )
    finally:
        consumer.close()
    return found


def _sink(config: Config, expected: int, timeout: float = 240) -> Path:
    """Declare the envelope connector and wait until its file holds `expected` lines."""
    period = period_of(datetime.now(UTC), config.sink_rotation)
    Reconciler(config, ConnectClient(config.connect.url)).reconcile(period)
    wait_running(config.connect.url, [connector_name(config.topics[0], config.sink_name)])
    path = (
        config.sink_path
        / f"{connector_name(config.topics[0], config.sink_name)}-{period}.envelope.sink"
    )
    eventually(
        lambda: path.read_bytes().count(b"\n") if path.exists() else 0,
        f"{expected} lines in {path}",
        timeout=timeout,
        until=lambda lines: lines >= expected,
        interval=1,
    )
    return path


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = restore(args, stdin=io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_100k_records_round_trip_exactly(
    kafka_broker: Broker,
    connect_worker: ConnectWorker,
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    count = 100_000
    tag = uuid.uuid4().hex[:6]
    source = create_topic(f"exact-src-{tag}", 3)
    sink = sink_name()
    config = make_config(
        topics=[source], sink=sink, sink_path=tmp_path, connect_url=connect_worker.url,
        bootstrap_servers=kafka_broker.bootstrap, sinkFormat="envelope",
    )  # fmt: skip
    try:
        _produce(kafka_broker.bootstrap, source, count)
        path = _sink(config, count)
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
    target = f"exact-dst-{tag}"
    code, out, err = _run(
        [target, kafka_broker.bootstrap, str(path), "--from", "1970-01-01", "--create-topic",
         "--partitions", "3", "--yes"]
    )  # fmt: skip
    assert code == 0, out + err
    assert "routing: each record into its own partition" in out
    assert f"delivered {count}, failed 0" in out, out
    before, after = (
        read_topic(kafka_broker.bootstrap, source),
        read_topic(kafka_broker.bootstrap, target),
    )
    assert sum(map(len, before.values())) == count
    for partition in range(3):
        assert len(after[partition]) == len(before[partition])
        for original, restored in zip(before[partition], after[partition], strict=True):
            # key, value (None: a tombstone), headers (order, repeats, None), timestamp;
            # the restored offsets are the originals' here (a fresh topic, nothing skipped).
            assert restored == original
    tombstones = sum(1 for rows in after.values() for row in rows if row[2] is None)
    null_keys = sum(1 for rows in after.values() for row in rows if row[1] is None)
    assert tombstones > 4000 and null_keys > 5000


def _latest_per_key(rows: dict[int, list[Row]]) -> dict[tuple[int, bytes], bytes | None]:
    latest: dict[tuple[int, bytes], bytes | None] = {}
    for partition, records in rows.items():
        for _offset, key, value, _headers, _ts in records:
            if key is not None:
                latest[(partition, key)] = value
    return latest


@pytest.mark.parametrize("lost", [False, True], ids=["topic-there", "topic-deleted"])
def test_runbook_restores_a_compacted_topic_and_its_groups(
    kafka_broker: Broker, connect_worker: ConnectWorker, tmp_path: Path, lost: bool
) -> None:
    """With the topic deleted (its groups' offsets gone with it), the runbook recreates it
    from the metadata file alone: partitions and cleanup.policy=compact."""
    count = 6000
    topic = f"exact-compact-{uuid.uuid4().hex[:6]}"
    admin = kafka_broker.admin()
    admin.create_topics(
        [NewTopic(topic, 3, 1, config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"})]
    )[topic].result(30)
    sink = sink_name()
    config = make_config(
        topics=[topic], sink=sink, sink_path=tmp_path, connect_url=connect_worker.url,
        bootstrap_servers=kafka_broker.bootstrap, sinkFormat="envelope",
    )  # fmt: skip
    try:
        _produce(kafka_broker.bootstrap, topic, count, keyed=True)
        _sink(config, count)
        saved: dict[str, dict[int, int]] = {
            "billing": {0: 1500, 1: 7, 2: 2000},
            "audit": {1: 1999},
        }
        for group, offsets in saved.items():
            admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(
                    group, [TopicPartition(topic, p, o) for p, o in offsets.items()])]
            )[group].result(30)  # fmt: skip
        # What a backup cycle writes while the connectors are stopped.
        assert record_at_stop(config) is not None
        before = read_topic(kafka_broker.bootstrap, topic)
        if lost:
            admin.delete_topics([topic])[topic].result(30)
            eventually(
                lambda: topic not in admin.list_topics(timeout=10).topics,
                f"{topic} deleted",
                timeout=60,
            )
        code, out, err = _run(
            [topic, kafka_broker.bootstrap, "--from", "1970-01-01", "--runbook",
             "--restore-groups", "--yes", "--force", "--connect-url", connect_worker.url,
             "--sink-name", sink, "--sink-path", str(tmp_path)]
        )  # fmt: skip
        assert code == 0, out + err
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
    if lost:
        assert "creating topic " + topic + ": 3 partitions, replication factor 1, configs " in out
    # The plan printed each mapping before anything ran, the step applied the same ones.
    assert out.count("group billing: saved offsets 0:1500, 1:7, 2:2000 -> restored offsets "
                     "0:1500, 1:7, 2:2000") == 2  # fmt: skip
    assert out.count("group audit: saved offsets 1:1999 -> restored offsets 1:1999") == 2
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["cleanup.policy"].value == "compact"
    after = read_topic(kafka_broker.bootstrap, topic)
    assert _latest_per_key(after) == _latest_per_key(before)
    assert [row[:4] for p in range(3) for row in after[p]] == [
        row[:4] for p in range(3) for row in before[p]
    ]
    kafka = KafkaAdmin(KafkaConnection(kafka_broker.bootstrap))
    for group, offsets in saved.items():
        assert kafka.group_offsets(group, topic) == offsets


def _switched_files(directory: Path, topic: str) -> None:
    """sinkFormat value -> envelope on March 10th: 30 value records, then 5 envelope records
    (offsets 30-34)."""
    stem = connector_name(topic, "bk")
    value = directory / f"{stem}-2026-03.sink"
    value.write_text(
        "".join(f'{{"seq":{i},"utcTime":"2026-03-01T00:00:{i:02d}Z"}}\n' for i in range(30))
    )
    envelope = directory / f"{stem}-2026-03.envelope.sink"
    envelope.write_text(
        "".join(
            json.dumps({"timestamp": 1773100800000 + i, "timestampType": "CreateTime",
                        "partition": 0, "offset": 30 + i, "key": None,
                        "value": json.dumps({"seq": 30 + i}), "headers": []}) + "\n"
            for i in range(5)
        )
    )  # fmt: skip
    os.utime(value, (1773100800, 1773100800))  # 2026-03-10T00:00Z, its last write
    os.utime(envelope, (1773964800, 1773964800))  # 2026-03-20T00:00Z


def test_a_restore_after_a_format_switch_replays_in_written_order(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """The 30 older value records are replayed before the 5 newer envelope records (before:
    the envelope ones first, exit 0)."""
    topic = f"switch-{uuid.uuid4().hex[:6]}"
    _switched_files(tmp_path, topic)
    code, out, err = _run(
        [topic, kafka_broker.bootstrap, str(tmp_path / "*.sink"), "2026-03-01", "--create-topic",
         "--partitions", "1", "--yes"]
    )  # fmt: skip
    assert code == 0, out + err
    assert "delivered 35, failed 0" in out
    rows = read_topic(kafka_broker.bootstrap, topic)[0]
    assert [json.loads(row[2] or b"")["seq"] for row in rows] == list(range(35))


def test_groups_are_restored_from_the_envelope_files_after_a_format_switch(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """--restore-groups over value and envelope files (before: refused whichever way it was
    asked): each group is mapped on the envelope records, which follow the value records; a
    group that had not read all the value records restarts from the first replayed record,
    and the plan says so."""
    topic = f"switchgrp-{uuid.uuid4().hex[:6]}"
    _switched_files(tmp_path, topic)
    saved = {"billing": {0: 32}, "lagging": {0: 10}}
    write_metadata(tmp_path, "bk", TopicMetadata(
        topic, datetime(2026, 3, 20, tzinfo=UTC), 1, 1, {}, saved
    ))  # fmt: skip
    admin = kafka_broker.admin()
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    code, out, err = _run(
        [topic, kafka_broker.bootstrap, str(tmp_path / "*.sink"), "--from", "2026-03-01",
         "--sink-name", "bk", "--sink-path", str(tmp_path), "--state-dir", str(tmp_path / "st"),
         "--step", "recreate-topic", "--step", "replay", "--step", "reset-offsets",
         "--restore-groups", "--yes", "--force"]
    )  # fmt: skip
    assert code == 0, out + err
    assert (
        "group billing: saved offsets 0:32 -> restored offsets 0:+2 (past the value records "
        "replayed before the envelope records on each partition, counted by the send)"
    ) in out
    assert "group lagging: saved offsets 0:10 -> restored offsets 0:+0 (past the value " in out
    assert (
        "; NOT COVERED: its saved offsets on partitions 0 are before the first envelope "
        "records (0:30), so value records it had not read (they carry no offsets) cannot be "
        "located: those partitions restart from the first replayed record (records it had "
        "read are read again)"
    ) in out
    assert "group billing: saved offsets 0:32 -> restored offsets 0:32\n" in out
    assert "group lagging: saved offsets 0:10 -> restored offsets 0:0; NOT COVERED" in out
    rows = read_topic(kafka_broker.bootstrap, topic)[0]
    assert [json.loads(row[2] or b"")["seq"] for row in rows] == list(range(35))
    kafka = KafkaAdmin(KafkaConnection(kafka_broker.bootstrap))
    assert kafka.group_offsets("billing", topic) == {0: 32}
    assert kafka.group_offsets("lagging", topic) == {0: 0}


def test_a_saved_config_the_cluster_refuses_is_found_by_the_plan_and_can_be_dropped(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """A metadata file saved by Kafka 3.x keeps message.format.version, which Kafka 4 does
    not know: before, the creation failed after the plan, with no way to leave it out."""
    topic = f"oldcfg-{uuid.uuid4().hex[:6]}"
    stem = connector_name(topic, "bk")
    envelope = tmp_path / f"{stem}-2026-03.envelope.sink"
    envelope.write_text(
        json.dumps({"timestamp": 1772323200000, "timestampType": "CreateTime", "partition": 0,
                    "offset": 0, "key": None, "value": "{}", "headers": []}) + "\n"
    )  # fmt: skip
    write_metadata(tmp_path, "bk", TopicMetadata(
        topic, datetime(2026, 3, 2, tzinfo=UTC), 1, 1,
        {"message.format.version": "3.0-IV1", "retention.ms": "12345678"},
    ))  # fmt: skip
    args = [topic, kafka_broker.bootstrap, str(envelope), "2026-03-01", "--create-topic", "--yes"]
    code, out, err = _run([*args, "--dry-run"])
    assert code == 0, out + err
    planned = (
        f"Kafka at {kafka_broker.bootstrap} would not create topic {topic} as planned (1 "
        "partition, replication factor 1, configs message.format.version=3.0-IV1, "
        "retention.ms=12345678): "
    )
    assert f"a real run refuses this: {planned}" in out
    code, out, err = _run(args)
    assert code == 2, out + err
    assert err.startswith(f"restore.py: error: {planned}")
    assert err.endswith(
        "; leave out each config it does not take with --drop-config KEY (repeatable; e.g. one "
        "an older Kafka version saved), or give --partitions / --replication-factor; nothing "
        "was changed\n"
    )
    assert "message.format.version" in err.removeprefix(f"restore.py: error: {planned}")
    admin = kafka_broker.admin()
    assert topic not in admin.list_topics(timeout=10).topics
    # The runbook's recreate-topic, the topic gone: the same check before its first step.
    step = [topic, kafka_broker.bootstrap, str(envelope), "--from", "2026-03-01",
            "--sink-name", "bk", "--sink-path", str(tmp_path), "--state-dir",
            str(tmp_path / "st"), "--step", "recreate-topic", "--yes", "--force"]  # fmt: skip
    code, out, err = _run([*step, "--dry-run"])
    assert code == 0 and f"a real run refuses this: {planned}" in out, out + err
    code, out, err = _run(step)
    assert code == 2 and err.startswith(f"restore.py: error: {planned}"), out + err
    assert "[1/1]" not in out
    assert topic not in admin.list_topics(timeout=10).topics
    code, out, err = _run([*args, "--drop-config", "message.format.version"])
    assert code == 0, out + err
    assert "delivered 1, failed 0" in out
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["retention.ms"].value == "12345678"
