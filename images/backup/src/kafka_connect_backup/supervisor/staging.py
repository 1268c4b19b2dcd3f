"""A frozen view of the sink directory, so Connect can resume before the snapshot is taken.

FileStreamSink only ever appends to its file (it opens it in append mode), and a stopped sink
task has flushed and closed it. So while the connectors are stopped it is enough to note each
file's size and mtime (`freeze`, milliseconds); after they resume, `stage` builds
`{sinkPath}/.kcb-staging/` holding exactly that state: a hard link for every file no connector
writes (zero bytes, zero time), and a copy of the first `size` bytes, with the noted mtime, of
each file a connector may append to. rsnapshot then backs up the staging directory: the
snapshot's layout (`alpha.N/localhost/{file}`) and content are those of the stop instant, while
Connect has long been sinking again. Connect downtime no longer grows with the data.

A file this process may not hard-link is copied too: under fs.protected_hardlinks only its
owner, or someone who may read and write it, may link it, and the devicePlugin mode's root has
no CAP_FOWNER. The chart makes the Connect user's files group-writable for the pod's fsGroup
(Connect's umask 002, the sink-dir init container's chmod of older files), so this is rare.

The copies need free space on the data volume (the current period's files, and any file that
cannot be linked); `has_room` says when there is not, and the cycle then snapshots the sink
directory itself with the connectors stopped, as the original did.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.layout.names import STAGING_DIR
from kafka_connect_backup.tools import rsnapshot

log = get_logger(__name__)

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Margin:
    """Free space kept on the data volume beyond the copies (Connect keeps writing meanwhile):
    the larger of `bytes` and `fraction` of the volume."""

    bytes: int = 256 * 1024 * 1024
    fraction: float = 0.05

    def of(self, total: int) -> int:
        return max(self.bytes, int(total * self.fraction))


DEFAULT_MARGIN = Margin()


@dataclass(frozen=True)
class FrozenFile:
    size: int
    mtime_ns: int


def freeze(sink_path: Path) -> dict[str, FrozenFile]:
    """Size and mtime of every backed-up file (call while the connectors are stopped)."""
    frozen = {}
    for path in rsnapshot.backed_up_files(sink_path):
        stat = path.stat()
        frozen[path.name] = FrozenFile(stat.st_size, stat.st_mtime_ns)
    return frozen


def _linkable(path: Path) -> bool:
    """Whether this process may hard-link path (fs.protected_hardlinks): its owner, or one who
    may read and write it. os.access answers with root's capabilities, so privileged root
    always may; a file it wrongly refuses is only copied instead."""
    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return True  # gone since the freeze (compressed into a .gz): there is nothing to copy
    return owner == os.geteuid() or os.access(path, os.R_OK | os.W_OK)


def copied(sink_path: Path, frozen: dict[str, FrozenFile], written: Iterable[Path]) -> set[str]:
    """Names of the frozen files stage() copies: those being written, and those it may not
    hard-link."""
    names = {p.name for p in written} & frozen.keys()
    return names | {name for name in frozen.keys() - names if not _linkable(sink_path / name)}


def has_room(
    sink_path: Path,
    frozen: dict[str, FrozenFile],
    written: Iterable[Path],
    margin: Margin = DEFAULT_MARGIN,
) -> bool:
    """True when the copies stage() makes fit with a safety margin."""
    needed = sum(frozen[name].size for name in copied(sink_path, frozen, written))
    usage = shutil.disk_usage(sink_path)
    return usage.free >= needed + margin.of(usage.total)


def staging_dir(sink_path: Path) -> Path:
    return sink_path / STAGING_DIR


def clear(sink_path: Path) -> None:
    """Remove the staging directory (only ever hard links and private copies)."""
    shutil.rmtree(staging_dir(sink_path), ignore_errors=True)


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    with source.open("rb") as reader, target.open("wb") as writer:
        remaining = size
        while remaining:
            block = reader.read(min(_CHUNK, remaining))
            if not block:
                raise KcbError(
                    f"{source} is shorter than when the connectors were stopped "
                    f"({size} bytes then)",
                    fix="something other than Connect rewrote the sink file; check what "
                    "writes into sinkPath",
                    cause="sink_file_changed",
                )
            writer.write(block)
            remaining -= len(block)


def stage(sink_path: Path, frozen: dict[str, FrozenFile], written: Iterable[Path]) -> Path:
    """Build the staging directory: the sink directory as it was at the freeze. Files created
    since (the compressor's `.gz`, a new period's file) are included as they are when they are
    not being written, left out when they are (they were empty at the freeze)."""
    written = list(written)
    appended = {p.name for p in written}
    copies = copied(sink_path, frozen, written)
    if unlinkable := sorted(copies - appended):
        log.warning(
            "staging.copied_unlinkable",
            files=unlinkable,
            reason="not this process's and not group-writable: it may not hard-link them",
            fix="restart the pod: its sink-dir init container makes the Connect user's files "
            "group-writable",
        )
    staging = staging_dir(sink_path)
    clear(sink_path)
    staging.mkdir()
    for path in rsnapshot.backed_up_files(sink_path):
        target = staging / path.name
        if path.name not in appended and path.name not in copies:
            os.link(path, target)
            continue
        was = frozen.get(path.name)
        if was is None:
            continue  # created by a resumed connector after the freeze
        _copy_prefix(path, target, was.size)
        os.utime(target, ns=(was.mtime_ns, was.mtime_ns))
    return staging
