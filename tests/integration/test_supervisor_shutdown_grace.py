"""SIGTERM during the backup step's copy or rsnapshot, with the real rsnapshot, rsync and
encfs/gocryptfs: the step may go on for shutdownGraceSeconds, then it stops; the copy only ever
wrote into .sync, so every snapshot is as it was and the next run works."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.core.shutdown_grace import ShutdownGrace
from kafka_connect_backup.layout.names import SYNC_DIR
from kafka_connect_backup.supervisor.backup.snapshot import CONF_NAME, LOCK_NAME, backup_snapshot
from kafka_connect_backup.supervisor.backup.sync_copy import CopyStopped
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.tools import fuse, rsnapshot
from kafka_connect_backup.tools.rsnapshot import RsnapshotStopped
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_stack import connector_states, wait_running
from storage_helpers import StorageEnv, storage_env, tree, wait_for_copy
from supervisor_helpers import Clock, LogCapture, delete_connectors, make_config, sink_name

pytestmark = pytest.mark.integration

GRACE = 1.0
# Big enough that rsync through the FUSE view takes well over GRACE here (sparse: no disk).
BIG = 3 * 1024**3


class StopWhenCopying(threading.Thread):
    """Requests the shutdown as soon as the backup step copies a file into .sync."""

    def __init__(self, mount_point: Path) -> None:
        super().__init__(daemon=True)
        self.mount_point = mount_point
        self.requested_at: float | None = None
        self.done = threading.Event()

    def __call__(self) -> bool:
        return self.requested_at is not None

    def run(self) -> None:
        if wait_for_copy(self.mount_point, lambda: not self.done.is_set(), timeout=120):
            self.requested_at = time.monotonic()


def _processes_using(conf: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(conf).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _snapshots(config: Config) -> dict[str, dict[str, bytes]]:
    with mounted_volume(config.backup, allow_init=False) as volume:
        return {
            p.name: tree(p) for p in sorted(volume.snapshot_root.iterdir()) if p.name != SYNC_DIR
        }


def _interrupted(config: Config, env: StorageEnv) -> tuple[CopyStopped, float]:
    stopper = StopWhenCopying(env.mount_point)
    stopper.start()
    try:
        with pytest.raises(CopyStopped) as caught:
            backup_snapshot(config, stop_requested=stopper)
        stopped_after = time.monotonic() - (stopper.requested_at or 0.0)
    finally:
        stopper.done.set()
        stopper.join(5)
    assert stopper.requested_at is not None
    return caught.value, stopped_after


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path, target_size="5g") as env:
        yield env


def _add_big_file(sink: Path) -> Path:
    big = sink / "orders-sink-2026-11.sink"
    with big.open("ab") as handle:
        handle.truncate(BIG)
    return big


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_a_copy_past_the_grace_is_stopped_and_every_snapshot_stays_as_it_was(
    env: StorageEnv, engine: str
) -> None:
    config = env.config(engine=engine).model_copy(update={"shutdown_grace_seconds": GRACE})
    (env.sink / "orders-sink-2026-10.sink").write_text('{"id": 1}\n{"id": 2}\n')
    (env.sink / "orders-sink-2026-09.sink-1759276800.gz").write_bytes(os.urandom(4096))
    backup_snapshot(config)
    before = _snapshots(config)
    assert list(before) == ["alpha.0"]
    assert sorted(before["alpha.0"]) == [
        ".kcb-snapshot.json",  # the completeness marker, beside localhost/
        "localhost/orders-sink-2026-09.sink-1759276800.gz",
        "localhost/orders-sink-2026-10.sink",
    ]

    _add_big_file(env.sink)
    (env.sink / "orders-sink-2026-10.sink").write_text('{"id": 1}\n{"id": 2}\n{"id": 3}\n')
    logs = LogCapture()
    error, stopped_after = _interrupted(config, env)

    # The grace was given, then the copy stopped; rsnapshot never started.
    assert GRACE <= stopped_after < GRACE + 15
    assert _processes_using(env.work / CONF_NAME) == []
    assert "still running 1s after the shutdown request" in error.message
    assert error.message.endswith("; no snapshot was changed")
    assert logs.events("snapshot.copy_shutdown_grace")[0]["grace_seconds"] == GRACE
    assert logs.events("snapshot.copy_stopped")
    assert not logs.events("rsnapshot.output") and not logs.events("snapshot.interrupted_cleanup")
    assert not fuse.is_mount_point(env.mount_point)
    # The previous snapshot is alpha.0, byte for byte; nothing else is listed.
    assert _snapshots(config) == before

    # The next run takes a complete snapshot on top of it.
    (env.sink / "orders-sink-2026-11.sink").unlink()
    result = backup_snapshot(config)
    assert result.files == 2
    after = _snapshots(config)
    assert list(after) == ["alpha.0", "alpha.1"] and after["alpha.1"] == before["alpha.0"]
    assert after["alpha.0"]["localhost/orders-sink-2026-10.sink"].count(b"\n") == 3


def test_first_snapshot_stopped_past_the_grace_leaves_no_snapshot(env: StorageEnv) -> None:
    config = env.config().model_copy(update={"shutdown_grace_seconds": GRACE})
    _add_big_file(env.sink)
    error, _ = _interrupted(config, env)
    assert error.message.endswith("; no snapshot was changed")
    assert _snapshots(config) == {}
    assert (env.sink / "orders-sink-2026-11.sink").stat().st_size == BIG  # source untouched


def test_rsnapshot_past_the_grace_is_stopped_with_its_rsync(env: StorageEnv) -> None:
    # `rsnapshot sync` left to copy the big file itself (the backup step's copy did not run).
    config = env.config()
    _add_big_file(env.sink)
    env.work.mkdir(parents=True, exist_ok=True)
    conf, lockfile = env.work / CONF_NAME, env.work / LOCK_NAME
    logs = LogCapture()
    with mounted_volume(config.backup) as volume:
        rsnapshot.write_config(
            conf,
            rsnapshot.render_config(
                snapshot_root=volume.snapshot_root,
                source_dir=env.sink,
                levels={"alpha": 2},
                lockfile=lockfile,
            ),
        )
        started = time.monotonic()
        with pytest.raises(RsnapshotStopped) as caught:
            rsnapshot.run(conf, lockfile, rsnapshot.SYNC, grace=ShutdownGrace(lambda: True, GRACE))
        assert GRACE <= time.monotonic() - started < GRACE + 15
        assert _processes_using(conf) == []  # rsnapshot and its rsync: the whole group
        assert not lockfile.exists()
        assert not (volume.snapshot_root / "alpha.0").exists()
    assert caught.value.cause == "shutdown"
    assert f"rsnapshot -c {conf} sync still running 1s after the shutdown request" in (
        caught.value.message
    )
    assert logs.events("rsnapshot.shutdown_grace")[0]["grace_seconds"] == GRACE
    assert logs.events("rsnapshot.stopped")


def test_shutdown_requested_before_a_short_rsnapshot_lets_it_finish(env: StorageEnv) -> None:
    config = env.config().model_copy(update={"shutdown_grace_seconds": 30.0})
    (env.sink / "orders-sink-2026-10.sink").write_text('{"id": 1}\n')
    logs = LogCapture()
    # Within the grace: the step finishes, verified.
    result = backup_snapshot(config, stop_requested=lambda: True)
    assert result.files == 1 and result.rsnapshot_exit_code == 0
    assert not logs.events("snapshot.interrupted_cleanup")
    assert list(_snapshots(config)) == ["alpha.0"]
    assert not fuse.is_mount_point(env.mount_point)


def test_cycle_stopped_in_its_copy_is_aborted_and_resumes_connect(
    connect_worker, unique_topic, env: StorageEnv
) -> None:
    sink = sink_name()
    config = make_config(
        topics=[unique_topic],
        sink=sink,
        sink_path=env.sink,
        connect_url=connect_worker.url,
        shutdownGraceSeconds=GRACE,
        backup=env.backup(),
    )
    names = connector_names(config)
    big = env.sink / f"{unique_topic}-{sink}-2026-01.sink"  # an old period's file
    with big.open("ab") as handle:
        handle.truncate(BIG)
    stopper = StopWhenCopying(env.mount_point)
    stopper.start()
    logs, metrics = LogCapture(), Metrics()
    try:
        with ConnectClient(connect_worker.url) as client:
            # Mid-March 2026 (not the real clock): the 2026-01 file is an old period's.
            result = Cycle(config, client, metrics, clock=Clock(), should_abort=stopper).run()
        assert result.aborted and not result.ok and result.step == "backup"
        assert result.cause is None and result.snapshot is None
        assert result.error and "shutdownGraceSeconds" in result.error
        (aborted,) = logs.events("cycle.aborted")
        assert aborted["skipped_from"] == "backup"
        assert aborted["detail"].endswith("; no snapshot was changed")
        assert result.resumed == names
        wait_running(connect_worker.url, names)
        assert connector_states(connect_worker.url, names) == {
            n: ("RUNNING", ["RUNNING"]) for n in names
        }
        text = metrics.render().decode()
        assert 'kcb_cycles_total{result="aborted"} 1.0' in text
        assert "kcb_last_success_timestamp_seconds 0.0" in text
        assert not fuse.is_mount_point(env.mount_point)
        assert big.stat().st_size == BIG and not (env.sink / ".kcb-staging").exists()
    finally:
        stopper.done.set()
        delete_connectors(connect_worker.url, f"-{sink}")
