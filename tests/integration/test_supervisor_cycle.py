"""The backup cycle against the real broker, Connect worker, encfs and rsnapshot: connectors
stopped (tasks gone, files still), snapshot taken, connectors resumed, and every record produced
during the cycle in the file afterwards exactly once; a month change starts a new file and an
idle old file is compressed."""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.inspect.verify import verify_snapshot
from kafka_connect_backup.kafka.topic_metadata import read_metadata
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.sinkfiles import consumer_group, period_of, sink_file
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_helpers import produce_json, read_lines, wait_for_lines
from kafka_stack import connector_states, wait_running
from storage_helpers import PASSWORD, storage_env
from supervisor_helpers import (
    Clock,
    LogCapture,
    ProducerThread,
    delete_connectors,
    held_now,
    make_config,
    next_month_start,
    sink_name,
)

pytestmark = pytest.mark.integration


def _records(prefix: str, count: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}-{i}", "utcTime": "2026-11-01T10:00:00Z"} for i in range(count)]


# encfs: one stop window at a time (the other connector keeps running meanwhile); gocryptfs:
# the default, windows at once.
@pytest.mark.parametrize(("engine", "parallelism"), [("encfs", 1), ("gocryptfs", 16)])
def test_full_cycle_stops_snapshots_resumes_and_loses_no_record(
    kafka_broker, connect_worker, create_topic, tmp_path: Path, engine: str, parallelism: int
) -> None:
    tag = uuid.uuid4().hex[:6]
    topics = [create_topic(f"cycle-one-{tag}", 1), create_topic(f"cycle-three-{tag}", 3)]
    sink = sink_name()
    logs = LogCapture()
    with storage_env(tmp_path) as env:
        config = make_config(
            topics=topics,
            sink=sink,
            sink_path=env.sink,
            connect_url=connect_worker.url,
            backup=env.backup(engine=engine),
            bootstrap_servers=kafka_broker.bootstrap,
        )
        names = connector_names(config)
        clock = Clock()
        period = period_of(clock(), config.sink_rotation)
        files = [sink_file(env.sink, t, sink, period) for t in topics]
        client = ConnectClient(connect_worker.url)
        metrics = Metrics()
        observed: dict[str, dict[str, Any]] = {}

        def in_window(name: str) -> None:
            # What a test can see in a connector's stop window: its task gone, its file still.
            path = files[names.index(name)]
            size = path.stat().st_size
            states = connector_states(connect_worker.url, names)
            time.sleep(1.0)  # records produced now must wait in Kafka, not reach the file
            observed[name] = {
                "states": states,
                "size": size,
                "unchanged": size == path.stat().st_size,
            }

        try:
            Reconciler(config, client).reconcile(period)
            wait_running(connect_worker.url, names)
            before = {t: produce_json(kafka_broker.bootstrap, t, _records(t, 300)) for t in topics}
            for topic, path in zip(topics, files, strict=True):
                assert len(wait_for_lines([path], 300)) == 300, topic

            producers = [
                ProducerThread(kafka_broker.bootstrap, t, prefix=f"during-{t}") for t in topics
            ]
            for producer in producers:
                producer.start()
            time.sleep(0.5)
            # No free-space margin: staging must not depend on how full this machine's disk
            # is (the fallback without room is tested in test_supervisor_failures).
            result = Cycle(
                config,
                client,
                metrics,
                clock=clock,
                staging_margin=staging.Margin(bytes=0, fraction=0.0),
                parallelism=parallelism,
                in_window=in_window,
            ).run()
            time.sleep(0.5)
            during = {t: p.finish() for t, p in zip(topics, producers, strict=True)}

            assert result.ok, result.summary()
            assert result.staged is True  # snapshot taken from the staging copy, Connect up
            assert result.stopped == names and result.resumed == names
            assert sorted(observed) == sorted(names)
            for name in names:
                assert observed[name]["states"][name] == ("STOPPED", [])
                assert observed[name]["unchanged"] is True
                if parallelism == 1:  # the other connector sinks on meanwhile
                    assert [
                        state for n, state in observed[name]["states"].items() if n != name
                    ] == [("RUNNING", ["RUNNING"])]
            # Each topic's sink file and its metadata file (kafka/topic_metadata.py).
            assert result.snapshot is not None and result.snapshot.files == 4
            assert result.connect_downtime_seconds is not None
            assert 0 < result.connect_downtime_seconds < result.duration_seconds
            assert connector_states(connect_worker.url, names) == {
                n: ("RUNNING", ["RUNNING"]) for n in names
            }

            # Every record exactly once: order is exact on one partition, a multiset on three.
            for topic, path in zip(topics, files, strict=True):
                expected = before[topic] + during[topic]
                assert len(during[topic]) > 50
                lines = wait_for_lines([path], len(expected))
                if topic == topics[0]:
                    assert lines == expected
                else:
                    assert Counter(lines) == Counter(expected)
                    assert len(lines) == len(expected)

            # The snapshot holds each file exactly as it was at the stop (Connect kept sinking
            # while it was taken): complete lines, a prefix of the file now.
            with mounted_volume(config.backup, allow_init=False) as volume:
                sizes = [observed[name]["size"] for name in names]
                for topic, path, size in zip(topics, files, sizes, strict=True):
                    copy = (volume.snapshot_root / "alpha.0/localhost" / path.name).read_bytes()
                    assert len(copy) == size and copy.endswith(b"\n")
                    assert path.read_bytes().startswith(copy)
                    assert len(copy.splitlines()) >= len(before[topic])
                    assert len(copy) < path.stat().st_size  # records arrived after the stop
                # The sinks' committed offsets at their stops are in the marker: a stopped
                # sink has written exactly the records before them.
                alpha0 = volume.snapshot_root / "alpha.0"
                marker = json.loads((alpha0 / MARKER_NAME).read_text())
                for topic, path, name in zip(topics, files, names, strict=True):
                    copy = (alpha0 / "localhost" / path.name).read_bytes()
                    assert sum(marker["committedOffsets"][name].values()) == len(
                        copy.splitlines()
                    ), (topic, marker["committedOffsets"])
                    # Its metadata file was read at the same stop: the same sink offsets.
                    metadata = read_metadata(alpha0 / "localhost" / f"{name}.topic.json")
                    assert metadata.topic == topic
                    assert metadata.partitions == (1 if topic == topics[0] else 3)
                    sink_offsets = metadata.groups[consumer_group(topic, sink)]
                    assert {str(p): o for p, o in sink_offsets.items()} == marker[
                        "committedOffsets"
                    ][name]
                check = verify_snapshot(alpha0, deep=True, sink_name=sink)
                assert check.ok, [p.what for p in check.problems]
                # Value files: the offsets are only a bound, said as such (not compared).
                assert [t.offsets.describe() for t in check.topics if t.offsets] == [
                    f"{t.lines} in all at the stop, only a bound for value files (not compared: "
                    "offsets are no count of lines, as transaction markers, compaction and a log "
                    "that starts above 0 take offsets without lines, and migrated files and "
                    "redelivered records add lines)"
                    for t in check.topics
                ]
            # The ciphertext shows neither the file names nor the content.
            for cipher in env.target.rglob("*"):
                assert topics[0] not in cipher.name and topics[1] not in cipher.name
                if cipher.is_file():
                    assert b"during-" not in cipher.read_bytes()
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")
            client.close()

    cycle_events = [e for e in logs.events() if e.get("cycle_id")]
    assert {e["cycle_id"] for e in cycle_events} == {result.cycle_id}
    names_logged = [e["event"] for e in cycle_events]
    order = ("cycle.start", "connectors.stopped", "connectors.resumed", "cycle.compressed",
             "snapshot.done", "cycle.snapshot_taken", "cycle.done")  # fmt: skip
    assert [names_logged.index(event) for event in order] == sorted(
        names_logged.index(event) for event in order
    )
    assert not (env.sink / ".kcb-staging").exists()
    assert PASSWORD not in logs.text
    text = metrics.render().decode()
    assert 'kcb_cycles_total{result="success"} 1.0' in text
    assert "kcb_connect_downtime_seconds_count 1.0" in text
    assert "kcb_backup_files 4.0" in text  # two sink files, two metadata files


