"""The backup step's copy into rsnapshot's `.sync`, on plain directories (the FUSE engines are
covered by the storage integration tests): what it copies, what it leaves, and that it never
writes through a hard link into a snapshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.shutdown_grace import ShutdownGrace
from kafka_connect_backup.layout.names import COPY_TEMP_PREFIX as TEMP_PREFIX
from kafka_connect_backup.layout.names import COPY_TEMP_SUFFIX as TEMP_SUFFIX
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.supervisor.backup.sync_copy import (
    CHUNK,
    CopyStopped,
    fill_sync_dir,
)

pytestmark = pytest.mark.unit


def make_source(root: Path) -> Path:
    source = root / "filesink"
    source.mkdir()
    (source / "t-s-2026-10.sink").write_bytes(b"old\n" * 1000)
    (source / "t-s-2026-11.sink").write_bytes(b"new\n" * 1000)
    (source / "t-s-2026-09.sink-1790000000.gz").write_bytes(os.urandom(3 * CHUNK + 17))
    (source / "notes.txt").write_text("not backed up\n")
    return source


def snapshot_root(tmp_path: Path) -> Path:
    root = tmp_path / "snapshots"
    root.mkdir()
    return root


def test_copies_every_backed_up_file_with_its_mode_and_time(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    (source / "t-s-2026-10.sink").chmod(0o640)
    os.utime(source / "t-s-2026-10.sink", (1_700_000_000, 1_700_000_000))
    root = snapshot_root(tmp_path)
    result = fill_sync_dir(source, root)
    host = root / ".sync" / "localhost"
    assert sorted(p.name for p in host.iterdir()) == [
        "t-s-2026-09.sink-1790000000.gz",
        "t-s-2026-10.sink",
        "t-s-2026-11.sink",
    ]
    for copy in host.iterdir():
        assert copy.read_bytes() == (source / copy.name).read_bytes()
    copied = (host / "t-s-2026-10.sink").stat()
    assert (copied.st_mode & 0o777, int(copied.st_mtime)) == (0o640, 1_700_000_000)
    assert (result.files, result.bytes) == (3, 8000 + 3 * CHUNK + 17)
    # Nothing changed: nothing is copied again.
    assert fill_sync_dir(source, root).files == 0


def test_a_changed_file_is_renamed_over_never_written_through_the_snapshots_link(
    tmp_path: Path,
) -> None:
    source = make_source(tmp_path)
    root = snapshot_root(tmp_path)
    fill_sync_dir(source, root)
    host = root / ".sync" / "localhost"
    # What `rsnapshot alpha` does: alpha.0 is the hard-link copy of .sync.
    (root / "alpha.0" / "localhost").mkdir(parents=True)
    for copy in host.iterdir():
        os.link(copy, root / "alpha.0" / "localhost" / copy.name)
    with (source / "t-s-2026-11.sink").open("ab") as handle:
        handle.write(b"appended\n")
    result = fill_sync_dir(source, root)
    assert result.files == 1
    assert (host / "t-s-2026-11.sink").read_bytes().endswith(b"appended\n")
    assert (root / "alpha.0" / "localhost" / "t-s-2026-11.sink").read_bytes() == b"new\n" * 1000
    unchanged = root / "alpha.0" / "localhost" / "t-s-2026-10.sink"
    assert (host / "t-s-2026-10.sink").stat().st_ino == unchanged.stat().st_ino


def test_a_volume_without_sync_starts_from_alpha0s_links_and_keeps_no_marker(
    tmp_path: Path,
) -> None:
    """A volume an earlier version wrote (no `.sync`): only what changed since alpha.0 is
    copied; alpha.0's completeness marker and stale temporary files never reach `.sync`."""
    source = make_source(tmp_path)
    root = tmp_path / "snapshots"
    alpha0 = root / "alpha.0" / "localhost"
    alpha0.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != "notes.txt":
            shutil.copy2(path, alpha0 / path.name)  # rsync -a's copy: same size and time
    (root / "alpha.0" / MARKER_NAME).write_text("{}\n")
    with (source / "t-s-2026-11.sink").open("ab") as handle:
        handle.write(b"appended\n")
    result = fill_sync_dir(source, root)
    host = root / ".sync" / "localhost"
    assert result.files == 1
    assert (host / "t-s-2026-10.sink").stat().st_ino == (alpha0 / "t-s-2026-10.sink").stat().st_ino
    assert sorted(p.name for p in (root / ".sync").iterdir()) == ["localhost"]

    (root / ".sync" / MARKER_NAME).write_text("{}\n")  # as if a cp -al had carried one in
    stale = host / f"{TEMP_PREFIX}t-s-2026-12.sink{TEMP_SUFFIX}"
    stale.write_bytes(b"partial")
    assert fill_sync_dir(source, root).files == 0
    assert sorted(p.name for p in (root / ".sync").iterdir()) == ["localhost"]
    assert not stale.exists()


def test_past_the_shutdown_grace_the_copy_stops_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    source = make_source(tmp_path)
    root = snapshot_root(tmp_path)
    with pytest.raises(CopyStopped) as caught:
        fill_sync_dir(source, root, grace=ShutdownGrace(lambda: True, 0.0))
    assert "still running 0s after the shutdown request" in caught.value.message
    assert list((root / ".sync" / "localhost").iterdir()) == []


def test_one_failed_file_fails_the_copy_naming_it(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    root = tmp_path / "snapshots"
    host = root / ".sync" / "localhost"
    (host / "t-s-2026-10.sink").mkdir(parents=True)  # a directory where the copy must go
    with pytest.raises(KcbError) as caught:
        fill_sync_dir(source, root)
    assert caught.value.cause == "snapshot_copy_failed"
    assert "(t-s-2026-10.sink)" in caught.value.message
    assert not any(p.name.startswith(TEMP_PREFIX) for p in host.iterdir())


def test_a_missing_source_is_left_to_rsnapshot_to_report(tmp_path: Path) -> None:
    root = snapshot_root(tmp_path)
    assert fill_sync_dir(tmp_path / "gone", root).files == 0
    assert list(root.iterdir()) == []
