"""Crash-safe compression of idle sink files, with real processes killed mid-way and real gzip
tools reading the result."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kafka_connect_backup.config import SinkRotation, parse_config
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.layout.names import COMPRESS_TEMP_SUFFIX as TEMP_SUFFIX
from kafka_connect_backup.supervisor.compress import (
    CompressResult,
    compress_idle_files,
    compress_stale,
    file_digest,
)
from local_config import local_config
from storage_helpers import mount_tmpfs, unmount_all

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
OLD = (NOW - timedelta(days=31)).timestamp()


def make_sink_file(path: Path, records: int, *, mtime: float = OLD, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    lines = (
        json.dumps(
            {"utcTime": f"2026-10-01T00:00:{i % 60:02d}Z", "id": i, "v": rng.getrandbits(64)}
        )
        + "\n"
        for i in range(records)
    )
    data = "".join(lines).encode()
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return data


def compress(sink: Path) -> CompressResult:
    return compress_idle_files(sink, now=NOW, rotation=SinkRotation.MONTHLY, idle_days=30)


def gz_files(sink: Path) -> list[Path]:
    return sorted(sink.glob("*.gz"))


def test_idle_old_file_compressed_current_and_active_files_untouched(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    old = sink / "orders-sink-2026-10.sink"
    original = make_sink_file(old, 2000)
    old.chmod(0o640)
    current = sink / "orders-sink-2026-11.sink"
    make_sink_file(current, 10)  # idle by time, but the current period's file: never
    active_old = sink / "orders-sink-2026-09.sink"
    make_sink_file(active_old, 10, mtime=(NOW - timedelta(days=3)).timestamp())
    other = sink / "notes.txt"
    other.write_text("x")
    os.utime(other, (OLD, OLD))

    config = parse_config(
        local_config(topics=["orders"], sink_name="sink", sink_path=sink, compressAfterDays=30)
    )
    result = compress_stale(config, NOW)

    target = sink / f"orders-sink-2026-10.sink-{EPOCH}.gz"
    assert [c.target for c in result.compressed] == [target]
    assert result.skipped == [current]
    assert result.compressed[0].bytes_in == len(original)
    assert result.compressed[0].bytes_out == target.stat().st_size < len(original) // 2
    assert sorted(p.name for p in sink.iterdir()) == sorted(
        [target.name, current.name, active_old.name, other.name]
    )
    # Real gzip reads it back: integrity, content, and the source's mode and mtime kept.
    assert subprocess.run(["gzip", "-t", str(target)], check=False).returncode == 0
    assert (
        subprocess.run(["zcat", str(target)], capture_output=True, check=False).stdout == original
    )
    assert gzip.decompress(target.read_bytes()) == original
    assert target.stat().st_mode & 0o777 == 0o640
    assert int(target.stat().st_mtime) == int(OLD)

    # A second run finds nothing to do.
    again = compress(sink)
    assert again.compressed == [] and again.recovered == []


def test_daily_rotation_and_zero_days(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    yesterday = sink / "orders-sink-2026-11-25.sink"
    today = sink / "orders-sink-2026-11-26.sink"
    recent = (NOW - timedelta(minutes=5)).timestamp()
    data = make_sink_file(yesterday, 100, mtime=recent)
    make_sink_file(today, 100, mtime=recent)
    result = compress_idle_files(sink, now=NOW, rotation=SinkRotation.DAILY, idle_days=0)
    assert [c.source for c in result.compressed] == [yesterday]
    assert today.exists() and not yesterday.exists()
    assert gzip.decompress(gz_files(sink)[0].read_bytes()) == data


CRASH_SCRIPT = """
import os, pathlib, sys
from datetime import datetime, timezone
from kafka_connect_backup.config import SinkRotation, parse_config
from kafka_connect_backup.supervisor import compress

where = sys.argv[2]
def crash(*args, **kwargs):
    os._exit(137)
if where == "before_rename":  # the commit's rename (core/durable.commit: Path.replace)
    pathlib.Path.rename = crash
    pathlib.Path.replace = crash
elif where == "before_unlink":
    original = pathlib.Path.unlink
    def unlink(self, missing_ok=False):
        if self.name.endswith(".sink"):
            crash()
        return original(self, missing_ok=missing_ok)
    pathlib.Path.unlink = unlink