def test_month_change_starts_a_new_file_and_compresses_the_idle_old_one(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=sink_path, connect_url=connect_worker.url
    )
    clock = Clock()
    old_period = period_of(clock(), config.sink_rotation)
    old_file = sink_file(sink_path, unique_topic, sink, old_period)
    client = ConnectClient(connect_worker.url)
    cycle = Cycle(config, client, Metrics(), clock=clock)
    try:
        Reconciler(config, client).reconcile(old_period)
        first = produce_json(kafka_broker.bootstrap, unique_topic, _records("old", 100))
        assert wait_for_lines([old_file], 100) == first
        # The file was written "now" on the test's clock, not on the machine's.
        written = clock.now.timestamp()
        os.utime(old_file, (written, written))

        clock.now = next_month_start(clock.now)
        new_period = period_of(clock(), config.sink_rotation)
        new_file = sink_file(sink_path, unique_topic, sink, new_period)
        assert new_file.name == f"{unique_topic}-{sink}-{new_period}.sink"
        result = cycle.run()
        assert result.ok, result.summary()
        assert result.period == new_period and result.compressed == []

        second = produce_json(kafka_broker.bootstrap, unique_topic, _records("new", 50))
        assert wait_for_lines([new_file], 50) == second
        assert read_lines(old_file) == first

        # The old file goes idle (mtime 31 days back); the current one too, but it is current.
        original = old_file.read_bytes()
        idle = (clock.now - timedelta(days=31)).timestamp()
        os.utime(old_file, (idle, idle))
        os.utime(new_file, (idle, idle))
        result = cycle.run()
        assert result.ok, result.summary()
        gz = old_file.with_name(f"{old_file.name}-{int(clock.now.timestamp())}.gz")
        assert result.compressed == [gz]
        assert not old_file.exists()
        assert gzip.decompress(gz.read_bytes()) == original
        assert new_file.exists()
        assert sorted(p.name for p in sink_path.iterdir() if not p.name.startswith(".")) == sorted(
            [gz.name, new_file.name]
        )
        third = produce_json(kafka_broker.bootstrap, unique_topic, _records("newer", 20))
        assert wait_for_lines([new_file], 70) == second + third
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
        client.close()


