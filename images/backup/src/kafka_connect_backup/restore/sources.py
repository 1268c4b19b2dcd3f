"""Where restored records come from: sink files given as paths or globs, or the files of one
topic inside an rsnapshot version (`{level}.N`: alpha.N, hourly.N, daily.N, ...), named or
chosen by time (`--snapshot-at`, layout/snapshot_status.choose_snapshot), read as lines.

Plain `.sink` files and gzipped `.sink-{epoch}.gz` files are read the same way (gzip is detected
by its magic bytes, not the name). Files are replayed in the order they were written
(sinkfiles.sort_key: the period in the name, and the mtime where periods overlap after a
sinkFormat or sinkRotation switch); files whose names carry no period follow, by name.
"""

from __future__ import annotations

import glob
import gzip
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from kafka_connect_backup.core.config_basics import SinkFormat
from kafka_connect_backup.core.exit_codes import EXIT_INVALID, RestoreError
from kafka_connect_backup.core.units import utc_iso
from kafka_connect_backup.layout.names import ALL_LEVELS
from kafka_connect_backup.layout.sinkfiles import SinkFileName, parse_sink_file, sort_key
from kafka_connect_backup.layout.snapshot_dirs import (
    parse_quarantine_name,
    parse_snapshot_name,
    snapshot_dirs,
)
from kafka_connect_backup.layout.snapshot_status import (
    NoSnapshotChosen,
    State,
    choose_snapshot,
    snapshot_status,
    taken_at,
)

CHUNK_SIZE = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"


class SourceError(RestoreError):
    """A source that cannot be restored from; the message names the file and the fix."""

    exit_code = EXIT_INVALID


