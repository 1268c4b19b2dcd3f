"""The completeness marker with real rsnapshot, rsync and encfs / gocryptfs FUSE mounts: every
verified snapshot is marked, rotation keeps the older marker, and what a killed rsync or a
failed verification leaves is listed as incomplete, refused by restore, and healed (discarded,
or kept as the only copy) before the next rotation; rsync's temporary files never reach a
kept snapshot."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.config import Config, load_config
from kafka_connect_backup.layout.names import MARKER_NAME, RUN_MARKER, SYNC_DIR
from kafka_connect_backup.layout.snapshot_status import NO_MARKER, is_rsync_temp
from kafka_connect_backup.restore.cli import main as restore_main
from kafka_connect_backup.supervisor.backup.snapshot import LOCK_NAME, backup_snapshot
from kafka_connect_backup.tools.volume import mounted_volume
from local_config import write_config
from storage_helpers import StorageEnv, storage_env, tree, unmount_all
from waiting import eventually

pytestmark = pytest.mark.integration

SMALL = "orders-sink-2026-10.sink"
BIG = "orders-sink-2026-11.sink"
RSYNC_TEMP = re.compile(rf"^\.{re.escape(BIG)}\.[A-Za-z0-9]{{6}}$")

# A run of the version before sync_copy.py (its run marker, then `rsnapshot alpha` without
# sync_first: rotation, then rsync straight into alpha.0): what a kill mid-rsync left on a
# volume that version wrote, for this version to judge.
KILLED_RUN = """
import json, sys
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.supervisor.backup import interrupted
from kafka_connect_backup.supervisor.backup.snapshot import LOCK_NAME
from kafka_connect_backup.tools import rsnapshot
from kafka_connect_backup.tools.volume import mounted_volume
config = parse_config(json.loads(sys.argv[1]))
backup = config.backup
lockfile = backup.work_dir / LOCK_NAME
with mounted_volume(backup, allow_init=False) as volume:
    root = volume.snapshot_root
    interrupted.mark_run(root, interrupted.fingerprints(root))
    text = rsnapshot.render_config(
        snapshot_root=root, source_dir=config.sink_path, levels=backup.levels,
        lockfile=lockfile,
    )
    conf = backup.work_dir / "older-rsnapshot.conf"
    # --bwlimit: rsync writes the big file for ~10 s, a window a busy machine cannot miss.
    text = text.replace("--delete-excluded", "--delete-excluded --bwlimit=16m")
    rsnapshot.write_config(conf, text.replace("sync_first\\t1\\n", ""))
    rsnapshot.run(conf, lockfile)
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path, target_size="512m") as created:
        yield created


class Events:
    """The JSON log events from `start()` on (kcb and restore.py configure logging anew)."""

    def start(self) -> None:
        from kafka_connect_backup.core.logs import configure_logging

        self.stream = io.StringIO()
        configure_logging("DEBUG", self.stream)

    def named(self, name: str) -> list[dict[str, object]]:
        lines = (json.loads(line) for line in self.stream.getvalue().splitlines())
        return [e for e in lines if e["event"] == name]


@pytest.fixture
def events() -> Iterator[Events]:
    from kafka_connect_backup.core.logs import configure_logging

    captured = Events()
    captured.start()
    yield captured
    configure_logging("INFO")


def config_path(env: StorageEnv, engine: str, **backup: object) -> Path:
    return write_config(env.root / "config.yaml", env.config_data(engine=engine, **backup))


def snapshots(config: Config) -> dict[str, dict[str, bytes]]:
    """Every directory of the snapshot root (alpha.N and set-aside ones) and its files."""
    with mounted_volume(config.backup, allow_init=False) as volume:
        return {
            p.name: tree(p)
            for p in sorted(volume.snapshot_root.iterdir())
            if p.is_dir() and p.name != SYNC_DIR
        }