class _CrossingClock:
    """Reads `before` the first time and `after` ever since: a month boundary falling between
    two reads of the clock within one cycle."""

    def __init__(self, before: datetime, after: datetime) -> None:
        self.before, self.after, self.reads = before, after, 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.before if self.reads == 1 else self.after


def test_month_boundary_inside_a_cycle_resumes_on_the_file_that_was_staged(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    before = datetime(2026, 10, 31, 23, 59, 59, 900000, tzinfo=UTC)
    clock = _CrossingClock(before, next_month_start(before))
    with storage_env(tmp_path) as env:
        config = make_config(
            topics=[unique_topic],
            sink=sink,
            sink_path=env.sink,
            connect_url=connect_worker.url,
            backup=env.backup(),
        )
        (name,) = connector_names(config)
        old_file = sink_file(env.sink, unique_topic, sink, "2026-10")
        new_file = sink_file(env.sink, unique_topic, sink, "2026-11")
        client = ConnectClient(connect_worker.url)
        try:
            Reconciler(config, client).reconcile("2026-10")
            first = produce_json(kafka_broker.bootstrap, unique_topic, _records("old", 100))
            assert wait_for_lines([old_file], 100) == first

            no_margin = staging.Margin(bytes=0, fraction=0.0)
            result = Cycle(config, client, Metrics(), clock=clock, staging_margin=no_margin).run()
            assert result.ok, result.summary()
            assert result.staged is True
            assert clock.reads == 1  # one instant for the whole cycle
            # Resumed on the period the cycle noted as being written (and staged as a prefix
            # copy), not on a new file that staging would have hard-linked while it grows.
            assert result.period == "2026-10"
            assert (client.config(name) or {}).get("file") == str(old_file)
            assert not new_file.exists()
            assert result.snapshot is not None and result.snapshot.files == 1
            with mounted_volume(config.backup, allow_init=False) as volume:
                alpha = volume.snapshot_root / "alpha.0/localhost"
                assert sorted(p.name for p in alpha.iterdir()) == [old_file.name]
                assert (alpha / old_file.name).read_text().splitlines() == first

            more = produce_json(kafka_broker.bootstrap, unique_topic, _records("more", 10))
            assert wait_for_lines([old_file], 110) == first + more
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")
            client.close()


def test_verify_deep_agrees_with_a_transactional_topic_whose_log_starts_above_0(
    kafka_broker, connect_worker, create_topic, tmp_path: Path
) -> None:
    """Commit markers take offsets without a line, and so do records deleted before the sink
    read them: on an envelope backup verify --deep compares each partition's last record with
    its committed offset, exactly, and raises no alarm; a value backup of the same topic says
    the offsets are only a bound."""
    from confluent_kafka import Producer, TopicPartition

    from kafka_connect_backup.supervisor.daemon import Supervisor

    topic = create_topic(f"verify-txn-{uuid.uuid4().hex[:8]}", 2)
    plain = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for index in range(10):
        plain.produce(topic, b'{"old":%d}' % index, partition=0)
    assert plain.flush(30) == 0
    admin = kafka_broker.admin()  # keep a reference: a collected client cancels its futures
    [deleted] = admin.delete_records([TopicPartition(topic, 0, 10)]).values()
    assert deleted.result(30).low_watermark == 10  # partition 0's log starts at 10
    sink = sink_name()
    LogCapture()
    with storage_env(tmp_path) as env:
        for fmt in ("envelope", "value"):
            sink_path = env.root / f"sink-{fmt}"
            sink_path.mkdir()
            config = make_config(
                topics=[topic],
                sink=f"{sink}-{fmt}",
                sink_path=sink_path,
                connect_url=connect_worker.url,
                backup=env.backup(engine="gocryptfs"),
                bootstrap_servers=kafka_broker.bootstrap,
                sinkFormat=fmt,
            )
            supervisor = Supervisor(config, http=False, clock=held_now())  # one sink file
            try:
                assert supervisor.run_once().ok  # creates the connector
                if fmt == "envelope":  # the same records serve both backups
                    producer = Producer(
                        {
                            "bootstrap.servers": kafka_broker.bootstrap,
                            "transactional.id": f"verify-{sink}",
                        }
                    )
                    producer.init_transactions(30)
                    for _ in range(3):  # each commit marker takes an offset per partition
                        producer.begin_transaction()
                        for index in range(4):
                            producer.produce(topic, b'{"n":%d}' % index, partition=index % 2)
                        producer.commit_transaction(30)
                live = next(sink_path.glob("*.sink"))
                assert len(wait_for_lines([live], 12)) == 12
                assert supervisor.run_once().ok
                with mounted_volume(config.backup, allow_init=False) as volume:
                    alpha0 = volume.snapshot_root / "alpha.0"
                    marker = json.loads((alpha0 / MARKER_NAME).read_text())
                    # Partition 0: 10 deleted, then 3 x (2 records, a commit marker); the
                    # sink's position is after the last record, before the last marker.
                    offsets = marker["committedOffsets"][f"{topic}-{sink}-{fmt}"]
                    assert offsets == {"0": 18, "1": 8}
                    check = verify_snapshot(alpha0, deep=True, sink_name=f"{sink}-{fmt}")
            finally:
                supervisor.cycle_client.close()
                supervisor.reconcile_client.close()
                delete_connectors(connect_worker.url, f"{sink}-{fmt}")
            assert check.ok, [p.describe() for p in check.problems]
            [found] = check.topics
            assert found.lines == 12 and found.offsets is not None
            if fmt == "envelope":
                assert found.offsets.describe() == (
                    "each partition's last record is just below the offset its group had "
                    "committed at the stop (0:18, 1:8; exact, by the envelope files' offsets)"
                )
            else:
                assert found.offsets.describe().startswith(
                    "26 in all at the stop, only a bound for value files (not compared"
                )
