"""sinkRotation hourly against the real broker, Connect worker, encryption and rsnapshot (issue 27):
the supervisor's cycles switch the connector to each hour's file on the test's clock, compress
the idle hours, snapshot them; verify, export, drill and restore.py read the snapshot's hourly
files exactly, in order. A switch from daily to hourly starts a new file beside the day's, which
keeps its name and content; a switch back within the day sets the day's file aside (in a cycle
and at a supervisor's start), and a restore replays them all in the order they were written."""

from __future__ import annotations

import gzip
import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.config import Config, SinkRotation, parse_config
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.inspect.verify import verify_snapshot
from kafka_connect_backup.layout.sinkfiles import (
    compressed_name,
    connector_name,
    metadata_name,
    period_of,
    sink_file,
)
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_helpers import consume_all, produce_json, wait_for_lines
from local_config import write_config
from storage_helpers import StorageEnv, run_restore, storage_env
from supervisor_helpers import (
    Clock,
    LogCapture,
    config_data,
    delete_connectors,
    make_config,
    sink_name,
)
from waiting import eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 15, 10, 20, tzinfo=UTC)
NO_MARGIN = staging.Margin(bytes=0, fraction=0.0)


def _records(tag: str, when: datetime, count: int) -> list[dict[str, object]]:
    return [
        {"id": f"{tag}-{i}", "utcTime": f"{when + timedelta(seconds=i):%Y-%m-%dT%H:%M:%SZ}"}
        for i in range(count)
    ]


def _written_at(path: Path, when: datetime) -> None:
    """The file was last written `when` on the test's clock, not on the machine's (restore
    orders files of overlapping periods by their last write)."""
    os.utime(path, (when.timestamp(), when.timestamp()))


def _document(
    env: StorageEnv, topic: str, sink: str, stack: tuple[str, str], **extra: Any
) -> dict[str, Any]:
    connect_url, bootstrap = stack
    return config_data(
        topics=[topic],
        sink=sink,
        sink_path=env.sink,
        connect_url=connect_url,
        bootstrap_servers=bootstrap,
        backup=env.backup(),
        **extra,
    )


def _config(env: StorageEnv, topic: str, sink: str, stack: tuple[str, str], **extra: Any) -> Config:
    return parse_config(_document(env, topic, sink, stack, **extra))


def _restore_all(
    config: Config, source: str, target: str, bootstrap: str, summary: Path
) -> dict[str, Any]:
    """restore.py of every record of `source` in the snapshot alpha.0 into `target`; its
    summary."""
    with mounted_volume(config.backup, allow_init=False) as volume:
        result = run_restore(
            target,
            bootstrap,
            "--from",
            "2026-11-01T00:00",
            "--snapshot",
            "alpha.0",
            "--snapshot-root",
            str(volume.snapshot_root),
            "--source-topic",
            source,
            "--sink-name",
            config.sink_name,
            "--yes",
            "--summary-json",
            str(summary),
        )
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(summary.read_text())
    return data


def _snapshot_names(config: Config) -> list[str]:
    with mounted_volume(config.backup, allow_init=False) as volume:
        alpha0 = volume.snapshot_root / "alpha.0"
        check = verify_snapshot(alpha0, deep=True, sink_name=config.sink_name)
        assert check.ok, [p.describe() for p in check.problems]
        return sorted(p.name for p in (alpha0 / "localhost").rglob("*") if p.is_file())


