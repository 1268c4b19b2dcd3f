"""The staging view of the sink directory: hard links for files no connector writes, prefix
copies (with the frozen mtime) of the files being appended to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.supervisor import staging

pytestmark = pytest.mark.unit


def test_stage_is_the_directory_as_it_was_at_the_freeze(tmp_path: Path) -> None:
    old = tmp_path / "t-s-2026-10.sink"
    old.write_bytes(b"a\nb\n")
    gz = tmp_path / "t-s-2026-09.sink-1790000000.gz"
    gz.write_bytes(b"\x1f\x8bgz")
    live = tmp_path / "t-s-2026-11.sink"
    live.write_bytes(b"1\n2\n")
    (tmp_path / "notes.txt").write_text("not backed up")
    frozen = staging.freeze(tmp_path)
    assert set(frozen) == {old.name, gz.name, live.name}

    with live.open("ab") as handle:  # Connect resumed and appends
        handle.write(b"3\n4\n")
    new = tmp_path / "t-s-2026-12.sink"  # a new period's file, created after the freeze
    new.write_bytes(b"x\n")
    staged = staging.stage(tmp_path, frozen, [live, new])

    assert sorted(p.name for p in staged.iterdir()) == sorted([old.name, gz.name, live.name])
    assert (staged / live.name).read_bytes() == b"1\n2\n"
    assert (staged / live.name).stat().st_mtime_ns == frozen[live.name].mtime_ns
    assert (staged / old.name).stat().st_ino == old.stat().st_ino  # a link, no copy
    assert staging.freeze(staged) == {
        name: f for name, f in staging.freeze(tmp_path).items() if name != new.name
    } | {live.name: frozen[live.name]}
    staging.clear(tmp_path)
    assert not staged.exists() and old.read_bytes() == b"a\nb\n"


def test_a_written_file_that_shrank_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "t-s-2026-11.sink"
    live.write_bytes(b"1\n2\n")
    frozen = staging.freeze(tmp_path)
    live.write_bytes(b"1\n")
    with pytest.raises(KcbError) as caught:
        staging.stage(tmp_path, frozen, [live])
    assert caught.value.cause == "sink_file_changed"


def test_has_room_counts_only_the_files_being_written(tmp_path: Path) -> None:
    big = tmp_path / "t-s-2026-10.sink"
    with big.open("wb") as handle:
        handle.truncate(shutil.disk_usage(tmp_path).total)  # sparse: the whole disk on paper
    frozen = staging.freeze(tmp_path)
    none = staging.Margin(bytes=0, fraction=0.0)  # independent of this machine's free space
    assert staging.has_room(tmp_path, frozen, [], none)
    assert not staging.has_room(tmp_path, frozen, [big], none)
    big.unlink()


def test_has_room_keeps_the_margin_free(tmp_path: Path) -> None:
    live = tmp_path / "t-s-2026-10.sink"
    live.write_bytes(b"x" * 4096)
    frozen = staging.freeze(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    # Exactly the free space (give or take other writers) decides, with either bound.
    assert staging.has_room(tmp_path, frozen, [live], staging.Margin(free // 2, 0.0))
    assert not staging.has_room(tmp_path, frozen, [live], staging.Margin(free, 0.0))
    assert not staging.has_room(tmp_path, frozen, [live], staging.Margin(0, 1.0))
    assert staging.DEFAULT_MARGIN.of(10**9) == 256 * 1024 * 1024
    assert staging.DEFAULT_MARGIN.of(10**12) == 5 * 10**10


def test_a_file_compressed_since_the_freeze_is_staged_as_its_gz(tmp_path: Path) -> None:
    # The compressor runs between the freeze and the staging: a frozen file may be gone.
    old = tmp_path / "t-s-2026-10.sink"
    old.write_bytes(b"a\n")
    live = tmp_path / "t-s-2026-11.sink"
    live.write_bytes(b"1\n")
    frozen = staging.freeze(tmp_path)
    old.unlink()
    gz = tmp_path / "t-s-2026-10.sink-1790000000.gz"
    gz.write_bytes(b"\x1f\x8bgz")
    staged = staging.stage(tmp_path, frozen, [live])
    assert sorted(p.name for p in staged.iterdir()) == sorted([gz.name, live.name])
