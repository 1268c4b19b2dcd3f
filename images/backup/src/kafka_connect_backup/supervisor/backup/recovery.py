"""The recovery point of each topic: the newest snapshot, of any level, that is complete (or
unverified: an older version's, without a marker) and holds any of the topic's sink files; what
a restore would start from if the data volume were lost now. Read while the backup volume is
mounted (after each cycle's snapshot), kept in the supervisor state, shown by `kcb status` and
the metric `kcb_recovery_point_age_seconds{topic}`. Also the count of snapshots per level
(`kcb_snapshots{level}`)."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.layout.names import HOST_DIR
from kafka_connect_backup.layout.sinkfiles import connector_name, parse_sink_file
from kafka_connect_backup.layout.snapshot_dirs import SnapshotDir, snapshot_dirs
from kafka_connect_backup.layout.snapshot_status import State, snapshot_status, taken_at


@dataclass(frozen=True)
class RecoveryPoint:
    snapshot: str  # hourly.0, daily.3, alpha.0...
    taken_at: float  # epoch seconds (layout/snapshot_status.taken_at)


def _stems(snapshot: Path) -> set[str]:
    """The `{topic}-{sinkName}` of every sink file in a snapshot."""
    host = snapshot / HOST_DIR
    if not host.is_dir():
        return set()
    return {parsed.stem for p in host.iterdir() if (parsed := parse_sink_file(p)) is not None}


def _newest_first(snapshot_root: Path) -> Iterator[tuple[float, SnapshotDir]]:
    """(taken_at, snapshot) of every snapshot, newest first. Within a level a lower N is
    newer (rsnapshot's rotation), so the levels are merged and each snapshot's time is read
    only when it is reached: usually each level's .0, not a month of markers every cycle."""
    by_level: dict[str, list[SnapshotDir]] = defaultdict(list)
    for snapshot in snapshot_dirs(snapshot_root):
        by_level[snapshot.level].append(snapshot)
    streams = [((taken_at(s.path).timestamp(), s) for s in dirs) for dirs in by_level.values()]
    return heapq.merge(*streams, key=lambda pair: pair[0], reverse=True)


def recovery_points(
    snapshot_root: Path, topics: list[str], sink_name: str
) -> dict[str, RecoveryPoint]:
    """Each topic's recovery point (a topic no usable snapshot holds is left out). Snapshots
    are looked at newest first and only until every topic has one."""
    wanted = {connector_name(topic, sink_name): topic for topic in topics}
    found: dict[str, RecoveryPoint] = {}
    for moment, snapshot in _newest_first(snapshot_root):
        if len(found) == len(wanted):
            break
        held = [wanted[stem] for stem in _stems(snapshot.path) if stem in wanted]
        if not [topic for topic in held if topic not in found]:
            continue
        if snapshot_status(snapshot.path).state is State.INCOMPLETE:
            continue
        for topic in held:
            found.setdefault(topic, RecoveryPoint(snapshot.name, moment))
    return {topic: found[topic] for topic in topics if topic in found}


def snapshot_counts(snapshot_root: Path) -> dict[str, int]:
    """How many snapshot directories each level has (levels with none left out)."""
    return dict(Counter(s.level for s in snapshot_dirs(snapshot_root)))