def test_hourly_files_are_switched_compressed_snapshotted_and_restored_exactly(
    kafka_broker,
    connect_worker,
    create_topic: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = sink_name()
    tag = uuid.uuid4().hex[:6]
    topic = create_topic(f"hourly-src-{tag}", 1)
    target = create_topic(f"hourly-dst-{tag}", 1)
    client = ConnectClient(connect_worker.url)
    stack = (connect_worker.url, kafka_broker.bootstrap)
    with storage_env(tmp_path) as env:
        # compressAfterDays 0: an hour's file is compressed at the first cycle after its hour.
        document = _document(env, topic, sink, stack, sinkRotation="hourly", compressAfterDays=0)
        config = parse_config(document)
        clock = Clock(START)
        cycle = Cycle(config, client, Metrics(), clock=clock, staging_margin=NO_MARGIN)
        ten = sink_file(env.sink, topic, sink, "2026-11-15T10")
        eleven = sink_file(env.sink, topic, sink, "2026-11-15T11")
        try:
            assert period_of(clock(), config.sink_rotation) == "2026-11-15T10"
            Reconciler(config, client).reconcile("2026-11-15T10")
            first = produce_json(kafka_broker.bootstrap, topic, _records("h10", START, 120))
            assert wait_for_lines([ten], 120) == first
            _written_at(ten, START + timedelta(minutes=5))

            # 11:00: the cycle resumes the connector on the new hour's file and compresses the
            # last hour's, idle and no longer current.
            clock.now = datetime(2026, 11, 15, 11, 0, 3, tzinfo=UTC)
            result = cycle.run()
            assert result.ok, result.summary()
            assert result.period == "2026-11-15T11"
            gz = compressed_name(ten, int(clock.now.timestamp()))
            assert result.compressed == [gz]
            configs = client.configs()
            assert configs[connector_name(topic, sink)]["file"] == str(eleven)

            second = produce_json(kafka_broker.bootstrap, topic, _records("h11", clock.now, 80))
            assert wait_for_lines([eleven], 80) == second
            _written_at(eleven, datetime(2026, 11, 15, 11, 20, tzinfo=UTC))

            # 11:30, the same hour: the current file stays as it is, and is snapshotted.
            clock.now = datetime(2026, 11, 15, 11, 30, tzinfo=UTC)
            result = cycle.run()
            assert result.ok, result.summary()
            assert result.period == "2026-11-15T11" and result.compressed == []
            assert result.snapshot is not None and result.snapshot.files == 3
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")
            client.close()

        assert sorted(p.name for p in env.sink.iterdir() if not p.name.startswith(".")) == sorted(
            [gz.name, eleven.name, metadata_name(topic, sink)]
        )
        assert _snapshot_names(config) == sorted([gz.name, eleven.name, metadata_name(topic, sink)])
        # kcb snapshots export: a window across the hour, from the .gz and the next hour's file.
        exported = tmp_path / "export.jsonl"
        window = ["--from", "2026-11-15T10:21:50Z", "--to", "2026-11-15T11:00:13Z"]
        code = kcb(
            ["snapshots", "export", "--config", str(write_config(tmp_path / "c.yaml", document)),
             "--topic", topic, *window, "-o", str(exported)]
        )  # fmt: skip
        assert code == 0
        assert exported.read_text().splitlines() == first[110:] + second[:10]
        # kcb drill: the newest 90 records, across both hours' files, replayed and read back.
        capsys.readouterr()
        code = kcb(["drill", "--config", str(tmp_path / "c.yaml"), "--records", "90", "--json"])
        [drilled] = json.loads(capsys.readouterr().out)["topics"]
        assert code == 0, drilled
        assert (drilled["read"], drilled["records"], drilled["readBack"]) == (200, 90, 90)
        assert drilled["hashMatch"] is True
        assert [Path(f).name for f in drilled["files"]] == [gz.name, eleven.name]
        summary = _restore_all(
            config, topic, target, kafka_broker.bootstrap, tmp_path / "summary.json"
        )

    expected = first + second
    got = consume_all(kafka_broker.bootstrap, target, len(expected))
    assert [value.decode() if value else None for _, value in got] == expected
    assert (summary["read"], summary["matched"], summary["delivered"], summary["failed"]) == (
        200,
        200,
        200,
        0,
    )
    assert [Path(f["path"]).name for f in summary["files"]] == [gz.name, eleven.name]


def test_switching_daily_to_hourly_starts_a_new_file_and_keeps_the_days(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    sink = sink_name()
    tag = uuid.uuid4().hex[:6]
    topic = create_topic(f"switch-src-{tag}", 1)
    target = create_topic(f"switch-dst-{tag}", 1)
    client = ConnectClient(connect_worker.url)
    stack = (connect_worker.url, kafka_broker.bootstrap)
    with storage_env(tmp_path) as env:
        daily = _config(env, topic, sink, stack, sinkRotation="daily")
        hourly = _config(env, topic, sink, stack, sinkRotation="hourly")
        assert hourly.sink_rotation is SinkRotation.HOURLY
        clock = Clock(START)
        day = sink_file(env.sink, topic, sink, "2026-11-15")
        hour = sink_file(env.sink, topic, sink, "2026-11-15T10")
        try:
            Reconciler(daily, client).reconcile(period_of(clock(), daily.sink_rotation))
            first = produce_json(kafka_broker.bootstrap, topic, _records("day", START, 60))
            assert wait_for_lines([day], 60) == first
            _written_at(day, START + timedelta(minutes=1))
            before = day.read_bytes()

            # helm upgrade with sinkRotation: hourly: the new pod's supervisor, the same hour.
            clock.now = START + timedelta(minutes=10)
            cycle = Cycle(hourly, client, Metrics(), clock=clock, staging_margin=NO_MARGIN)
            result = cycle.run()
            assert result.ok, result.summary()
            assert result.period == "2026-11-15T10" and result.compressed == []
            assert client.configs()[connector_name(topic, sink)]["file"] == str(hour)

            second = produce_json(kafka_broker.bootstrap, topic, _records("hour", clock.now, 40))
            assert wait_for_lines([hour], 40) == second
            _written_at(hour, START + timedelta(minutes=20))
            clock.now = START + timedelta(minutes=30)
            result = cycle.run()
            assert result.ok, result.summary()
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")
            client.close()

        # The day's file is where it was, under its name, byte for byte; nothing renamed.
        assert day.read_bytes() == before
        names = sorted([day.name, hour.name, metadata_name(topic, sink)])
        assert sorted(p.name for p in env.sink.iterdir() if not p.name.startswith(".")) == names
        assert _snapshot_names(hourly) == names
        summary = _restore_all(
            hourly, topic, target, kafka_broker.bootstrap, tmp_path / "summary.json"
        )

    expected = first + second
    got = consume_all(kafka_broker.bootstrap, target, len(expected))
    assert [value.decode() if value else None for _, value in got] == expected
    assert (summary["read"], summary["delivered"], summary["failed"]) == (100, 100, 0)
    assert [Path(f["path"]).name for f in summary["files"]] == [day.name, hour.name]


def test_switching_back_to_daily_within_the_day_sets_the_days_file_aside(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    """daily -> hourly -> daily in one day: appending to the day's file again would put its
    records after the hour's, so the file is compressed first (its `.gz` keeps its last write)
    and the connector starts a new day's file; restore replays the three in write order."""
    sink = sink_name()
    tag = uuid.uuid4().hex[:6]
    topic = create_topic(f"back-src-{tag}", 1)
    target = create_topic(f"back-dst-{tag}", 1)
    client = ConnectClient(connect_worker.url)
    stack = (connect_worker.url, kafka_broker.bootstrap)
    with storage_env(tmp_path) as env:
        daily = _config(env, topic, sink, stack, sinkRotation="daily")
        hourly = _config(env, topic, sink, stack, sinkRotation="hourly")
        clock = Clock(START)
        day = sink_file(env.sink, topic, sink, "2026-11-15")
        hour = sink_file(env.sink, topic, sink, "2026-11-15T10")
        try:
            Reconciler(daily, client).reconcile("2026-11-15")
            first = produce_json(kafka_broker.bootstrap, topic, _records("day", START, 30))
            assert wait_for_lines([day], 30) == first
            _written_at(day, START + timedelta(minutes=1))
            before = day.read_bytes()

            clock.now = START + timedelta(minutes=10)
            result = Cycle(hourly, client, Metrics(), clock=clock, staging_margin=NO_MARGIN).run()
            assert result.ok, result.summary()
            second = produce_json(kafka_broker.bootstrap, topic, _records("hour", clock.now, 20))
            assert wait_for_lines([hour], 20) == second
            _written_at(hour, START + timedelta(minutes=20))

            # Back to daily at 10:30, the same day.
            clock.now = START + timedelta(minutes=30)
            cycle = Cycle(daily, client, Metrics(), clock=clock, staging_margin=NO_MARGIN)
            result = cycle.run()
            assert result.ok, result.summary()
            aside = compressed_name(day, int(clock.now.timestamp()))
            assert gzip.decompress(aside.read_bytes()) == before
            assert aside.stat().st_mtime == (START + timedelta(minutes=1)).timestamp()
            third = produce_json(kafka_broker.bootstrap, topic, _records("again", clock.now, 10))
            assert wait_for_lines([day], 10) == third  # a new file: only the new records
            _written_at(day, START + timedelta(minutes=35))
            clock.now = START + timedelta(minutes=40)
            result = cycle.run()
            assert result.ok, result.summary()
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")
            client.close()

        names = sorted([aside.name, hour.name, day.name, metadata_name(topic, sink)])
        assert sorted(p.name for p in env.sink.iterdir() if not p.name.startswith(".")) == names
        assert _snapshot_names(daily) == names
        summary = _restore_all(
            daily, topic, target, kafka_broker.bootstrap, tmp_path / "summary.json"
        )

    expected = first + second + third
    got = consume_all(kafka_broker.bootstrap, target, len(expected))
    assert [value.decode() if value else None for _, value in got] == expected
    assert (summary["read"], summary["delivered"], summary["failed"]) == (60, 60, 0)
    assert [Path(f["path"]).name for f in summary["files"]] == [aside.name, hour.name, day.name]


def test_a_supervisor_started_with_the_rotation_switched_back_sets_the_file_aside(
    kafka_broker, connect_worker, unique_topic: str, tmp_path: Path
) -> None:
    """The same switch as a `helm upgrade` makes it: the new pod's supervisor reconciles the
    connector onto the day's file at its start, between cycles (the reconciler's before_open)."""
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    settings = {"topics": [unique_topic], "sink": sink, "sink_path": sink_path}
    daily = make_config(**settings, connect_url=connect_worker.url, sinkRotation="daily")
    hourly = make_config(**settings, connect_url=connect_worker.url, sinkRotation="hourly")
    day = sink_file(sink_path, unique_topic, sink, "2026-11-15")
    hour = sink_file(sink_path, unique_topic, sink, "2026-11-15T10")
    client = ConnectClient(connect_worker.url)
    logs = LogCapture()
    clock = Clock(START + timedelta(minutes=30))
    supervisor = Supervisor(daily, http=False, clock=clock)
    loop = threading.Thread(target=supervisor.run, daemon=True)
    try:
        Reconciler(daily, client).reconcile("2026-11-15")
        first = produce_json(kafka_broker.bootstrap, unique_topic, _records("day", START, 30))
        assert wait_for_lines([day], 30) == first
        _written_at(day, START + timedelta(minutes=1))
        Reconciler(hourly, client).reconcile("2026-11-15T10")
        second = produce_json(kafka_broker.bootstrap, unique_topic, _records("hour", START, 20))
        assert wait_for_lines([hour], 20) == second
        _written_at(hour, START + timedelta(minutes=20))

        loop.start()
        name = connector_name(unique_topic, sink)
        eventually(
            lambda: client.configs().get(name, {}).get("file") == str(day),
            "the connector on the day's file",
            timeout=60,
        )
        aside = compressed_name(day, int(clock.now.timestamp()))
        assert [line.decode() for line in gzip.decompress(aside.read_bytes()).splitlines()] == (
            first
        )
        third = produce_json(kafka_broker.bootstrap, unique_topic, _records("again", START, 10))
        assert wait_for_lines([day], 10) == third
    finally:
        supervisor.request_stop()
        loop.join(60)
        delete_connectors(connect_worker.url, f"-{sink}")
        client.close()
    assert not loop.is_alive()
    assert [line.decode() for line in hour.read_bytes().splitlines()] == second
    [event] = logs.events("compress.set_aside")
    assert event["path"] == str(day) and event["written_after"] == [hour.name]
