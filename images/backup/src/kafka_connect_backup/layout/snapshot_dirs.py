"""The rsnapshot tree's `{level}.N` directories (`alpha.N` of backup.retention, `hourly.N`,
`daily.N`, `weekly.N`, `monthly.N` of backup.keep): the one parser of their names and the one
lister, for the supervisor (retention, interrupted runs) and restore (`--snapshot`, `kcb
snapshots`); the one fingerprint of a snapshot's content; the names of the directories the
interrupted-run cleanup set aside (`_incomplete.{level}.N.{epoch}`).

Only `{level}.<N>` of a level in ALL_LEVELS, with N written without leading zeros, is a
snapshot (`alpha.01`, `alpha.x`, `beta.1`, `_delete.123` are not: rsnapshot never makes them),
and never a symlink.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.layout.names import ALL_LEVELS

_LEVEL = "|".join(ALL_LEVELS)
_SNAPSHOT_NAME = re.compile(rf"({_LEVEL})\.(0|[1-9][0-9]*)")
QUARANTINE_PREFIX = "_incomplete."
_QUARANTINE_NAME = re.compile(
    rf"{re.escape(QUARANTINE_PREFIX)}((?:{_LEVEL})\.(?:0|[1-9][0-9]*))\.([0-9]+)"
)

# (relative path, size, mtime in ns) of every file below a directory.
Fingerprint = frozenset[tuple[str, int, int]]


@dataclass(frozen=True)
class SnapshotDir:
    level: str
    index: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def snapshot_name(level: str, index: int) -> str:
    return f"{level}.{index}"


def parse_snapshot_name(name: str) -> tuple[str, int] | None:
    """(level, N) of `{level}.N`, or None for any other name."""
    match = _SNAPSHOT_NAME.fullmatch(name)  # not `$`: 'alpha.1\n' is no snapshot
    return (match.group(1), int(match.group(2))) if match else None


def snapshot_dirs(snapshot_root: Path, level: str | None = None) -> list[SnapshotDir]:
    """The snapshot directories of snapshot_root (of one level, or all), by level (ALL_LEVELS
    order: alpha, hourly, daily, weekly, monthly), then newest (N=0) first within a level."""
    if not snapshot_root.is_dir():
        return []
    found = []
    for path in snapshot_root.iterdir():
        parsed = parse_snapshot_name(path.name)
        if parsed is None or (level is not None and parsed[0] != level):
            continue
        if path.is_dir() and not path.is_symlink():
            found.append(SnapshotDir(parsed[0], parsed[1], path))
    return sorted(found, key=lambda s: (ALL_LEVELS.index(s.level), s.index))


def quarantine_name(name: str, epoch: int) -> str:
    """Where the interrupted-run cleanup sets aside a directory it cannot explain."""
    return f"{QUARANTINE_PREFIX}{name}.{epoch}"


def parse_quarantine_name(name: str) -> tuple[str, int] | None:
    """(original {level}.N name, epoch) of `_incomplete.{level}.N.{epoch}`, or None."""
    match = _QUARANTINE_NAME.fullmatch(name)  # not `$`: a trailing newline is no name
    return (match.group(1), int(match.group(2))) if match else None


def quarantined_dirs(snapshot_root: Path) -> list[Path]:
    """The `_incomplete.{level}.N.{epoch}` directories of snapshot_root, oldest set aside first."""
    if not snapshot_root.is_dir():
        return []
    found = []
    for path in snapshot_root.iterdir():
        parsed = parse_quarantine_name(path.name)
        if parsed is not None and path.is_dir() and not path.is_symlink():
            found.append((parsed[1], path.name, path))
    return [path for _, _, path in sorted(found)]


def fingerprint(directory: Path) -> Fingerprint:
    """(relative path, size, mtime ns) of every non-directory entry under directory (none when
    it does not exist): the content of a snapshot as the interrupted-run rule and the
    completeness marker compare it."""
    entries: list[tuple[str, int, int]] = []
    _walk(str(directory), "", entries)
    return frozenset(entries)


def _walk(directory: str, prefix: str, entries: list[tuple[str, int, int]]) -> None:
    """os.scandir, not Path.rglob: a snapshot of a month of hourly files holds hundreds of
    entries, and pathlib's per-entry objects cost more than the FUSE stat calls themselves.
    Symlinks are entries, never followed; an unreadable directory is skipped (as rglob
    does)."""
    try:
        with os.scandir(directory) as listing:
            found = list(listing)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in found:
        name = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, f"{name}/", entries)
        else:
            st = entry.stat(follow_symlinks=False)
            entries.append((name, st.st_size, st.st_mtime_ns))
