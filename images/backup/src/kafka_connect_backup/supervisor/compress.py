"""Compress idle sink files to `{file}-{epoch}.gz`, crash-safely.

A file is compressed when it has not been modified for `compressAfterDays` and is not the
current period's file. Each file goes through: temp file in the same directory, gzip stream,
fsync, read-back check against the source's CRC-32 and length, rename, fsync of the directory,
and only then removal of the source. A crash at any instant therefore leaves the source, or a
complete `.gz` (possibly beside the source); the next run removes leftover temp files and,
when a complete `.gz` of a source already exists, checks it and removes the source instead of
compressing it a second time (which would duplicate its records on restore).

A file a connector is about to be pointed at again after another file of its topic was written
(sinkRotation or sinkFormat switched back within one of its periods: monthly -> hourly ->
monthly in one month) is compressed first (`set_aside_reopened`): appended to, it would hold
records from before and after the other file's, and no order of the files would replay them
as written. Its `.gz` keeps its last write, so restore replays it before the later files, and
the connector starts a new file of that name (a `.gz` of the same name whose content is not a
prefix of the new file is such an earlier file, not a leftover of a cut-short run).
"""

from __future__ import annotations

import errno
import os
import re
import struct
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kafka_connect_backup.config import Config, SinkRotation
from kafka_connect_backup.core.durable import commit, fsync_dir, remove_temp_files
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.layout.names import COMPRESS_TEMP_SUFFIX
from kafka_connect_backup.layout.sinkfiles import (
    compress_temp_name,
    compressed_name,
    parse_sink_file,
    period_of,
)

LEVEL = 6
BLOCK_SIZE = 4 * 1024 * 1024
MAX_THREADS = 4
# Reading a gzip container (header + CRC-32/ISIZE trailer) with zlib: wbits 16 + 15.
_GZIP_WBITS = 31
# gzip header: magic, deflate, no flags, mtime 0 (like gzip -n), no extra flags, OS unix.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_WINDOW = 32 * 1024
_TEMP_NAME = re.compile(r"^\..+\.sink-\d+\.gz" + re.escape(COMPRESS_TEMP_SUFFIX) + "$")

log = get_logger(__name__)


@dataclass(frozen=True)
class Compressed:
    source: Path
    target: Path
    bytes_in: int
    bytes_out: int
    seconds: float


@dataclass
class CompressResult:
    compressed: list[Compressed] = field(default_factory=list)
    # Sources removed because a complete, identical .gz from an interrupted run existed.
    recovered: list[Path] = field(default_factory=list)
    temp_removed: list[Path] = field(default_factory=list)
    # Idle by time but skipped: the current period's file, or a conflicting .gz.
    skipped: list[Path] = field(default_factory=list)

    @property
    def bytes_in(self) -> int:
        return sum(c.bytes_in for c in self.compressed)


@dataclass(frozen=True)
class _Digest:
    crc: int
    length: int


class _SourceChanged(Exception):
    pass


def temp_name(target: Path) -> Path:
    return target.with_name(compress_temp_name(target.name))


def _blocks(handle: int) -> Iterator[bytes]:
    while chunk := os.read(handle, BLOCK_SIZE):
        yield chunk


def gzip_digest(path: Path) -> _Digest:
    """CRC-32 and length of the decompressed content; raises zlib.error (or EOFError for a
    truncated stream) when the file is not one complete gzip stream whose trailer checks."""
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    crc, length = 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for block in _blocks(fd):
            chunk = block
            while chunk:
                # Bounded output: a small block of a repetitive file can inflate enormously.
                data = decompressor.decompress(chunk, BLOCK_SIZE)
                crc, length = zlib.crc32(data, crc), length + len(data)
                chunk = decompressor.unconsumed_tail
                if decompressor.eof and (decompressor.unused_data or chunk):
                    raise zlib.error(f"{path}: data after the gzip stream")
    finally:
        os.close(fd)
    data = decompressor.flush()
    crc, length = zlib.crc32(data, crc), length + len(data)
    if not decompressor.eof:
        raise EOFError(f"{path}: truncated gzip stream")
    return _Digest(crc, length)


def file_digest(path: Path) -> _Digest:
    crc, length = 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for chunk in _blocks(fd):
            crc, length = zlib.crc32(chunk, crc), length + len(chunk)
    finally:
        os.close(fd)
    return _Digest(crc, length)


def default_threads() -> int:
    return max(1, min(MAX_THREADS, len(os.sched_getaffinity(0))))


def _deflate(block: bytes, dictionary: bytes, level: int, last: bool) -> bytes:
    """Raw deflate of one block, primed with the previous block's last 32 KiB so matches may
    reach back across the boundary; non-final blocks end with a sync flush (byte-aligned, no
    final bit), so the pieces concatenate into one deflate stream (pigz's method)."""
    compressor = (
        zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
        if dictionary
        else zlib.compressobj(level, zlib.DEFLATED, -15)
    )
    return compressor.compress(block) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
    )


