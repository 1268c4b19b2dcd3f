"""Prune `{level}.N` snapshots beyond each configured level's count.

rsnapshot only ever deletes `{level}.{count-1}`, so after a count is lowered (backup.retention
for alpha, backup.keep.{level}) the directories beyond it would stay on disk forever. Only
directories named exactly `{level}.<digits>` are touched, and each one removed is logged by
name.

A level on the volume that is not configured (removed from backup.keep, or alpha after moving
from backup.retention to backup.keep) is never pruned here: it is kept, listed and restorable,
and logged (`snapshot.level_unconfigured`) until the user removes it with `kcb snapshots prune
--level L`.

Guard: a snapshot holding a backed-up file that no kept complete (or unverified, made by an
older version) snapshot holds is the only copy of its records: it is kept and a warning says
so, whatever its number. A file compressed since (`X.sink` -> `X.sink-{epoch}.gz`) is the same
file.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.layout.names import HOST_DIR, LEVEL
from kafka_connect_backup.layout.sinkfiles import parse_sink_file
from kafka_connect_backup.layout.snapshot_dirs import SnapshotDir, snapshot_dirs
from kafka_connect_backup.layout.snapshot_status import State, snapshot_status
from kafka_connect_backup.tools import rsnapshot

log = get_logger(__name__)

FileKey = tuple[str, ...]


def _file_key(name: str) -> FileKey:
    """What identifies a backed-up file's records across compression: a sink file's stem,
    period and format; any other file (topic metadata) its name."""
    parsed = parse_sink_file(Path(name))
    if parsed is None:
        return (name,)
    return (parsed.stem, parsed.period, parsed.sink_format.value)


def _held(snapshot: SnapshotDir) -> set[FileKey]:
    host = snapshot.path / HOST_DIR
    if not host.is_dir():
        return set()
    return {_file_key(p.name) for p in rsnapshot.backed_up_files(host)}


def _counts(snapshot: SnapshotDir) -> bool:
    """A kept snapshot that vouches for its files: complete, or unverified (an older
    version's, no marker). An incomplete one does not."""
    return snapshot_status(snapshot.path).state is not State.INCOMPLETE


def prune(
    snapshot_root: Path, levels: Mapping[str, int], *, report_unconfigured: bool = True
) -> list[Path]:
    """Delete every `{level}.N` with N >= levels[level] (config.backup.levels), except the
    only copy of a file; log the levels on the volume that are not configured (unless
    `report_unconfigured` is false: once a cycle is enough). Returns the removed
    directories."""
    for level, count in levels.items():
        if count < 1:
            raise ValueError(f"retention must be at least 1, got {count} for {level}")
    dirs = snapshot_dirs(snapshot_root)
    if report_unconfigured:
        _log_unconfigured(dirs, levels)
    beyond = [s for s in dirs if s.level in levels and s.index >= levels[s.level]]
    if not beyond:
        return []
    kept_files: set[FileKey] = set()
    for snapshot in dirs:
        if snapshot not in beyond and _counts(snapshot):
            kept_files |= _held(snapshot)
    removed = []
    for snapshot in sorted(beyond, key=lambda s: s.index):  # newest first: keeps the fewest
        count = levels[snapshot.level]
        only = _held(snapshot) - kept_files
        if only:
            log.warning(
                "snapshot.prune_refused_only_copy",
                dir=str(snapshot.path),
                files=sorted("-".join(key) for key in only)[:10],
                reason=f"{snapshot.name} is beyond {snapshot.level}'s count {count} but holds "
                "the only copy of these files: kept",
            )
            if _counts(snapshot):
                kept_files |= _held(snapshot)
            continue
        log.info(
            "snapshot.pruned",
            dir=str(snapshot.path),
            retention=count,
            reason=f"{snapshot.name} is beyond {_key(snapshot.level)}={count}",
        )
        shutil.rmtree(snapshot.path)
        removed.append(snapshot.path)
    return removed


def _key(level: str) -> str:
    return "backup.retention" if level == LEVEL else f"backup.keep.{level}"


def _log_unconfigured(dirs: list[SnapshotDir], levels: Mapping[str, int]) -> None:
    found: dict[str, list[str]] = {}
    for snapshot in dirs:
        if snapshot.level not in levels:
            found.setdefault(snapshot.level, []).append(snapshot.name)
    for level, names in found.items():
        log.info(
            "snapshot.level_unconfigured",
            snapshot_level=level,  # `level` is the log line's own
            snapshots=names,
            note=f"{level} is not a configured level: its snapshots are kept (listed and "
            f"restorable); remove them with `kcb snapshots prune --level {level}`",
        )
