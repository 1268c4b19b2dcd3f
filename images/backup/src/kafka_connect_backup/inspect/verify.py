"""`kcb snapshots verify`: check that a snapshot's files are whole, restorable sink files.

Every check reads the snapshot only (files opened read-only; nothing is written, renamed or
touched under the snapshot root). For each `{level}.N`:

- its status, from the completeness marker (`snapshot_status`): anything but complete is a
  problem (a marker whose listing digest no longer matches the content reads `incomplete: its
  content changed after the verification ...`);
- its top level holds only `localhost/` and the marker; every file under `localhost/` is a
  regular file with a sink file name (`sinkfiles.parse_sink_file`) or a topic metadata file
  (`{topic}-{sinkName}.topic.json`, which must parse: kafka/topic_metadata.py): anything else (an
  rsync temporary file, a stray file, a symbolic link) is reported by its path;
- sizes and framing, reading only a few bytes per file: a `.gz` holds gzip data, is long
  enough for one, has a valid gzip header (deflate, no reserved flag), and its trailer's
  length field is possible for its compressed size (a file cut short usually ends in bytes
  that are not; only `--deep` proves it whole); a plain file's last byte is a newline, so its
  last line is a complete record.

`--deep` also reads every byte through the decryption with restore's own reader and parser
(`sources.BlockBatches`, then per line what restore's scan checks: UTF-8 for a value file, an
envelope line for an envelope file): a damaged gocryptfs ciphertext block is the I/O error the
engine returns, each `.gz` is decompressed whole (gzip checks its CRC-32 and length), every line
must be complete and one restore reads, and the complete lines are counted per file and per
connector (topic). For each level's .0 each connector is compared with the offsets its sink consumer
group had committed when the backup cycle stopped it, as the cycle records them in the
snapshot's completeness marker (`marker_offsets`, the default `RecordedOffsets`), only where
they can agree: envelope files hold each record's partition and offset, so each partition's
last record must be just below its committed offset (one offset more for a transaction's
commit marker), exactly; value lines hold no offset, and offsets are not a count of lines
(transaction markers, compaction and a log that starts above 0 take offsets without lines;
migrated files and redelivered records add lines), so for them the offsets are only a bound,
said as such and not compared. A snapshot made without offsets says `not possible: no
offsets recorded with this snapshot`.

The result is a `Verification` (nothing is written to the backup): the command prints it and,
for the release's own backup, records it on the data volume (inspect/verify_record.py) for
`kcb status` and the supervisor's metrics.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka_connect_backup.core.config_basics import SinkFormat
from kafka_connect_backup.core.units import counted, human_bytes
from kafka_connect_backup.inspect.snapshots import status_word
from kafka_connect_backup.kafka.timefilter import EARLIEST, LATEST
from kafka_connect_backup.kafka.topic_metadata import MetadataError, read_metadata
from kafka_connect_backup.layout.names import ALL_LEVELS, HOST_DIR, MARKER_NAME, NEWEST_SNAPSHOT
from kafka_connect_backup.layout.sinkfiles import is_metadata_name, parse_sink_file
from kafka_connect_backup.layout.snapshot_dirs import parse_snapshot_name, snapshot_dirs
from kafka_connect_backup.layout.snapshot_status import (
    State,
    Status,
    is_rsync_temp,
    recorded_offsets,
    snapshot_status,
    taken_at,
)
from kafka_connect_backup.restore.exact import ExactState, classify_envelope_batch
from kafka_connect_backup.restore.plan import check_utf8_block
from kafka_connect_backup.restore.sources import (
    BlockBatches,
    ReadError,
    SourceError,
    SourceFile,
    block_lines,
    inspect,
    snapshot_dir,
)

GZIP_HEADER_BYTES = 10  # magic, method, flags, mtime, extra flags, OS
GZIP_TRAILER_BYTES = 8  # CRC-32 and ISIZE (the uncompressed length mod 2**32), little-endian
_EMPTY_DEFLATE_BYTES = 2  # the shortest deflate stream (one empty final block)
GZIP_MIN_BYTES = GZIP_HEADER_BYTES + _EMPTY_DEFLATE_BYTES + GZIP_TRAILER_BYTES
_DEFLATE = 8
_RESERVED_FLAGS = 0xE0
# Deflate's best case is 258 bytes out of one length/distance pair of 2 bits: ~1032 to 1.
_DEFLATE_MAX_RATIO = 1032
_ISIZE_WRAP = 1 << 32

NO_OFFSETS = "not possible: no offsets recorded with this snapshot"
# A transaction's commit marker takes the offset after its last record: a consumer's committed
# offset may be one more than the last record's + 1.
_MARKER_OFFSETS = 1

# The hook for the offsets check: the offsets connector's sink consumer group had committed
# (partition -> offset) when the backup cycle that made the snapshot stopped it, as recorded
# with the snapshot; None when nothing is recorded; ValueError naming a malformed record.
RecordedOffsets = Callable[[Path, str], dict[int, int] | None]


def marker_offsets(snapshot: Path, connector: str) -> dict[int, int] | None:
    """From the completeness marker, where the cycle records the sinks' committed offsets at
    its stop (supervisor/offsets.py); None for a snapshot made without them."""
    try:
        marker = json.loads((snapshot / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded_offsets(marker, connector) if isinstance(marker, dict) else None


@dataclass(frozen=True)
class OffsetComparison:
    """A connector's files against its group's committed offsets at the snapshot's stop:
    exact for envelope files (by each partition's last record), a bound only for value files."""

    lines: int
    committed: dict[int, int] | None  # None: nothing recorded, nothing compared
    highest: dict[int, int] | None = None  # envelope files only: partition -> last offset
    unknown: str | None = None  # why nothing could be compared, when offsets were recorded

    @property
    def compared(self) -> bool:
        return self.committed is not None and self.highest is not None and self.unknown is None

    def mismatches(self) -> list[str]:
        """Each partition whose last record in the files disagrees with its committed offset
        (a partition without a record in the files: its log may start at or past that offset,
        so it says nothing)."""
        committed, highest = self.committed, self.highest
        if committed is None or highest is None or self.unknown is not None:
            return []
        found = []
        for partition, last in sorted(highest.items()):
            offset = committed.get(partition)
            if offset is None:
                found.append(
                    f"partition {partition}: records up to offset {last}, but its group had "
                    "committed no offset on it at the stop"
                )
            elif last >= offset:
                found.append(
                    f"partition {partition}: a record at offset {last}, at or past the offset "
                    f"{offset} its group had committed at the stop"
                )
            elif offset - 1 - last > _MARKER_OFFSETS:
                found.append(
                    f"partition {partition}: its last record is at offset {last}, but its group "
                    f"had committed {offset} at the stop: the records at offsets {last + 1}.."
                    f"{offset - 1} are missing (a transaction's commit marker takes one offset, "
                    "not more)"
                )
        return found

    @property
    def matches(self) -> bool | None:
        return not self.mismatches() if self.compared else None

    def describe(self) -> str:
        committed = self.committed
        if committed is None:
            return NO_OFFSETS
        if self.unknown is not None:
            return f"not compared: {self.unknown}"
        if self.highest is None:
            return (
                f"{sum(committed.values())} in all at the stop, only a bound for value files "
                "(not compared: offsets are no count of lines, as transaction markers, "
                "compaction and a log that starts above 0 take offsets without lines, and "
                "migrated files and redelivered records add lines)"
            )
        mismatches = self.mismatches()
        if mismatches:
            return "; ".join(mismatches)
        at = ", ".join(f"{p}:{o}" for p, o in sorted(committed.items()))
        return (
            f"each partition's last record is just below the offset its group had committed at "
            f"the stop ({at}; exact, by the envelope files' offsets)"
        )

    def as_dict(self) -> dict[str, Any]:
        committed = self.committed
        return {
            "compared": self.compared,
            "committed": None if committed is None else {str(p): o for p, o in committed.items()},
            "matches": self.matches,
            "detail": self.describe(),
        }


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the snapshot root: alpha.N, or alpha.N/localhost/...
    what: str

    def describe(self) -> str:
        return f"{self.path}: {self.what}"


@dataclass
class FileCheck:
    path: str  # relative to the snapshot root
    connector: str  # {topic}-{sinkName}
    bytes: int
    compressed: bool  # holds gzip data (by its magic bytes, as restore reads it)
    lines: int | None = None  # --deep: its complete lines
    bytes_read: int = 0


@dataclass
class TopicCheck:
    connector: str
    topic: str | None  # when the sink name is known
    files: int = 0
    lines: int | None = None  # --deep: the complete lines of the files read whole
    unread: int = 0  # --deep: files that could not be read whole (their lines not counted)
    offsets: OffsetComparison | None = None  # --deep, each level's .0 only
    value_files: int = 0
    # --deep: restore's selection state over the envelope files (each partition's last offset)
    exact: ExactState = field(
        default_factory=lambda: ExactState(EARLIEST, LATEST, None, {}), repr=False
    )

    def describe(self) -> str:
        who = (
            f"topic {self.topic} (connector {self.connector})"
            if self.topic
            else f"connector {self.connector}"
        )
        text = f"{who}: {counted(self.files, 'file')}"
        if self.lines is not None:
            text += f", {counted(self.lines, 'line')}"
        if self.unread:
            text += f" ({counted(self.unread, 'file')} not read whole: not counted)"
        if self.offsets is not None:
            text += f"; committed offsets: {self.offsets.describe()}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "topic": self.topic,
            "files": self.files,
            "lines": self.lines,
            "unread": self.unread,
            "offsets": self.offsets.as_dict() if self.offsets else None,
        }