now = datetime.fromtimestamp(int(sys.argv[3]), timezone.utc)
compress.compress_idle_files(
    pathlib.Path(sys.argv[1]), now=now, rotation=SinkRotation.MONTHLY, idle_days=30
)
"""


def run_compressor(sink: Path, where: str = "none", now: int = EPOCH) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(sink), where, str(now)])


@pytest.fixture
def big_sink(tmp_path: Path) -> tuple[Path, Path, bytes]:
    sink = tmp_path / "sink"
    sink.mkdir()
    source = sink / "orders-sink-2026-10.sink"
    data = make_sink_file(source, 60_000)
    return sink, source, data


def test_crash_before_rename_leaves_source_and_temp_next_run_cleans_up(
    big_sink: tuple[Path, Path, bytes],
) -> None:
    sink, source, data = big_sink
    assert run_compressor(sink, "before_rename").wait() == 137
    temps = list(sink.glob(f".*{TEMP_SUFFIX}"))
    assert len(temps) == 1 and gz_files(sink) == []
    assert source.read_bytes() == data

    result = compress(sink)
    assert result.temp_removed == temps
    assert list(sink.glob(f".*{TEMP_SUFFIX}")) == []
    assert not source.exists()
    (gz,) = gz_files(sink)
    assert gzip.decompress(gz.read_bytes()) == data


def test_crash_after_rename_keeps_both_next_run_removes_source_without_duplicate(
    big_sink: tuple[Path, Path, bytes],
) -> None:
    sink, source, data = big_sink
    assert run_compressor(sink, "before_unlink").wait() == 137
    (gz,) = gz_files(sink)
    assert source.read_bytes() == data
    assert gzip.decompress(gz.read_bytes()) == data

    # A later run (another epoch) must not make a second archive of the same records.
    result = compress_idle_files(
        sink, now=NOW + timedelta(days=1), rotation=SinkRotation.MONTHLY, idle_days=30
    )
    assert result.recovered == [source] and result.compressed == []
    assert gz_files(sink) == [gz] and not source.exists()


def test_killed_at_random_instants_always_leaves_source_or_complete_gz(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    source = sink / "orders-sink-2026-10.sink"
    # ~64 MB (a 4 MB block repeated: deflate's 32 KB window cannot see the repetition, so it
    # costs as much CPU as unique data) so that kills land while the stream is being written.
    block = make_sink_file(source, 60_000)
    data = block * (64 * 1024 * 1024 // len(block))
    source.write_bytes(data)
    os.utime(source, (OLD, OLD))
    expected = file_digest(source)
    kills, temps_seen = 0, 0
    for delay in (0.5, 0.9, 1.3, 1.7, 2.2, 3.0, 4.0):
        proc = run_compressor(sink)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        temps_seen += len(list(sink.glob(f".*{TEMP_SUFFIX}")))
        complete = [gz for gz in gz_files(sink) if gzip.decompress(gz.read_bytes()) == data]
        assert source.exists() or complete, f"data lost after a kill at {delay}s"
        assert len(gz_files(sink)) == len(complete)  # never a partial .gz under a final name
        if not source.exists():
            break
        assert file_digest(source) == expected
    assert kills >= 1 and temps_seen >= 1  # at least one kill hit the compression mid-way
    compress(sink)
    (gz,) = gz_files(sink)
    assert gzip.decompress(gz.read_bytes()) == data
    assert not source.exists()
    assert list(sink.glob(f".*{TEMP_SUFFIX}")) == []


@pytest.mark.parametrize(
    "kind", ["prefix", "damaged"], ids=["holds-a-prefix-of-the-source", "damaged"]
)
def test_conflicting_gz_is_left_for_an_operator(tmp_path: Path, kind: str) -> None:
    """A .gz of the same name holding the start of the source (a run cut short after its
    rename, then the file appended to) or not readable: compressing again could archive the
    same records twice."""
    sink = tmp_path / "sink"
    sink.mkdir()
    source = sink / "orders-sink-2026-10.sink"
    data = make_sink_file(source, 100)
    other = sink / f"{source.name}-1700000000.gz"
    content = gzip.compress(data[:500]) if kind == "prefix" else b"\x1f\x8b not gzip"
    other.write_bytes(content)
    result = compress(sink)
    assert result.skipped == [source] and result.compressed == []
    assert source.exists() and other.read_bytes() == content


def test_an_earlier_file_of_the_same_name_is_no_conflict(tmp_path: Path) -> None:
    """A .gz of an earlier file of the same name (set aside when a sinkRotation switch back
    pointed the connector at the name again): the new file is compressed beside it."""
    sink = tmp_path / "sink"
    sink.mkdir()
    source = sink / "orders-sink-2026-10.sink"
    data = make_sink_file(source, 100)
    other = sink / f"{source.name}-1700000000.gz"
    other.write_bytes(gzip.compress(b"different\n"))
    result = compress(sink)
    assert [c.target.name for c in result.compressed] == [f"{source.name}-{EPOCH}.gz"]
    assert not source.exists() and gzip.decompress(other.read_bytes()) == b"different\n"
    assert gzip.decompress(result.compressed[0].target.read_bytes()) == data


def test_full_disk_is_disk_full_and_source_intact(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    try:
        mount_tmpfs(sink, "1m")
        source = sink / "orders-sink-2026-10.sink"
        data = os.urandom(700 * 1024)
        source.write_bytes(data)
        os.utime(source, (OLD, OLD))
        with pytest.raises(KcbError) as caught:
            compress(sink)
        assert caught.value.cause == "disk_full"
        assert str(sink) in str(caught.value)
        assert [p.name for p in sink.iterdir()] == [source.name]
        assert source.read_bytes() == data
    finally:
        unmount_all(tmp_path)


def test_truncated_gz_from_elsewhere_is_not_trusted(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    source = sink / "orders-sink-2026-10.sink"
    data = make_sink_file(source, 500)
    truncated = zlib.compressobj(6, zlib.DEFLATED, 31)
    partial = truncated.compress(data) + truncated.flush()
    (sink / f"{source.name}-1700000000.gz").write_bytes(partial[: len(partial) // 2])
    result = compress(sink)
    assert result.skipped == [source]
    assert source.read_bytes() == data