def _write_gzip(
    source: Path, temp: Path, level: int, threads: int
) -> tuple[_Digest, int, os.stat_result]:
    """Stream source into temp as one gzip member; fsync it; return the source digest and the
    output size. Blocks are deflated on `threads` threads (zlib releases the GIL)."""
    src = os.open(source, os.O_RDONLY)
    try:
        before = os.fstat(src)
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            crc, length = 0, 0
            written = _write_all(out, _GZIP_HEADER)
            pending: deque[Future[bytes]] = deque()
            with ThreadPoolExecutor(threads) as pool:
                block, previous = os.read(src, BLOCK_SIZE), b""
                while True:
                    following = os.read(src, BLOCK_SIZE) if block else b""
                    last = not following
                    crc, length = zlib.crc32(block, crc), length + len(block)
                    pending.append(pool.submit(_deflate, block, previous[-_WINDOW:], level, last))
                    while pending and (last or len(pending) > 2 * threads):
                        written += _write_all(out, pending.popleft().result())
                    if last:
                        break
                    block, previous = following, block
            trailer = struct.pack("<II", crc, length & 0xFFFFFFFF)
            written += _write_all(out, trailer)
            os.fchmod(out, before.st_mode & 0o7777)
            os.fsync(out)
        finally:
            os.close(out)
        after = os.fstat(src)
    finally:
        os.close(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise _SourceChanged(f"{source} changed while it was compressed")
    return _Digest(crc, length), written, before


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


def _disk_full(path: Path, exc: OSError) -> KcbError:
    return KcbError(
        f"no space left while compressing in {path.parent}: {exc.strerror}",
        fix=f"free space on the volume holding {path.parent} (the source file is intact)",
        cause="disk_full",
    )


def compress_file(
    source: Path, epoch: int, *, level: int = LEVEL, threads: int | None = None
) -> Compressed:
    """Compress one file to `{source}-{epoch}.gz` atomically, then remove the source."""
    start = time.monotonic()
    target = compressed_name(source, epoch)
    temp = temp_name(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; not overwriting it")
    try:
        digest, written, before = _write_gzip(source, temp, level, threads or default_threads())
        if gzip_digest(temp) != digest:
            raise OSError(errno.EIO, f"read-back check of {temp} failed")
        # Keep the source's times, as gzip does: the .gz still says when the data was written.
        os.utime(temp, ns=(before.st_atime_ns, before.st_mtime_ns))
        commit(temp, target)  # the .gz is durable under its final name...
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise _disk_full(source, exc) from exc
        raise
    source.unlink()  # ...before the source goes
    fsync_dir(source.parent)
    return Compressed(source, target, digest.length, written, time.monotonic() - start)


def _previous_gz(source: Path) -> list[Path]:
    pattern = re.compile(re.escape(source.name) + r"-\d+\.gz$")
    return sorted(p for p in source.parent.iterdir() if pattern.match(p.name))


def idle_candidates(
    sink_dir: Path, *, now: datetime, rotation: SinkRotation, idle_days: float
) -> tuple[list[Path], list[Path]]:
    """(idle sink files to compress, idle files skipped because they are the current
    period's). Only regular `...-{period}.sink` files directly in sink_dir are considered."""
    current = period_of(now, rotation)
    cutoff = now.timestamp() - idle_days * 86400
    idle: list[Path] = []
    current_files: list[Path] = []
    for path in sorted(sink_dir.iterdir()):
        name = parse_sink_file(path)
        if name is None or name.compressed or path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_mtime > cutoff:
            continue
        (current_files if name.period == current else idle).append(path)
    return idle, current_files


def compress_idle_files(
    sink_dir: Path,
    *,
    now: datetime,
    rotation: SinkRotation,
    idle_days: float,
    level: int = LEVEL,
    threads: int | None = None,
) -> CompressResult:
    """Compress every sink file of sink_dir idle longer than idle_days, except the current
    period's. Raises KcbError(disk_full) on ENOSPC, KcbError(compress_failed) after trying
    every file when some could not be compressed; sources are never lost either way."""
    # Temp files an interrupted run left behind (never a source or a .gz).
    removed = remove_temp_files(sink_dir, lambda name: bool(_TEMP_NAME.match(name)))
    for path in removed:
        log.warning("compress.temp_removed", path=str(path))
    result = CompressResult(temp_removed=removed)
    idle, current_files = idle_candidates(sink_dir, now=now, rotation=rotation, idle_days=idle_days)
    result.skipped.extend(current_files)
    epoch = int(now.timestamp())
    failures: list[str] = []
    for source in idle:
        try:
            if _recover(source, result):
                continue
            done = compress_file(source, epoch, level=level, threads=threads)
        except KcbError:
            raise
        except (OSError, zlib.error, EOFError, _SourceChanged) as exc:
            log.error("compress.file_failed", path=str(source), error=str(exc))
            failures.append(f"{source}: {exc}")
            continue
        result.compressed.append(done)
        log.info(
            "compress.file_compressed",
            source=str(done.source),
            target=str(done.target),
            bytes_in=done.bytes_in,
            bytes_out=done.bytes_out,
            seconds=round(done.seconds, 3),
        )
    if failures:
        raise KcbError(
            "could not compress: " + "; ".join(failures),
            fix="check permissions and the files named; the sources are intact",
            cause="compress_failed",
        )
    return result


def _prefix_digest(path: Path, length: int) -> _Digest:
    """CRC-32 and length of the first `length` bytes of path (fewer when it is shorter)."""
    crc, done = 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while done < length and (chunk := os.read(fd, min(BLOCK_SIZE, length - done))):
            crc, done = zlib.crc32(chunk, crc), done + len(chunk)
    finally:
        os.close(fd)
    return _Digest(crc, done)


def _recover(source: Path, result: CompressResult) -> bool:
    """If an interrupted run already renamed a complete .gz of source into place, remove the
    source when that .gz holds exactly its content. True when source needs no compression."""
    previous = _previous_gz(source)
    if not previous:
        return False
    digest = file_digest(source)
    earlier = 0  # .gz files of an earlier file of this name (set aside, set_aside_reopened)
    for gz in previous:
        try:
            theirs: _Digest | None = gzip_digest(gz)
        except (zlib.error, EOFError):
            theirs = None
        if theirs == digest:
            source.unlink()
            fsync_dir(source.parent)
            result.recovered.append(source)
            log.warning("compress.recovered", source=str(source), gz=str(gz))
            return True
        # Empty, it holds no record to archive twice.
        if theirs is not None and (
            theirs.length == 0 or _prefix_digest(source, theirs.length) != theirs
        ):
            earlier += 1
    if earlier == len(previous):
        return False
    # A damaged .gz of the same name, or one holding a prefix of source (a run cut short, then
    # the file appended to): compressing again could make two archives of the same records;
    # leave both for an operator rather than guess.
    result.skipped.append(source)
    log.error(
        "compress.conflict",
        source=str(source),
        existing=[str(p) for p in previous],
        fix="compare the files and remove the redundant one",
    )
    return True


def _written_before_others(paths: Iterable[Path]) -> dict[Path, list[str]]:
    """Of `paths` (sink files of one directory), each existing plain one holding records that
    another file of its topic was written after: the names of those files. One listing of the
    directory. (An empty file is appended to as if new.)"""
    mine: dict[str, tuple[Path, int]] = {}
    for path in paths:
        name = parse_sink_file(path)
        if name is None or name.compressed or path.is_symlink() or not path.is_file():
            continue
        info = path.stat()
        if info.st_size:
            mine[name.stem] = (path, info.st_mtime_ns)
    later: dict[Path, list[str]] = {}
    if not mine:
        return later
    directory = next(iter(mine.values()))[0].parent
    with os.scandir(directory) as entries:
        for entry in entries:
            found = parse_sink_file(Path(entry.name))
            if found is None or found.stem not in mine:
                continue
            path, written = mine[found.stem]
            if entry.name != path.name and entry.stat().st_mtime_ns > written:
                later.setdefault(path, []).append(entry.name)
    return later


def set_aside_reopened(paths: Iterable[Path], now: datetime) -> list[Path]:
    """Before connectors are pointed at sink files `paths` (new connectors, or new files for
    them): compress each one first that another file of its topic was written after (see the
    module docstring). Returns those that must not be opened yet, as they could not be
    compressed (logged; the connector keeps its current file and the next reconcile retries)."""
    paths = list(paths)
    refused: list[Path] = []
    try:
        reopened = _written_before_others(paths)
    except OSError as exc:
        reopened = {}
        refused = paths
        log.error("compress.set_aside_failed", error=str(exc), fix=_SET_ASIDE_FIX)
    for path, later in sorted(reopened.items()):
        result = CompressResult()
        try:
            if not _recover(path, result):
                result.compressed.append(compress_file(path, int(now.timestamp())))
        except (KcbError, OSError, zlib.error, EOFError, _SourceChanged) as exc:
            error = exc.message if isinstance(exc, KcbError) else str(exc)
            log.error("compress.set_aside_failed", path=str(path), error=error, fix=_SET_ASIDE_FIX)
        if path.exists():  # not compressed, or a conflicting .gz of the same name (logged)
            refused.append(path)
            continue
        log.warning(
            "compress.set_aside",
            path=str(path),
            gz=[str(c.target) for c in result.compressed],
            recovered=[str(p) for p in result.recovered],
            written_after=sorted(later),
            reason="a connector is pointed at this file again after other files of its topic "
            "were written (sinkRotation or sinkFormat switched back within its period): it "
            "starts a new file of this name, so restore replays the files in write order",
        )
    return refused


_SET_ASIDE_FIX = (
    "check the data volume's free space and permissions; the connector keeps writing its "
    "current file until this one can be set aside"
)


def compress_stale(config: Config, now: datetime) -> CompressResult:
    """The cycle's compress step for config.sink_path."""
    return compress_idle_files(
        config.sink_path,
        now=now,
        rotation=config.sink_rotation,
        idle_days=config.compress_after_days,
    )
