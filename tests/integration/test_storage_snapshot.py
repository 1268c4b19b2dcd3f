"""The backup step with real encfs / gocryptfs FUSE mounts, real rsnapshot and a tmpfs target."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.config import Config, Engine, parse_config
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.inspect.snapshots import Snapshot, describe_snapshots
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.tools import fuse
from kafka_connect_backup.tools.volume import ENGINES, mounted_volume
from storage_helpers import (
    PASSWORD,
    StorageEnv,
    mount_tmpfs,
    storage_env,
    tree,
    unmount_all,
    wait_for_copy,
)

pytestmark = pytest.mark.integration

MARKER = "PLAINTEXT-MARKER-q8Zx"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as created:
        yield created


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    configure_logging("INFO")


def write_sink_files(sink: Path) -> dict[str, bytes]:
    files = {
        "orders-sink-2026-11.sink": "".join(
            json.dumps({"utcTime": f"2026-11-01T00:00:{i:02d}Z", "note": MARKER, "n": i}) + "\n"
            for i in range(50)
        ),
        "orders-sink-2026-10.sink": json.dumps({"utcTime": "2026-10-31T23:59:59Z"}) + "\n",
    }
    for name, text in files.items():
        (sink / name).write_text(text)
    # An already compressed file is backed up; other files are not (include/exclude rules).
    subprocess.run(["gzip", "-k", str(sink / "orders-sink-2026-10.sink")], check=True)
    gz = sink / "orders-sink-2026-10.sink.gz"
    gz.rename(sink / "orders-sink-2026-10.sink-1790000000.gz")
    (sink / "notes.txt").write_text("not a sink file\n")
    (sink / "subdir").mkdir()
    (sink / "subdir" / "nested.sink").write_text("not backed up\n")
    return {p.name: p.read_bytes() for p in sink.iterdir() if p.name.endswith((".sink", ".gz"))}


def list_snapshots(config: Config) -> list[Snapshot]:
    """What `kcb snapshots list` describes: every alpha.N of the volume, never initialised."""
    with mounted_volume(config.backup, allow_init=False) as volume:
        return describe_snapshots(volume.snapshot_root, read_records=False)


def plaintext_alpha(env: StorageEnv, index: int = 0) -> dict[str, bytes]:
    with mounted_volume(env.config().backup, allow_init=False) as volume:
        return tree(volume.snapshot_root / f"alpha.{index}" / "localhost")


def assert_unmounted(env: StorageEnv) -> None:
    assert not fuse.is_mount_point(env.mount_point)
    assert fuse.is_mount_point(env.target)  # the tmpfs "NFS volume" is still there


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_round_trip_plaintext_equals_source_and_ciphertext_leaks_nothing(
    env: StorageEnv, engine: str
) -> None:
    expected = write_sink_files(env.sink)
    config = env.config(engine=engine)

    first = backup_snapshot(config)
    assert_unmounted(env)
    assert (first.engine.value, first.initialised) == (engine, True)
    assert first.files == 3
    assert first.bytes == sum(len(v) for v in expected.values())
    config_file = ".encfs6.xml" if engine == "encfs" else "gocryptfs.conf"
    assert (env.target / config_file).is_file()

    assert plaintext_alpha(env) == expected
    assert_unmounted(env)

    # Ciphertext: no plaintext name or content anywhere under the target.
    names = [p.name for p in env.target.rglob("*")]
    for fragment in ("orders", "sink", "alpha", "localhost", "notes"):
        assert not [n for n in names if fragment in n], fragment
    for needle in (MARKER, "utcTime", "orders-sink"):
        grep = subprocess.run(
            ["grep", "-r", "-l", needle, str(env.target)], capture_output=True, check=False
        )
        assert grep.returncode == 1, grep.stdout

    # The second run finds the volume, keeps the first snapshot as alpha.1.
    (env.sink / "orders-sink-2026-11.sink").open("a").write('{"utcTime": "late"}\n')
    second = backup_snapshot(env.config(engine=engine, allowInit=False))
    assert (second.initialised, second.files, second.pruned) == (False, 3, [])
    assert plaintext_alpha(env, 1) == expected
    latest = plaintext_alpha(env, 0)
    assert latest["orders-sink-2026-11.sink"].endswith(b'{"utcTime": "late"}\n')


def test_retention_five_cycles_then_two_prunes_and_logs_each_dir(
    env: StorageEnv, log_lines: io.StringIO
) -> None:
    sink_file = env.sink / "orders-sink-2026-11.sink"
    for cycle in range(5):
        with sink_file.open("a") as handle:
            handle.write(json.dumps({"cycle": cycle}) + "\n")
        result = backup_snapshot(env.config(retention=5))
        assert result.pruned == []
    snapshots = list_snapshots(env.config())
    assert [s.name for s in snapshots] == [f"alpha.{i}" for i in range(5)]
    assert [len(s.files) for s in snapshots] == [1] * 5
    assert [s.bytes for s in snapshots] == sorted((s.bytes for s in snapshots), reverse=True)

    result = backup_snapshot(env.config(retention=2))
    assert sorted(result.pruned) == ["alpha.2", "alpha.3", "alpha.4"]
    assert [s.name for s in list_snapshots(env.config())] == ["alpha.0", "alpha.1"]
    assert plaintext_alpha(env)["orders-sink-2026-11.sink"] == sink_file.read_bytes()

    events = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    pruned = [e["dir"] for e in events if e["event"] == "snapshot.pruned"]
    assert sorted(Path(p).name for p in pruned) == ["alpha.2", "alpha.3", "alpha.4"]
    assert PASSWORD not in log_lines.getvalue()


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_wrong_password_on_existing_volume_changes_nothing(
    env: StorageEnv, engine: str, log_lines: io.StringIO
) -> None:
    write_sink_files(env.sink)
    backup_snapshot(env.config(engine=engine))
    before = tree(env.target)
    env.password_file.write_text("not the password\n")

    with pytest.raises(KcbError) as caught:
        backup_snapshot(env.config(engine=engine))
    assert caught.value.cause == "wrong_password"
    assert str(env.target) in str(caught.value)
    assert "password file" in caught.value.fix
    assert tree(env.target) == before
    assert_unmounted(env)
    assert "not the password" not in log_lines.getvalue() + str(caught.value)


def test_target_not_a_mount_point_refused_then_accepted_on_a_bind_mount(
    env: StorageEnv, tmp_path: Path
) -> None:
    write_sink_files(env.sink)
    plain_dir = tmp_path / "not-mounted"
    plain_dir.mkdir()
    config = env.config(targetDir=str(plain_dir))

    with pytest.raises(KcbError) as caught:
        backup_snapshot(config)
    assert caught.value.cause == "target_not_mounted"
    assert str(plain_dir) in str(caught.value)
    assert "requireTargetMount" in caught.value.fix
    assert list(plain_dir.iterdir()) == []  # nothing initialised into the container's disk

    subprocess.run(["mount", "--bind", str(plain_dir), str(plain_dir)], check=True)
    result = backup_snapshot(config)
    assert (result.initialised, result.files) == (True, 3)

    # requireTargetMount=false accepts a plain directory deliberately.
    other = tmp_path / "plain-target"
    other.mkdir()
    backup_snapshot(env.config(targetDir=str(other), requireTargetMount=False))
    assert (other / ".encfs6.xml").is_file()


def test_missing_target_and_unreadable_password(env: StorageEnv, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-volume"
    with pytest.raises(KcbError) as caught:
        backup_snapshot(env.config(targetDir=str(missing)))
    assert caught.value.cause == "target_missing"
    assert str(missing) in str(caught.value)
    assert not missing.exists()

    for content in (None, "", "\n"):
        if content is None:
            env.password_file.unlink()
        else:
            env.password_file.write_text(content)
        with pytest.raises(KcbError) as caught:
            backup_snapshot(env.config())
        assert caught.value.cause == "password_file_unreadable"
        assert str(env.password_file) in str(caught.value)
    assert list(env.target.iterdir()) == []


def test_non_empty_target_without_volume_refuses_init(env: StorageEnv) -> None:
    write_sink_files(env.sink)
    precious = env.target / "someone-elses-data.bin"
    precious.write_bytes(b"\x00precious")

    with pytest.raises(KcbError) as caught:
        backup_snapshot(env.config(allowInit=True))
    assert caught.value.cause == "target_not_empty"
    assert "someone-elses-data.bin" in str(caught.value)
    assert sorted(p.name for p in env.target.iterdir()) == ["someone-elses-data.bin"]
    assert precious.read_bytes() == b"\x00precious"
    assert_unmounted(env)

    precious.unlink()
    with pytest.raises(KcbError) as caught:
        backup_snapshot(env.config(allowInit=False))
    assert caught.value.cause == "init_not_allowed"
    assert "allowInit" in caught.value.fix
    assert list(env.target.iterdir()) == []


def test_existing_volume_engine_wins_over_config(env: StorageEnv) -> None:
    write_sink_files(env.sink)
    backup_snapshot(env.config(engine="gocryptfs"))
    result = backup_snapshot(env.config(engine="encfs", allowInit=False))
    assert (result.engine.value, result.initialised) == ("gocryptfs", False)
    assert not (env.target / ".encfs6.xml").exists()


@pytest.mark.parametrize(("made_by", "expected"), [(None, "gocryptfs"), ("encfs", "encfs")])
def test_engine_auto_mounts_a_volume_with_its_engine_and_makes_new_ones_with_gocryptfs(
    env: StorageEnv, made_by: str | None, expected: str
) -> None:
    """The default engine (auto): an original encfs volume keeps working, a new one is
    gocryptfs."""
    write_sink_files(env.sink)
    if made_by is not None:
        backup_snapshot(env.config(engine=made_by))
    result = backup_snapshot(env.config(engine="auto", allowInit=made_by is None))
    assert (result.engine.value, result.initialised) == (expected, made_by is None)
    assert set(plaintext_alpha(env)) == {p.name for p in env.sink.glob("*.sink*")}


def test_full_target_is_disk_full_and_the_next_cycle_recovers(tmp_path: Path) -> None:
    with storage_env(tmp_path, target_size="2m") as env:
        big = env.sink / "orders-sink-2026-11.sink"
        big.write_bytes(os.urandom(6 * 1024 * 1024))
        with pytest.raises(KcbError) as caught:
            backup_snapshot(env.config())
        assert caught.value.cause == "disk_full", str(caught.value)
        assert "retention" in caught.value.fix
        assert_unmounted(env)

        big.write_bytes(os.urandom(64 * 1024))
        result = backup_snapshot(env.config(allowInit=False))
        assert result.files == 1
        assert plaintext_alpha(env) == {big.name: big.read_bytes()}


def test_held_rsnapshot_lock_is_reported_and_left_alone(env: StorageEnv) -> None:
    write_sink_files(env.sink)
    env.work.mkdir()
    holder = subprocess.Popen(["sleep", "60"])
    try:
        lockfile = env.work / "rsnapshot.pid"
        lockfile.write_text(f"{holder.pid}\n")
        with pytest.raises(KcbError) as caught:
            backup_snapshot(env.config())
        assert caught.value.cause == "rsnapshot_locked"
        assert str(lockfile) in str(caught.value)
        assert lockfile.read_text() == f"{holder.pid}\n"
        assert_unmounted(env)
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: rsnapshot removes the stale lock (a warning) and the run verifies.
    result = backup_snapshot(env.config(allowInit=False))
    assert (result.files, result.rsnapshot_exit_code) == (3, 2)


def test_rsnapshot_failure_is_reported(env: StorageEnv) -> None:
    write_sink_files(env.sink)
    backup_snapshot(env.config())
    config = env.config(allowInit=False)
    env.sink.rename(env.root / "sink-moved")
    with pytest.raises(KcbError) as caught:
        backup_snapshot(config)
    assert caught.value.cause == "rsnapshot_failed"
    assert "rsnapshot" in str(caught.value)
    assert_unmounted(env)
    assert [s.name for s in list_snapshots(config)] == ["alpha.0"]


def test_mount_point_not_empty_is_refused(env: StorageEnv) -> None:
    write_sink_files(env.sink)
    env.mount_point.mkdir()
    (env.mount_point / "stray").write_text("x")
    with pytest.raises(KcbError) as caught:
        backup_snapshot(env.config())
    assert caught.value.cause == "mount_failed"
    assert "not empty" in str(caught.value)
    assert list(env.target.iterdir()) == []  # refused before initialising anything


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_an_empty_dir_mounted_at_the_mount_point_is_used_a_fuse_mount_there_is_refused(
    env: StorageEnv, engine: str
) -> None:
    # Kubernetes mounts an emptyDir at the chart's mount point: a tmpfs stands in for it.
    expected = write_sink_files(env.sink)
    mount_tmpfs(env.mount_point, "1m")
    config = env.config(engine=engine)
    result = backup_snapshot(config)
    assert result.files == len(expected) and result.engine == Engine(engine)
    mount = fuse.find_mount(env.mount_point)
    assert mount is not None and mount.fs_type == "tmpfs"  # our view gone, the emptyDir kept
    assert list(env.mount_point.iterdir()) == []
    assert plaintext_alpha(env) == expected

    # An encrypted view left mounted there (a killed run) is refused, and left as it is.
    ENGINES[Engine(engine)].mount(env.target, env.mount_point, PASSWORD)
    with pytest.raises(KcbError) as caught:
        backup_snapshot(config)
    assert caught.value.cause == "mount_failed"
    assert "is already mounted" in str(caught.value)
    assert "fusermount -u" in caught.value.fix
    assert fuse.is_fuse_mounted(env.mount_point)
    fuse.unmount(env.mount_point)
    assert [s.name for s in list_snapshots(config)] == ["alpha.0"]


INTERRUPT_SCRIPT = """
import sys
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.core.logs import configure_logging
import json
configure_logging()
backup_snapshot(parse_config(json.loads(sys.argv[1])))
"""


def test_interrupted_backup_stops_rsnapshot_and_unmounts(env: StorageEnv) -> None:
    big = env.sink / "orders-sink-2026-11.sink"
    big.write_bytes(os.urandom(160 * 1024 * 1024))
    config = env.config()
    document = json.dumps(config.model_dump(mode="json", by_alias=True))
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_SCRIPT, document], stderr=subprocess.PIPE, text=True
    )
    try:
        # Interrupt once the copy into .sync is under way.
        lockfile = env.work / "rsnapshot.pid"
        copying = wait_for_copy(env.mount_point, lambda: proc.poll() is None)
        assert copying, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in stderr
    assert "volume.unmounted" in stderr
    assert_unmounted(env)
    assert not lockfile.exists()  # rsnapshot never started
    for leftover in (str(env.work), str(env.sink)):  # no rsnapshot, no orphan rsync
        assert (
            subprocess.run(["pgrep", "-f", leftover], capture_output=True, check=False).returncode
            == 1
        )

    result = backup_snapshot(env.config(allowInit=False, targetDir=str(env.target)))
    assert result.files == 1


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_unchanged_files_are_stored_once_across_snapshots(env: StorageEnv, engine: str) -> None:
    data = os.urandom(8 * 1024 * 1024)
    (env.sink / "orders-sink-2026-10.sink").write_bytes(data)
    for _ in range(3):
        backup_snapshot(env.config(engine=engine))
    assert [s.name for s in list_snapshots(env.config())] == ["alpha.0", "alpha.1", "alpha.2"]
    # rsnapshot's cp -al rotation works through the FUSE view: one ciphertext copy, 3 links.
    usage = int(
        subprocess.run(
            ["du", "-sb", str(env.target)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    assert len(data) < usage < 1.2 * len(data)
    big = [p.stat() for p in env.target.rglob("*") if p.is_file()]
    big = [st for st in big if st.st_size >= len(data)]
    assert len(big) == 4  # four names (alpha.0, .1, .2 and rsnapshot's .sync) ...
    assert {(st.st_ino, st.st_nlink) for st in big} == {(big[0].st_ino, 4)}  # ... one inode


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_a_run_killed_mid_copy_changes_no_snapshot_and_the_next_run_completes(
    env: StorageEnv, engine: str, log_lines: io.StringIO
) -> None:
    """SIGKILL (the container or node gone) mid-copy leaves no chance to clean up: the next run
    finds the marker the killed one wrote, finds every snapshot as it was (the copy only ever
    writes into .sync), removes the partial copy and takes a complete snapshot."""
    small = env.sink / "orders-sink-2026-10.sink"
    small.write_text('{"n": 1}\n')
    backup_snapshot(env.config(engine=engine))
    before = plaintext_alpha(env)
    assert before == {small.name: small.read_bytes()}

    big = env.sink / "orders-sink-2026-11.sink"
    big.write_bytes(os.urandom(160 * 1024 * 1024))
    document = json.dumps(env.config(engine=engine).model_dump(mode="json", by_alias=True))
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_SCRIPT, document],
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    lockfile = env.work / "rsnapshot.pid"
    assert wait_for_copy(env.mount_point, lambda: proc.poll() is None)
    os.killpg(proc.pid, signal.SIGKILL)  # python, rsnapshot and rsync at once, no cleanup
    proc.wait()
    for leftover in (str(env.work), str(env.sink)):  # whatever escaped the process group
        subprocess.run(["pkill", "-9", "-f", leftover], check=False)
    unmount_all(env.mount_point)  # the FUSE view a killed run leaves mounted
    lockfile.unlink(missing_ok=True)  # a new container's /tmp has none

    result = backup_snapshot(env.config(engine=engine, allowInit=False))
    assert result.files == 2
    events = [json.loads(line)["event"] for line in log_lines.getvalue().splitlines()]
    assert "snapshot.killed_run_found" in events
    assert [s.name for s in list_snapshots(env.config())] == ["alpha.0", "alpha.1"]
    assert plaintext_alpha(env, 1) == before  # the snapshot before the killed run, intact
    assert plaintext_alpha(env, 0) == {small.name: small.read_bytes(), big.name: big.read_bytes()}


def test_a_supervisor_starting_after_a_kill_unmounts_the_view_left_mounted(
    env: StorageEnv, log_lines: io.StringIO
) -> None:
    from kafka_connect_backup.supervisor.daemon import Supervisor

    backup_snapshot(env.config())
    ENGINES[Engine.ENCFS].mount(env.target, env.mount_point, PASSWORD)  # what a kill -9 leaves
    assert fuse.is_fuse_mounted(env.mount_point)
    supervisor = Supervisor(env.config(), http=False)
    supervisor.request_stop()  # the loop ends at once: only start and shutdown run
    assert supervisor.run() == 0
    assert not fuse.is_fuse_mounted(env.mount_point)
    events = [json.loads(line)["event"] for line in log_lines.getvalue().splitlines()]
    assert events.index("backup.unmounted_leftover") < events.index("supervisor.stopping")
    assert backup_snapshot(env.config(allowInit=False)).files == 0  # and the next cycle works


def test_a_topic_too_long_for_an_existing_encfs_volume_is_refused_before_the_copy(
    env: StorageEnv,
) -> None:
    """engine auto checks names against gocryptfs (a new volume's) on load; the original's
    encfs volume stores at most 175 bytes per name: the cycle says so, naming the topic,
    instead of failing half-way with "File name too long" in every cycle."""
    write_sink_files(env.sink)
    first = backup_snapshot(env.config(engine="encfs"))
    topic = "t" * 130  # .kcb-copy-{topic}-sink-2026-10.sink-{epoch}.gz.part: 177 bytes
    gz = env.sink / f"{topic}-sink-2026-10.sink-1790000000.gz"
    gz.write_bytes(gzip.compress(b'{"utcTime":"2026-10-01T00:00Z"}\n'))
    data = env.config_data(engine="auto", allowInit=False)
    data["topics"] = ["orders", topic]
    config = parse_config(data)  # fits gocryptfs
    with pytest.raises(KcbError) as caught:
        backup_snapshot(config)
    assert caught.value.cause == "file_name_too_long"
    assert str(caught.value).startswith(
        f"topics.1: '{topic}' (130 characters) is too long for its files' names on the encfs "
        "backup volume: .kcb-copy-{file}.part of a compressed value file"
    )
    assert "takes 177 bytes, at most 175 fit (fix: a topic of at most 128 characters" in str(
        caught.value
    )
    assert [s.name for s in list_snapshots(env.config())] == ["alpha.0"]
    assert first.engine.value == "encfs"
    assert_unmounted(env)
