"""The rsnapshot tree's `alpha.N` directories: the one parser of their names and the one lister,
for the supervisor (retention, interrupted runs) and restore (`--snapshot`, `kcb snapshots`).

Only `alpha.<N>` with N written without leading zeros is a snapshot (`alpha.01`, `alpha.x`,
`_delete.123` are not: rsnapshot never makes them), and never a symlink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.tools.rsnapshot import LEVEL

_SNAPSHOT_NAME = re.compile(rf"{LEVEL}\.(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class SnapshotDir:
    index: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def parse_snapshot_name(name: str) -> int | None:
    """N of `alpha.N`, or None for any other name."""
    match = _SNAPSHOT_NAME.fullmatch(name)  # not `$`: 'alpha.1\n' is no snapshot
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