class ReadError(SourceError):
    """A file that could not be read to its end: `reason` is what the filesystem (or the
    encryption under it), gzip or zlib said."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class SourceFile:
    path: Path
    size: int
    compressed: bool
    sink: SinkFileName | None
    mtime_ns: int | None = None  # the last write, which orders files of overlapping periods

    def open(self) -> IO[bytes]:
        if self.compressed:
            return gzip.GzipFile(self.path, "rb")  # type: ignore[return-value]
        return self.path.open("rb", buffering=0)


def _describe_os_error(path: Path, exc: OSError) -> ReadError:
    return ReadError(path, exc.strerror or str(exc))


def inspect(path: Path) -> SourceFile:
    """Stat and sniff one file; SourceError when it is missing, a directory or unreadable."""
    if path.is_dir():
        raise SourceError(f"{path} is a directory: give its files, e.g. '{path}/*.sink*'")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise _describe_os_error(path, exc) from None
    if not stat.S_ISREG(mode):
        # Opening a FIFO waits for a writer forever; a device never ends.
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file (a device or socket)"
        raise SourceError(f"{path} is {kind}: give sink files (regular files) only")
    try:
        with path.open("rb") as handle:
            magic = handle.read(2)
        info = path.stat()
    except OSError as exc:
        raise _describe_os_error(path, exc) from None
    return SourceFile(
        path, info.st_size, magic == GZIP_MAGIC, parse_sink_file(path), info.st_mtime_ns
    )


def order(files: list[SourceFile]) -> list[SourceFile]:
    """Sink-named files in the order they were written (sinkfiles.sort_key); other names after
    them, by name."""
    named = sorted((f for f in files if f.sink), key=lambda f: sort_key(f.sink, f.mtime_ns))  # type: ignore[arg-type]
    other = sorted((f for f in files if not f.sink), key=lambda f: f.path.name)
    return named + other


def envelope_sources(files: list[SourceFile]) -> list[SourceFile]:
    """The envelope files (`*.envelope.sink*`, sinkFormat envelope) among `files`."""
    return [f for f in files if f.sink is not None and f.sink.sink_format is SinkFormat.ENVELOPE]


def from_patterns(patterns: list[str]) -> list[SourceFile]:
    """Files named by paths or globs (the original's quoted `restore_files`)."""
    paths: dict[Path, None] = {}
    for pattern in patterns:
        if glob.has_magic(pattern):
            # Directories a glob happens to match are not sources; an explicit one is an error.
            # glob.glob, not Path.glob: the operator's pattern may be absolute.
            matches = sorted(
                m
                for m in glob.glob(pattern)  # noqa: PTH207
                if not Path(m).is_dir()
            )
            if not matches:
                raise SourceError(f"no file matches {pattern!r}")
            paths.update((Path(m), None) for m in matches)
        else:
            path = Path(pattern)
            if not path.exists():
                raise SourceError(f"{pattern} does not exist")
            paths[path] = None
    return order([inspect(path) for path in paths])


def check_snapshot_name(name: str) -> None:
    """SourceError unless name is `{level}.N` or a set-aside `_incomplete.{level}.N.{epoch}`."""
    if parse_snapshot_name(name) is None and parse_quarantine_name(name) is None:
        raise SourceError(
            f"--snapshot {name!r} is not a snapshot name: use {{level}}.N with a level of "
            f"{', '.join(ALL_LEVELS)} (e.g. daily.3; kcb snapshots list shows them), or "
            "--snapshot-at TIME for the newest taken at or before TIME"
        )


def _require_root(root: Path) -> None:
    if not root.is_dir():
        raise SourceError(
            f"snapshot root {root} does not exist: mount the backup first, or give --snapshot-root"
        )


def snapshot_dir(root: Path, name: str) -> Path:
    """`{level}.N` (or a set-aside `_incomplete.{level}.N.{epoch}`) under the snapshot root;
    SourceError when the name or directory is wrong."""
    check_snapshot_name(name)
    _require_root(root)
    directory = root / name
    if not directory.is_dir():
        existing = ", ".join(s.name for s in snapshot_dirs(root)) or "none"
        raise SourceError(f"snapshot {name} not found in {root} (snapshots: {existing})")
    return directory


def resolve_snapshot(root: Path, name: str | None, at: datetime | None) -> tuple[str, str]:
    """The snapshot to read, and the plan's line saying which and why: `name` as given
    (--snapshot), else the newest complete or unverified one taken at or before `at`
    (--snapshot-at; None: the newest of all). SourceError when there is none."""
    if name is not None:
        directory = snapshot_dir(root, name)
        return name, f"{name}, taken {utc_iso(taken_at(directory))}: given by --snapshot"
    _require_root(root)
    try:
        chosen, reason = choose_snapshot(root, at)
    except NoSnapshotChosen as exc:
        raise SourceError(str(exc)) from None
    return chosen.name, reason


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def check_snapshot(
    directory: Path, *, allow_incomplete: bool, warn: Callable[[str], None] = _warn
) -> None:
    """Refuse an incomplete snapshot unless allow_incomplete (then warn); warn about an
    unverified one (no completeness marker: an older version's, read as it is)."""
    status = snapshot_status(directory)
    name = directory.name
    if status.state is State.INCOMPLETE:
        if not allow_incomplete:
            complete = [
                s.name
                for s in snapshot_dirs(directory.parent)
                if snapshot_status(s.path).state is State.COMPLETE
            ]
            instead = f" ({', '.join(complete)})" if complete else ""
            raise SourceError(
                f"snapshot {name} in {directory.parent} is incomplete: {status.reason}. "
                f"Restore from a complete snapshot{instead} (kcb snapshots list shows each "
                "one's status), or give --allow-incomplete to read what it holds anyway"
            )
        warn(
            f"warning: snapshot {name} is incomplete ({status.reason}): reading what it holds "
            "because of --allow-incomplete; some records may be missing or cut short"
        )
    elif status.state is State.UNVERIFIED:
        warn(
            f"warning: snapshot {name} is unverified ({status.reason}): its files are read as "
            "they are"
        )


def sink_files_under(directory: Path, connector: str | None = None) -> list[SourceFile]:
    """Sink files anywhere below a directory (rsnapshot nests them under localhost/{sinkPath}),
    optionally only one connector's (`{topic}-{sinkName}`)."""
    found: list[SourceFile] = []
    for path in sorted(directory.rglob("*")):
        name = parse_sink_file(path)
        if name is None or not path.is_file():
            continue
        if connector is not None and name.stem != connector:
            continue
        found.append(inspect(path))
    return order(found)


def from_snapshot(
    root: Path,
    name: str,
    connector: str,
    *,
    allow_incomplete: bool = False,
    warn: Callable[[str], None] = _warn,
) -> list[SourceFile]:
    directory = snapshot_dir(root, name)
    check_snapshot(directory, allow_incomplete=allow_incomplete, warn=warn)
    files = sink_files_under(directory, connector)
    if not files:
        raise SourceError(f"snapshot {directory} holds no sink file of connector {connector}")
    return files


@dataclass
class BlockBatches:
    """A file's complete lines in blocks of whole lines (each ends with a newline), as read;
    after iterating, `torn` holds the last line when the file does not end with a newline (a
    record cut short, e.g. by a crash mid-write). The scan checks and caches blocks without
    splitting them (a bytes object per line is the costly part of reading)."""

    source: SourceFile
    chunk_size: int = CHUNK_SIZE
    torn: bytes | None = None
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        try:
            with self.source.open() as handle:
                info = os.fstat(handle.fileno())
                self.identity = (info.st_dev, info.st_ino)
                while True:
                    chunk = handle.read(self.chunk_size)
                    if not chunk:
                        break
                    cut = chunk.rfind(b"\n") + 1
                    if not cut:
                        pending += chunk
                        continue
                    # One copy: join takes the chunk's part as a view (pending + chunk[:cut]
                    # copies it twice); a full-length slice is the chunk itself (no copy).
                    yield b"".join((pending, memoryview(chunk)[:cut])) if pending else chunk[:cut]
                    pending = chunk[cut:]
        except (OSError, EOFError, zlib.error) as exc:
            # zlib.error: a damaged deflate stream inside a .gz (gzip raises it as it is).
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ReadError(self.source.path, message) from None
        self.torn = pending or None


def block_lines(block: bytes) -> list[bytes]:
    """The lines of a block of whole lines, without their newlines."""
    lines = block.split(b"\n")
    lines.pop()  # the empty rest after the last newline
    return lines


@dataclass
class LineBatches:
    """Complete lines of a file, in batches (BlockBatches split into lines); `torn` as there."""

    source: SourceFile
    chunk_size: int = CHUNK_SIZE
    torn: bytes | None = None
    last_batch_bytes: int = 0  # bytes of the batch just yielded (lines and their newlines)
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file

    def __iter__(self) -> Iterator[list[bytes]]:
        blocks = BlockBatches(self.source, self.chunk_size)
        for block in blocks:
            self.identity = blocks.identity
            self.last_batch_bytes = len(block)
            yield block_lines(block)
        self.identity = blocks.identity
        self.torn = blocks.torn
