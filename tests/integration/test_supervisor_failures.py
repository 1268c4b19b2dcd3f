"""Failures of a cycle, each with the real component failing: Connect unreachable, backup
target not mounted, wrong password on an existing encfs volume, rsnapshot lock held. Every one:
one `cycle.failed` event naming the cause and the fix, the failure metric, the connectors
running again, nothing deleted, the password in no log line, and the next cycle succeeds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.layout.names import SYNC_DIR
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor.backup.snapshot import LOCK_NAME
from kafka_connect_backup.supervisor.cycle import Cycle, CycleResult
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.tools import fuse
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import ConnectWorker, connector_states, wait_running
from storage_helpers import PASSWORD, StorageEnv, mount_tmpfs, storage_env
from supervisor_helpers import (
    Clock,
    LogCapture,
    delete_connectors,
    held_now,
    make_config,
    sink_name,
)

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "not the right one 91c2"


def _records(prefix: str, count: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}-{i}", "utcTime": "2026-11-03T09:00:00Z"} for i in range(count)]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "d"
        for p in sorted(root.rglob("*"))
    }


def _assert_failed_clearly(
    result: CycleResult, logs: LogCapture, metrics: Metrics, cause: str, step: str
) -> None:
    assert not result.ok and result.cause == cause and result.step == step, result.summary()
    failed = logs.events("cycle.failed")
    assert len(failed) == 1
    event = failed[0]
    assert event["cause"] == cause and event["step"] == step
    assert event["level"] == "error" and event["fix"] and event["error"]
    assert event["cycle_id"] == result.cycle_id
    text = metrics.render().decode()
    assert f'kcb_failures_total{{cause="{cause}",step="{step}"}} 1.0' in text
    assert 'kcb_cycles_total{result="failure"} 1.0' in text
    assert PASSWORD not in logs.text and WRONG_PASSWORD not in logs.text


def test_connect_unreachable_at_cycle_start_then_next_cycle_recovers(
    kafka_broker, own_worker: ConnectWorker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=sink_path, connect_url=own_worker.url
    )
    names = connector_names(config)
    clock = held_now()
    period = period_of(clock(), config.sink_rotation)
    path = sink_file(sink_path, unique_topic, sink, period)
    client = ConnectClient(own_worker.url, attempts=3, backoff_initial=0.1, backoff_max=0.5)
    Reconciler(config, client).reconcile(period)
    first = produce_json(kafka_broker.bootstrap, unique_topic, _records("a", 100))
    assert wait_for_lines([path], 100) == first

    own_worker.stop()
    logs = LogCapture()
    metrics = Metrics()
    cycle = Cycle(config, client, metrics, clock=clock)
    result = cycle.run()
    _assert_failed_clearly(result, logs, metrics, "connect_unreachable", "stop")
    assert "connect container" in logs.events("cycle.failed")[0]["fix"]
    retries = logs.events("connect.retry")
    assert retries and {r["max_attempts"] for r in retries} == {3}
    assert logs.events("connectors.resume_failed")  # tried, in the finally
    assert path.read_text().splitlines() == first  # nothing lost or touched

    own_worker.start()  # a fresh standalone worker: no connectors at all
    result = cycle.run()
    assert result.ok, result.summary()
    assert result.stopped == [] and result.resumed == names
    wait_running(own_worker.url, names)
    second = produce_json(kafka_broker.bootstrap, unique_topic, _records("b", 100))
    assert wait_for_lines([path], 200) == first + second
    assert 'kcb_cycles_total{result="success"} 1.0' in metrics.render().decode()


def _sunk_topic(
    kafka_broker, connect_worker, topic: str, config: Config, clock: Clock
) -> tuple[Path, list[str]]:
    """The topic's connector declared on `clock`'s period and 200 records in its file."""
    period = period_of(clock(), config.sink_rotation)
    with ConnectClient(connect_worker.url) as client:
        Reconciler(config, client).reconcile(period)
    path = sink_file(config.sink_path, topic, config.sink_name, period)
    lines = produce_json(kafka_broker.bootstrap, topic, _records("x", 200))
    assert wait_for_lines([path], 200) == lines
    return path, lines


@contextmanager
def _backup_case(
    tmp_path: Path,
    connect_worker: ConnectWorker,
    topic: str,
    *,
    target_size: str = "256m",
    **backup: Any,
) -> Iterator[tuple[StorageEnv, Config]]:
    """A storage env and a config backing `topic` up into it; its connectors deleted after."""
    sink = sink_name()
    with storage_env(tmp_path, target_size=target_size) as env:
        config = make_config(
            topics=[topic],
            sink=sink,
            sink_path=env.sink,
            connect_url=connect_worker.url,
            backup=env.backup(**backup),
        )
        try:
            yield env, config
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")


def test_backup_target_not_mounted_fails_clearly_and_connectors_resume(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    plain_target = tmp_path / "not-a-mount"
    plain_target.mkdir()
    target = str(plain_target)
    with _backup_case(tmp_path, connect_worker, unique_topic, targetDir=target) as (env, config):
        clock = held_now()
        path, lines = _sunk_topic(kafka_broker, connect_worker, unique_topic, config, clock)
        logs, metrics = LogCapture(), Metrics()
        with ConnectClient(connect_worker.url) as client:
            result = Cycle(config, client, metrics, clock=clock).run()
        _assert_failed_clearly(result, logs, metrics, "target_not_mounted", "backup")
        assert str(plain_target) in logs.events("cycle.failed")[0]["error"]
        assert result.resumed == connector_names(config)
        assert connector_states(connect_worker.url, result.resumed) == {
            n: ("RUNNING", ["RUNNING"]) for n in result.resumed
        }
        assert list(plain_target.iterdir()) == []  # nothing written into the container
        assert not fuse.is_mount_point(env.mount_point)
        assert path.read_text().splitlines() == lines


def test_wrong_password_on_existing_volume_changes_nothing_and_next_cycle_recovers(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    with _backup_case(tmp_path, connect_worker, unique_topic) as (env, config):
        clock = held_now()
        _path, _lines = _sunk_topic(kafka_broker, connect_worker, unique_topic, config, clock)
        with ConnectClient(connect_worker.url) as client:
            assert Cycle(config, client, Metrics(), clock=clock).run().ok  # creates the volume
            before = _tree_digest(env.target)
            env.password_file.write_text(WRONG_PASSWORD + "\n")
            logs, metrics = LogCapture(), Metrics()
            result = Cycle(config, client, metrics, clock=clock).run()
            _assert_failed_clearly(result, logs, metrics, "wrong_password", "backup")
            assert _tree_digest(env.target) == before
            assert not fuse.is_mount_point(env.mount_point)
            wait_running(connect_worker.url, connector_names(config))

            env.password_file.write_text(PASSWORD + "\n")
            again = Cycle(config, client, Metrics(), clock=clock).run()
            assert again.ok, again.summary()


def test_rsnapshot_lock_held_fails_clearly_and_connectors_resume(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    with _backup_case(tmp_path, connect_worker, unique_topic) as (env, config):
        clock = held_now()
        _sunk_topic(kafka_broker, connect_worker, unique_topic, config, clock)
        env.work.mkdir(parents=True, exist_ok=True)
        lock = env.work / LOCK_NAME
        lock.write_text(f"{os.getpid()}\n")  # a live process holds the lock
        logs, metrics = LogCapture(), Metrics()
        with ConnectClient(connect_worker.url) as client:
            result = Cycle(config, client, metrics, clock=clock).run()
        _assert_failed_clearly(result, logs, metrics, "rsnapshot_locked", "backup")
        assert lock.exists()  # never removed behind the holder's back
        assert not fuse.is_mount_point(env.mount_point)
        wait_running(connect_worker.url, connector_names(config))


def test_compress_disk_full_still_takes_the_backup_and_keeps_the_source(
    connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    with storage_env(tmp_path) as env:
        small = tmp_path / "small-sink"
        mount_tmpfs(small, "2m")
        config = make_config(
            topics=[unique_topic],
            sink=sink,
            sink_path=small,
            connect_url=connect_worker.url,
            backup=env.backup(),
        )
        old = sink_file(small, unique_topic, sink, "2025-01")
        content = os.urandom(1_400_000)  # incompressible: its .gz cannot fit beside it
        old.write_bytes(content)
        idle = time.time() - 40 * 86400
        os.utime(old, (idle, idle))
        try:
            logs, metrics = LogCapture(), Metrics()
            with ConnectClient(connect_worker.url) as client:
                result = Cycle(config, client, metrics).run()
            _assert_failed_clearly(result, logs, metrics, "disk_full", "compress")
            assert old.read_bytes() == content  # the source is intact
            assert not list(small.glob("*.gz")) and not list(small.glob(".*tmp"))
            assert result.snapshot is not None and result.snapshot.files == 1  # backup taken
            # No room to stage copies on this tiny volume: snapshot taken while stopped.
            assert result.staged is False and logs.events("cycle.staging_skipped")
            wait_running(connect_worker.url, connector_names(config))
        finally:
            delete_connectors(connect_worker.url, f"-{sink}")


def _snapshots(config: Config) -> dict[str, dict[str, str]]:
    with mounted_volume(config.backup, allow_init=False) as volume:
        return {
            p.name: _tree_digest(p)
            for p in sorted(volume.snapshot_root.iterdir())
            if p.name != SYNC_DIR
        }


def _disk_full(env: StorageEnv, config: Config) -> Config:
    # Incompressible and bigger than what is left on the 4 MiB target: the copy hits ENOSPC.
    big = env.sink / "other-sink-2026-01.sink"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    return config


def _volume_read_only(env: StorageEnv, config: Config) -> Config:
    # The backup volume turns read-only (as a failing NFS server or disk does): the volume
    # still mounts, but nothing can be written into the snapshot root.
    subprocess.run(["mount", "-o", "remount,ro", str(env.target)], check=True)
    return config


def _target_missing(env: StorageEnv, config: Config) -> Config:
    missing = env.root / "no-such-target"
    backup = config.backup.model_copy(update={"target_dir": missing})
    return config.model_copy(update={"backup": backup})


@pytest.mark.parametrize(
    ("make_failure", "cause"),
    [
        (_disk_full, "disk_full"),
        (_volume_read_only, "snapshot_copy_failed"),
        (_target_missing, "target_missing"),
    ],
    ids=["disk_full", "volume_read_only", "target_missing"],
)
def test_backup_failure_in_a_cycle_is_clear_resumes_connect_and_deletes_nothing(
    kafka_broker,
    connect_worker,
    unique_topic,
    tmp_path: Path,
    make_failure: Callable[[StorageEnv, Config], Config],
    cause: str,
) -> None:
    with _backup_case(tmp_path, connect_worker, unique_topic, target_size="4m") as (env, config):
        names = connector_names(config)
        clock = held_now()
        path, lines = _sunk_topic(kafka_broker, connect_worker, unique_topic, config, clock)
        with ConnectClient(connect_worker.url) as client:
            # Creates the volume, alpha.0.
            first = Cycle(config, client, Metrics(), clock=clock).run()
            assert first.ok, first.summary()
            with mounted_volume(config.backup, allow_init=False) as volume:
                previous = _tree_digest(volume.snapshot_root / "alpha.0")
            ciphertext = _tree_digest(env.target)
            failing = make_failure(env, config)
            sink_before = _tree_digest(env.sink)

            logs, metrics = LogCapture(), Metrics()
            result = Cycle(failing, client, metrics, clock=clock).run()
        _assert_failed_clearly(result, logs, metrics, cause, "backup")
        event = logs.events("cycle.failed")[0]
        if cause == "target_missing":
            assert str(failing.backup.target_dir) in event["error"]
            assert "backup.targetDir" in event["fix"]
            assert _tree_digest(env.target) == ciphertext
        elif cause == "disk_full":
            assert "retention" in event["fix"]
        else:
            assert "Read-only file system" in event["error"], event["error"]
            assert _tree_digest(env.target) == ciphertext
        assert result.resumed == names
        assert connector_states(connect_worker.url, names) == {
            n: ("RUNNING", ["RUNNING"]) for n in names
        }
        assert not fuse.is_mount_point(env.mount_point)
        # Nothing deleted: the sink files as they were, the previous snapshot intact.
        assert _tree_digest(env.sink) == sink_before
        assert path.read_text().splitlines() == lines
        if cause == "snapshot_copy_failed":
            subprocess.run(["mount", "-o", "remount,rw", str(env.target)], check=True)
        # The previous snapshot is still alpha.0: the copy only ever writes into .sync, so a
        # failed one changes no snapshot and leaves no partial file.
        assert _snapshots(config) == {"alpha.0": previous}
        assert logs.events("snapshot.interrupted_cleanup") == []
        if cause != "target_missing":
            assert event["error"].endswith("; no snapshot was changed"), event["error"]
            with mounted_volume(config.backup, allow_init=False) as volume:
                host = volume.snapshot_root / SYNC_DIR / "localhost"
                assert not [p.name for p in host.iterdir() if p.name.startswith(".")]
        # Connect sinks again.
        more = produce_json(kafka_broker.bootstrap, unique_topic, _records("y", 20))
        assert wait_for_lines([path], 220) == lines + more


def test_a_missing_sink_path_fails_the_cycle_at_once_and_stops_nothing(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    config = make_config(
        topics=[unique_topic],
        sink=sink,
        sink_path=tmp_path / "not-mounted",
        connect_url=connect_worker.url,
        backup=None,
    )
    client = ConnectClient(connect_worker.url)
    try:
        # Its connector exists (its task cannot open its file): the cycle must not wait for it.
        clock = held_now()
        Reconciler(config, client).reconcile(period_of(clock(), config.sink_rotation))
        logs = LogCapture()
        metrics = Metrics()
        result = Cycle(config, client, metrics, clock=clock).run()
        _assert_failed_clearly(result, logs, metrics, "sink_path_missing", "stop")
        assert result.error == (
            f"sinkPath {tmp_path / 'not-mounted'} does not exist or is not a directory"
        )
        assert result.fix == (
            "mount the data volume there (the connect container writes the sink files to it), "
            "or correct sinkPath in the config"
        )
        assert result.stopped == [] and result.duration_seconds < 5, result.summary()
        assert not logs.events("connectors.resumed")
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