@dataclass
class SnapshotCheck:
    name: str
    status: Status
    files: list[FileCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # its status's first, then by path
    topics: list[TopicCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems  # a status other than complete is a problem

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def bytes_read(self) -> int:
        return sum(f.bytes_read for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status.state.value,
            "status_reason": self.status.reason,
            "verified_at": self.status.finished,
            "bytes": self.bytes,
            "bytes_read": self.bytes_read,
            "files": [f.__dict__ for f in self.files],
            "topics": [t.as_dict() for t in self.topics],
            "problems": [p.__dict__ for p in self.problems],
        }


@dataclass
class Verification:
    """What one `kcb snapshots verify` found: small, for the command and any later reader."""

    root: Path
    deep: bool
    snapshots: list[SnapshotCheck]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.snapshots)

    def counts(self) -> dict[str, int]:
        return {
            "snapshots": len(self.snapshots),
            "files": sum(len(s.files) for s in self.snapshots),
            "bytes_read": sum(s.bytes_read for s in self.snapshots),
            "problems": sum(len(s.problems) for s in self.snapshots),
        }

    def summary(self) -> str:
        c = self.counts()
        mode = "verify --deep" if self.deep else "verify"
        return (
            f"{mode}: {counted(c['snapshots'], 'snapshot')}, {counted(c['files'], 'file')}, "
            f"{c['bytes_read']} bytes read, {counted(c['problems'], 'problem')}"
        )

    def render(self, where: str = "") -> str:
        lines = [f"snapshots in {self.root}{where}:"]
        for snap in self.snapshots:
            verdict = "ok" if snap.ok else counted(len(snap.problems), "problem")
            lines.append(
                f"{snap.name:<9} {status_word(snap.status):<10}  {counted(len(snap.files), 'file')}"
                f"  {human_bytes(snap.bytes)}  {verdict}"
            )
            lines.extend(f"    {p.describe()}" for p in snap.problems)
            if self.deep:
                lines.extend(f"    {t.describe()}" for t in snap.topics)
        lines.append(self.summary())
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "deep": self.deep,
            "ok": self.ok,
            "counts": self.counts(),
            "snapshots": [s.as_dict() for s in self.snapshots],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def _status_problem(status: Status) -> str | None:
    if status.state is State.COMPLETE:
        return None
    return f"status {status.state.value}: {status.reason}"


def _read_at(path: Path, offset: int, count: int) -> bytes:
    with path.open("rb", buffering=0) as handle:
        handle.seek(offset)
        return handle.read(count)


def _gzip_framing(source: SourceFile) -> tuple[list[str], int]:
    """Problems of a .gz's header and trailer (reading those bytes only), and bytes read."""
    header = _read_at(source.path, 0, GZIP_HEADER_BYTES)
    trailer = _read_at(source.path, source.size - GZIP_TRAILER_BYTES, GZIP_TRAILER_BYTES)
    problems = []
    if header[2] != _DEFLATE:
        problems.append(f"gzip header: compression method {header[2]}, not deflate (8)")
    if header[3] & _RESERVED_FLAGS:
        problems.append(f"gzip header: reserved flag bits set (flags 0x{header[3]:02x})")
    # The trailer's ISIZE is the content's length mod 2**32. Deflate cannot expand the
    # compressed bytes by more than _DEFLATE_MAX_RATIO, so a larger ISIZE is impossible
    # (decisive only while that bound is below 2**32, i.e. files under ~4 MiB).
    payload = source.size - GZIP_HEADER_BYTES - GZIP_TRAILER_BYTES
    most = _DEFLATE_MAX_RATIO * (payload + 1)
    isize = int.from_bytes(trailer[4:], "little")
    if most < _ISIZE_WRAP and isize > most:
        problems.append(
            f"gzip trailer: it records {isize} uncompressed bytes, more than its {payload} "
            "compressed bytes can hold: the file is cut short or damaged"
        )
    return problems, len(header) + len(trailer)


def _kind(source: SourceFile, named_gz: bool) -> list[str]:
    """Whether the content is what the name says (restore reads by content)."""
    if named_gz and source.size < GZIP_MIN_BYTES:
        return [f"{source.size} bytes: too short for a gzip file ({GZIP_MIN_BYTES} at least)"]
    if named_gz != source.compressed:
        found = "holds gzip data" if source.compressed else "holds no gzip data"
        return [f"named as a {'.gz' if named_gz else 'plain'} sink file but {found}"]
    return []


def _quick(source: SourceFile) -> tuple[list[str], int]:
    """The checks that read a few bytes: (problems, bytes read)."""
    if source.compressed:
        return _gzip_framing(source)
    if source.size == 0:
        return [], 0
    if _read_at(source.path, source.size - 1, 1) != b"\n":
        return ["its last byte is not a newline: the last line is a record cut short"], 1
    return [], 1


def _deep(check: FileCheck, source: SourceFile, exact: ExactState | None) -> list[str]:
    """Read the whole file as restore reads it: every line through restore's own checks (UTF-8;
    an envelope file's lines through its scan, which keeps each partition's last offset in
    `exact`), so a file restore would refuse fails here too; count its lines, find a torn one."""
    blocks = BlockBatches(source)
    lines = content = 0
    try:
        for block in blocks:
            check_utf8_block(source, block, lines)
            if exact is None:
                count = block.count(b"\n")
            else:
                batch = block_lines(block)
                classify_envelope_batch(batch, exact, True, lines, str(source.path))
                count = len(batch)
            lines += count
            content += len(block)
    except ReadError:
        raise
    except SourceError as exc:  # what restore would say, without the path again
        check.bytes_read = content
        reason = str(exc).removeprefix(f"{source.path} ")
        return [f"restore refuses it: {'it ' if reason.startswith('is ') else ''}{reason}"]
    torn = blocks.torn or b""
    check.lines = lines
    # gzip read the whole file to reach its trailer; a plain file's bytes are all counted.
    check.bytes_read = source.size if source.compressed else content + len(torn)
    problems = []
    if torn:
        problems.append(
            f"its last line is not complete ({len(torn)} bytes after the last newline: a "
            "record cut short)"
        )
    if not source.compressed and content + len(torn) != source.size:
        problems.append(f"read {content + len(torn)} bytes, but its size is {source.size}")
    return problems


def _check_file(
    path: Path, root: Path, connector: str, named_gz: bool, deep: bool, exact: ExactState | None
) -> tuple[FileCheck, list[str]]:
    check = FileCheck(str(path.relative_to(root)), connector, path.lstat().st_size, named_gz)
    try:
        source = inspect(path)  # reads the magic bytes
        check.compressed = source.compressed
        problems = _kind(source, named_gz)
        if not problems and deep:  # gzip checks the header and trailer itself
            problems = _deep(check, source, exact)
        elif not problems:
            problems, check.bytes_read = _quick(source)
    except ReadError as exc:
        problems = [f"cannot read: {exc.reason}"]
    except OSError as exc:  # the few bytes the quick checks read
        problems = [f"cannot read: {exc.strerror or exc}"]
    return check, problems


def _stray(path: Path) -> str | None:
    """Why an entry under localhost/ is not a sink file, or None when it is one (or a
    directory rsnapshot made on the way to one)."""
    mode = path.lstat().st_mode
    if stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link, not a sink file (rsnapshot copies no links)"
    if not stat.S_ISREG(mode):
        return "not a regular file, so not a sink file"
    if parse_sink_file(path) is not None or is_metadata_name(path.name):
        return None
    if is_rsync_temp(path.name):
        return (
            "an rsync temporary file left by a killed backup run, not a sink file (the next "
            "backup cycle removes it)"
        )
    return (
        "not a sink file name ({topic}-{sinkName}-{period}.sink or .sink-{epoch}.gz, period "
        "YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH) nor a "
        "topic metadata file ({topic}-{sinkName}.topic.json): nothing the backup writes"
    )


def _walk(host: Path) -> list[Path]:
    """Everything under localhost/, by path (rsnapshot nests the sink path's directories)."""
    return sorted(host.rglob("*"))


def verify_snapshot(
    directory: Path,
    *,
    deep: bool = False,
    sink_name: str | None = None,
    recorded_offsets: RecordedOffsets = marker_offsets,
) -> SnapshotCheck:
    """One snapshot's check: its status, what lies beside localhost/, every file under it (the
    whole of each with `deep`), and with `deep` a {level}.0's record counts against the offsets
    its marker recorded."""
    root = directory.parent
    status, top, entries, listed = _listing(directory)
    check = SnapshotCheck(directory.name, status)
    problem = _status_problem(status)
    if problem:
        check.problems.append(Problem(directory.name, problem))
    for entry in top:
        if entry.name not in (HOST_DIR, MARKER_NAME):
            check.problems.append(
                Problem(
                    str(entry.relative_to(root)),
                    f"not part of a snapshot (only {HOST_DIR}/ and {MARKER_NAME} belong here)",
                )
            )
    if listed and not (directory / HOST_DIR).is_dir():
        check.problems.append(
            Problem(f"{directory.name}/{HOST_DIR}", "missing: the snapshot holds no backed-up file")
        )
    topics: dict[str, TopicCheck] = {}
    for path in entries:
        _check_entry(check, topics, path, root, deep=deep, sink_name=sink_name)
    check.topics = sorted(topics.values(), key=lambda t: t.connector)
    if deep and _newest_of_its_level(directory.name):
        for topic in check.topics:
            _compare_offsets(check, directory, topic, recorded_offsets)
    return check


def _listing(directory: Path) -> tuple[Status, list[Path], list[Path], bool]:
    """The snapshot's status, its top-level entries and everything under localhost/; an
    incomplete status and nothing listed when the filesystem (or its decryption) cannot list
    it."""
    host = directory / HOST_DIR
    try:
        status = snapshot_status(directory)
        top = sorted(directory.iterdir())
        entries = _walk(host) if host.is_dir() else []
    except OSError as exc:
        where = Path(exc.filename).relative_to(directory.parent) if exc.filename else directory.name
        return (
            Status(State.INCOMPLETE, f"cannot be listed: {exc.strerror or exc} ({where})"),
            [],
            [],
            False,
        )
    return status, top, entries, True


def _check_entry(
    check: SnapshotCheck,
    topics: dict[str, TopicCheck],
    path: Path,
    root: Path,
    *,
    deep: bool,
    sink_name: str | None,
) -> None:
    """One entry under localhost/: a stray is a problem, a metadata file must read, a sink
    file is checked and counted to its topic; a directory is nothing."""
    where = str(path.relative_to(root))
    stray = _stray(path)
    if stray is not None:
        check.problems.append(Problem(where, stray))
        return
    name = parse_sink_file(path)
    if name is None:
        if is_metadata_name(path.name) and path.is_file():
            try:
                read_metadata(path)
            except MetadataError as exc:
                check.problems.append(Problem(where, f"unreadable topic metadata: {exc}"))
        return
    topic = topics.get(name.stem)
    if topic is None:
        topic = topics[name.stem] = TopicCheck(
            name.stem, _topic(name.stem, sink_name), lines=0 if deep else None
        )
    envelope = name.sink_format is SinkFormat.ENVELOPE
    file_check, problems = _check_file(
        path, root, name.stem, name.compressed, deep, topic.exact if envelope else None
    )
    check.files.append(file_check)
    check.problems.extend(Problem(where, p) for p in problems)
    topic.files += 1
    topic.value_files += not envelope
    if deep and file_check.lines is None:
        topic.unread += 1
    elif topic.lines is not None and file_check.lines is not None:
        topic.lines += file_check.lines


def _compare_offsets(
    check: SnapshotCheck, directory: Path, topic: TopicCheck, recorded: RecordedOffsets
) -> None:
    try:
        committed = recorded(directory, topic.connector)
    except ValueError as exc:  # a malformed record in the marker
        check.problems.append(Problem(directory.name, str(exc)))
        return
    envelope_only = topic.value_files == 0
    highest = dict(topic.exact.last_offset) if envelope_only else None
    unknown = None
    if topic.unread:
        unknown = f"{counted(topic.unread, 'file')} not read whole"
    topic.offsets = OffsetComparison(topic.lines or 0, committed, highest, unknown)
    if topic.offsets.matches is False:
        check.problems.append(Problem(directory.name, topic.describe()))


def _topic(connector: str, sink_name: str | None) -> str | None:
    suffix = f"-{sink_name}"
    if sink_name and connector.endswith(suffix) and len(connector) > len(suffix):
        return connector[: -len(suffix)]
    return None


_ANY_LEVEL = ", ".join(f"{level}.N" for level in ALL_LEVELS)


def _newest_of_its_level(name: str) -> bool:
    parsed = parse_snapshot_name(name)
    return parsed is not None and parsed[1] == 0


def newest_snapshot_name(root: Path) -> str:
    """The snapshot the last cycle took: the most recently taken `{level}.0` (the lowest
    configured level's; a volume moved from backup.retention to backup.keep still holds an
    older alpha.0). alpha.0 when there is none, for the error to name."""
    newest = [s.path for s in snapshot_dirs(root) if s.index == 0]
    return max(newest, key=taken_at).name if newest else NEWEST_SNAPSHOT


def snapshots_to_verify(root: Path, name: str | None, every: bool) -> list[Path]:
    """The directories to check: every snapshot of every level, or the one named (default
    the newest, newest_snapshot_name); SourceError (bad input) when there is none or the name
    is wrong."""
    if not every:
        return [snapshot_dir(root, name or newest_snapshot_name(root))]
    if not root.is_dir():
        raise SourceError(
            f"snapshot root {root} does not exist: mount the backup first, or give --snapshot-root"
        )
    found = [s.path for s in snapshot_dirs(root)]
    if not found:
        raise SourceError(f"no snapshot ({_ANY_LEVEL}) in {root}: is the backup mounted?")
    return found


def verify(
    root: Path,
    directories: list[Path],
    *,
    deep: bool = False,
    sink_name: str | None = None,
    recorded_offsets: RecordedOffsets = marker_offsets,
) -> Verification:
    checks = [
        verify_snapshot(d, deep=deep, sink_name=sink_name, recorded_offsets=recorded_offsets)
        for d in directories
    ]
    return Verification(root, deep, checks)
