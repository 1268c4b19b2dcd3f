"""Prune `alpha.N` snapshots beyond the retention.

rsnapshot only ever deletes `alpha.{retain-1}`, so after `retain` is lowered the directories
beyond it would stay on disk forever. Only directories named exactly `alpha.<digits>` are
touched, and each one removed is logged by name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.layout.snapshot_dirs import snapshot_dirs

log = get_logger(__name__)


def prune(snapshot_root: Path, retention: int) -> list[Path]:
    """Delete every `alpha.N` with N >= retention; return the removed directories."""
    if retention < 1:
        raise ValueError(f"retention must be at least 1, got {retention}")
    removed = []
    for snapshot in snapshot_dirs(snapshot_root):
        if snapshot.index < retention:
            continue
        log.info(
            "snapshot.pruned",
            dir=str(snapshot.path),
            retention=retention,
            reason=f"{snapshot.path.name} is beyond backup.retention={retention}",
        )
        shutil.rmtree(snapshot.path)
        removed.append(snapshot.path)
    return removed
