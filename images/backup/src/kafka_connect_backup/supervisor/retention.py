"""Prune `alpha.N` snapshots beyond the retention.

rsnapshot only ever deletes `alpha.{retain-1}`, so after `retain` is lowered the directories
beyond it would stay on disk forever. Only directories named exactly `alpha.<digits>` are
touched, and each one removed is logged by name.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.logs import get_logger
from kafka_connect_backup.tools.rsnapshot import LEVEL

_SNAPSHOT_NAME = re.compile(rf"^{LEVEL}\.(0|[1-9][0-9]*)$")

log = get_logger(__name__)


@dataclass(frozen=True)
class SnapshotDir:
    index: int
    path: Path


def parse_snapshot_name(name: str) -> int | None:
    """N of `alpha.N`, or None for any other name (`alpha.01`, `alpha.x`, `_delete.123`)."""
    match = _SNAPSHOT_NAME.match(name)
    return int(match.group(1)) if match else None


def snapshot_dirs(snapshot_root: Path) -> list[SnapshotDir]:
    """The `alpha.N` directories of snapshot_root, newest (N=0) first."""
    if not snapshot_root.is_dir():
        return []
    found = []
    for path in snapshot_root.iterdir():
        index = parse_snapshot_name(path.name)
        if index is not None and path.is_dir() and not path.is_symlink():
            found.append(SnapshotDir(index, path))
    return sorted(found, key=lambda s: s.index)


def prune(snapshot_root: Path, retention: int) -> list[Path]:
    """Delete every `alpha.N` with N >= retention; return the removed directories."""
    if retention < 1:
        raise ValueError(f"retention must be at least 1, got {retention}")
    removed = []
    for snapshot in snapshot_dirs(snapshot_root):
        if snapshot.index < retention:
            continue
        log.info(
            "snapshot_pruned",
            dir=str(snapshot.path),
            retention=retention,
            reason=f"{snapshot.path.name} is beyond backup.retention={retention}",
        )
        shutil.rmtree(snapshot.path)
        removed.append(snapshot.path)
    return removed