def listing(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    """`kcb snapshots list --json` through the private mount, by name."""
    capsys.readouterr()
    assert kcb(["snapshots", "list", "--config", str(path), "--json", "--no-range"]) == 0
    return {s["name"]: s for s in json.loads(capsys.readouterr().out)}


def restore_dry_run(path: Path, snapshot: str, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    argv = ["orders", "--from", "2026-01-01", "--snapshot", snapshot, "--dry-run"]
    code = restore_main(
        [*argv, "--config", str(path), "--sink-name", "sink", *extra],
        stdin=io.StringIO(""),
        stdout=io.StringIO(),
        stderr=err,
    )
    return code, err.getvalue()


def rsync_temps_anywhere(config: Config) -> list[str]:
    with mounted_volume(config.backup, allow_init=False) as volume:
        return sorted(
            str(p.relative_to(volume.snapshot_root))
            for p in volume.snapshot_root.rglob("*")
            if is_rsync_temp(p.name)
        )


def kill_mid_rsync(env: StorageEnv, config: Config) -> None:
    """A run of the previous version (KILLED_RUN) killed outright (SIGKILL to python,
    rsnapshot and rsync) while rsync writes the big file into alpha.0, after it replaced the
    (changed) small one there (rsync goes by name); the FUSE view it left mounted is
    unmounted."""
    with (env.sink / SMALL).open("a") as handle:
        handle.write('{"utcTime": "2026-10-02T00:00:00Z"}\n')
    (env.sink / BIG).write_bytes(os.urandom(160 * 1024 * 1024))
    document = json.dumps(config.model_dump(mode="json", by_alias=True))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, document],
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    lockfile = env.work / LOCK_NAME

    def while_running(check: Callable[[], bool]) -> Callable[[], bool]:
        def probe() -> bool:
            if check():
                return True
            assert proc.poll() is None, f"the run ended early: {proc.returncode}"
            return False

        return probe

    # Bounds for a busy machine, not waits.
    eventually(while_running(lockfile.exists), "the run's lock", timeout=180, interval=0.02)
    assert lockfile.exists()
    host = env.mount_point / "alpha.0" / "localhost"  # the killed run's mount, seen from here

    def writing() -> bool:
        return host.is_dir() and any(RSYNC_TEMP.match(p.name) for p in host.iterdir())

    eventually(while_running(writing), "rsync's temporary file", timeout=180, interval=0.01)
    assert writing()  # rsync is writing the big file into alpha.0
    # Frozen first, all of them, then killed: an rsync process that outlived its peers by a
    # moment would clean up (delete) its temporary file, which a real kill may not leave time for.
    os.killpg(proc.pid, signal.SIGSTOP)
    for leftover in (str(env.work), str(env.sink)):
        subprocess.run(["pkill", "-STOP", "-f", leftover], check=False)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for leftover in (str(env.work), str(env.sink)):
        subprocess.run(["pkill", "-9", "-f", leftover], check=False)
    unmount_all(env.mount_point)
    lockfile.unlink(missing_ok=True)


def drop_run_marker(config: Config) -> None:
    """As when the run marker could not be written (or a version before it ran): only the
    completeness markers are left to judge by."""
    with mounted_volume(config.backup, allow_init=False) as volume:
        (volume.snapshot_root / RUN_MARKER).unlink()


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_each_verified_snapshot_is_marked_and_rotation_keeps_the_older_marker(
    env: StorageEnv, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (env.sink / SMALL).write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, engine)
    config = load_config(path)
    backup_snapshot(config)
    first = json.loads(snapshots(config)["alpha.0"][MARKER_NAME])
    assert (first["format"], first["verified"], first["files"], first["bytes"]) == (1, True, 1, 36)
    assert first["listing"]["entries"] == 1

    with (env.sink / SMALL).open("a") as handle:
        handle.write('{"utcTime": "2026-10-02T00:00:00Z"}\n')
    backup_snapshot(config)
    after = snapshots(config)
    assert json.loads(after["alpha.1"][MARKER_NAME]) == first  # cp -al's link kept it
    second = json.loads(after["alpha.0"][MARKER_NAME])
    assert (second["bytes"], second["listing"]["entries"]) == (72, 1)
    assert second["listing"]["sha256"] != first["listing"]["sha256"]
    with mounted_volume(config.backup, allow_init=False) as volume:
        inodes = {(volume.snapshot_root / n / MARKER_NAME).stat().st_ino for n in after}
    assert len(inodes) == 2  # rewritten as a new file, not in place through the hard link
    statuses = {n: (s["status"], s["verified_at"]) for n, s in listing(path, capsys).items()}
    assert statuses == {
        "alpha.0": ("complete", second["finished"]),
        "alpha.1": ("complete", first["finished"]),
    }


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_a_killed_rsync_is_judged_by_the_marker_listed_refused_and_discarded(
    env: StorageEnv, engine: str, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed mid-rsync and no run marker left to say so: alpha.0 still holds the marker
    hard-linked from its previous content, which no longer matches; it is incomplete."""
    (env.sink / SMALL).write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, engine)
    config = load_config(path)
    backup_snapshot(config)
    before = snapshots(config)["alpha.0"]
    kill_mid_rsync(env, config)
    drop_run_marker(config)

    # What the killed rsync left: its temporary file, with rsync's own name for it.
    (temp,) = rsync_temps_anywhere(config)
    assert temp.startswith("alpha.0/localhost/")
    assert RSYNC_TEMP.match(temp.rsplit("/", 1)[1])
    listed = listing(path, capsys)
    assert [(n, s["status"]) for n, s in listed.items()] == [
        ("alpha.0", "incomplete"),
        ("alpha.1", "complete"),
    ]
    finished = json.loads(before[MARKER_NAME])["finished"]
    reason = (
        f"its content changed after the verification of {finished} (a backup run was cut "
        "short while rsync was writing it)"
    )
    assert listed["alpha.0"]["status_reason"] == reason
    code, err = restore_dry_run(path, "alpha.0")
    assert code == 2
    assert err.startswith("restore.py: error: snapshot alpha.0 in ")
    assert err.endswith(
        f" is incomplete: {reason}. Restore from a complete snapshot (alpha.1) (kcb snapshots "
        "list shows each one's status), or give --allow-incomplete to read what it holds "
        "anyway\n"
    )

    events.start()
    result = backup_snapshot(config)
    assert result.files == 2
    (discarded,) = events.named("snapshot.incomplete_discarded")
    assert discarded["removed"] == {"alpha.0": f"incomplete: {reason}"}
    assert discarded["renamed"] == {"alpha.1": "alpha.0"}
    after = snapshots(config)
    assert list(after) == ["alpha.0", "alpha.1"]
    assert after["alpha.1"] == before  # the snapshot before the killed run, marker and all
    assert after["alpha.0"][f"localhost/{BIG}"] == (env.sink / BIG).read_bytes()
    assert rsync_temps_anywhere(config) == []
    assert [s["status"] for s in listing(path, capsys).values()] == ["complete", "complete"]


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_an_older_versions_snapshot_never_carries_a_killed_rsyncs_temp_file_on(
    env: StorageEnv, engine: str, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported defect: after a kill mid-rsync, rsnapshot's next `cp -al` copied the
    temporary file into alpha.1 (rsync's --delete-excluded only cleans alpha.0). Snapshots
    without a marker (the original chart's) are unverified: kept, never discarded."""
    (env.sink / SMALL).write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, engine)
    config = load_config(path)
    backup_snapshot(config)
    with mounted_volume(config.backup, allow_init=False) as volume:
        (volume.snapshot_root / "alpha.0" / MARKER_NAME).unlink()  # as the original made it
    kill_mid_rsync(env, config)
    drop_run_marker(config)
    (temp,) = rsync_temps_anywhere(config)
    listed = listing(path, capsys)
    assert [(n, s["status"], s["status_reason"]) for n, s in listed.items()] == [
        ("alpha.0", "unverified", NO_MARKER),
        ("alpha.1", "unverified", NO_MARKER),
    ]
    code, err = restore_dry_run(path, "alpha.1")
    assert code == 0
    assert err.endswith(
        f"warning: snapshot alpha.1 is unverified ({NO_MARKER}): its files are read as they are\n"
    )

    events.start()
    backup_snapshot(config)
    (removed,) = events.named("snapshot.rsync_temp_removed")
    assert removed["files"] == [temp.rsplit("/", 1)[1]]
    assert events.named("snapshot.incomplete_discarded") == []
    after = snapshots(config)
    assert list(after) == ["alpha.0", "alpha.1", "alpha.2"]
    assert rsync_temps_anywhere(config) == []
    assert [s["status"] for s in listing(path, capsys).values()] == [
        "complete",
        "unverified",
        "unverified",
    ]


def test_retention_one_killed_rsync_only_copy_is_kept_then_made_complete(
    env: StorageEnv, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    """retain 1: rsnapshot rsyncs into alpha.0 in place, so a killed run leaves no other
    copy. Without a run marker the completeness marker says incomplete: it is kept (the only
    copy), listed, refused, and the next run rsyncs it complete."""
    (env.sink / SMALL).write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, "gocryptfs", retention=1)
    config = load_config(path)
    backup_snapshot(config)
    kill_mid_rsync(env, config)
    drop_run_marker(config)
    assert [s["status"] for s in listing(path, capsys).values()] == ["incomplete"]
    assert restore_dry_run(path, "alpha.0")[0] == 2
    code, err = restore_dry_run(path, "alpha.0", "--allow-incomplete")
    assert code == 0
    assert "warning: snapshot alpha.0 is incomplete (its content changed after" in err

    events.start()
    backup_snapshot(config)
    (kept,) = events.named("snapshot.incomplete_kept")
    assert str(kept["status"]).startswith("incomplete: its content changed after")
    assert rsync_temps_anywhere(config) == []
    assert [s["status"] for s in listing(path, capsys).values()] == ["complete"]
    assert snapshots(config)["alpha.0"][f"localhost/{BIG}"] == (env.sink / BIG).read_bytes()


def test_retention_one_killed_run_with_its_marker_sets_alpha0_aside_flagged(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the run marker, the interrupted-run rule cannot explain an alpha.0 rsync changed
    in place: it is set aside, never deleted, and the listing flags it."""
    (env.sink / SMALL).write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, "gocryptfs", retention=1)
    config = load_config(path)
    backup_snapshot(config)
    kill_mid_rsync(env, config)
    backup_snapshot(config)
    listed = listing(path, capsys)
    (aside,) = (n for n in listed if n != "alpha.0")
    assert re.fullmatch(r"_incomplete\.alpha\.0\.[0-9]+", aside)
    assert (listed["alpha.0"]["status"], listed[aside]["status"]) == ("complete", "incomplete")
    assert listed[aside]["quarantined"] is True
    assert str(listed[aside]["status_reason"]).startswith(
        "set aside by the interrupted-run cleanup at "
    )
    capsys.readouterr()
    assert kcb(["snapshots", "list", "--config", str(path), "--no-range"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{aside} ") and "  SET ASIDE  " in line for line in text)
    assert text[-1] == (
        f"incomplete: {aside}: restore.py --snapshot refuses them unless --allow-incomplete is "
        "given; restore from a complete snapshot instead"
    )
    code, err = restore_dry_run(path, aside)
    assert code == 2 and "--allow-incomplete" in err


def test_a_failed_verification_rotates_nothing_and_the_next_run_copies_again(
    env: StorageEnv, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    """The source changes under a running backup once its copy in .sync is made, keeping its
    size and modification time (so rsync's quick check passes it): the real verification of
    .sync finds the content differs, nothing is rotated, and the next run copies it again."""
    from kafka_connect_backup.core.errors import KcbError

    small = env.sink / SMALL
    small.write_text('{"utcTime": "2026-10-01T00:00:00Z"}\n')
    path = config_path(env, "encfs")
    config = load_config(path)
    backup_snapshot(config)
    before = snapshots(config)["alpha.0"]
    with small.open("a") as handle:
        handle.write('{"utcTime": "2026-10-02T00:00:00Z"}\n')
    (env.sink / BIG).write_bytes(os.urandom(160 * 1024 * 1024))
    copy = env.mount_point / SYNC_DIR / "localhost" / SMALL
    changed: list[bool] = []

    def change_source_once_copied() -> bool:  # polled while the big file is copied
        if not changed and copy.exists() and copy.stat().st_size == small.stat().st_size:
            kept = small.stat()
            small.write_bytes(small.read_bytes().replace(b"10-02", b"10-03"))
            os.utime(small, ns=(kept.st_atime_ns, kept.st_mtime_ns))
            changed.append(True)
        return False

    with pytest.raises(KcbError) as caught:
        backup_snapshot(config, stop_requested=change_source_once_copied)
    assert changed and caught.value.cause == "snapshot_incomplete"
    assert f"{SMALL}: content differs from the source" in caught.value.message
    assert caught.value.message.endswith(
        "; nothing was rotated: alpha.0 is still the previous snapshot"
    )
    assert snapshots(config) == {"alpha.0": before}
    assert [(n, s["status"]) for n, s in listing(path, capsys).items()] == [("alpha.0", "complete")]

    events.start()
    result = backup_snapshot(config)
    assert result.files == 2 and result.copied_files == 1  # the differing copy was dropped
    after = snapshots(config)
    assert list(after) == ["alpha.0", "alpha.1"] and after["alpha.1"] == before
    assert after["alpha.0"][f"localhost/{SMALL}"] == small.read_bytes()
    assert b"10-03" in small.read_bytes()
