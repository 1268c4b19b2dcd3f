"""`kcb snapshots list`: every snapshot on the mounted backup, of every level (`alpha.N` of
backup.retention, `hourly.N`, `daily.N`, `weekly.N`, `monthly.N` of backup.keep), with the time
it was taken (layout/snapshot_status.taken_at) and its age, its status (complete, incomplete and
why, unverified: layout/snapshot_status.py), its sink files and sizes, and the time range of the
records they hold, and its topic metadata files (kafka/topic_metadata.py: partitions, configs,
consumer groups, when read); then the directories the interrupted-run cleanup set aside
(`_incomplete.{level}.N.{epoch}`), flagged as such. The levels come newest first (the level
taking every cycle's snapshot before the ones it feeds, a left-over alpha after them), and the
heading names the newest complete snapshot.

The range is read from the records themselves (the --timestamp-field of every line), so it is
the honest answer to "which snapshot has the data I need", at the cost of reading the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka_connect_backup.core.units import counted, human_bytes, human_duration, utc_iso
from kafka_connect_backup.kafka.timefilter import MissingTimestamp, TimeFilter, TimeWindow, iso
from kafka_connect_backup.kafka.topic_metadata import PATTERN, MetadataError, read_metadata
from kafka_connect_backup.layout.sinkfiles import METADATA_SUFFIX, is_metadata_name
from kafka_connect_backup.layout.snapshot_dirs import (
    SnapshotDir,
    parse_quarantine_name,
    parse_snapshot_name,
    quarantined_dirs,
    snapshot_dirs,
)
from kafka_connect_backup.layout.snapshot_status import State, Status, snapshot_status, taken_at
from kafka_connect_backup.restore.plan import FilePlan, scan_file
from kafka_connect_backup.restore.sources import SourceError, sink_files_under


@dataclass
class SnapshotFile:
    path: str  # relative to the snapshot directory
    bytes: int
    compressed: bool
    lines: int | None = None
    first_record_time: str | None = None
    last_record_time: str | None = None
    error: str | None = None


@dataclass
class MetadataFile:
    """A topic metadata file of the snapshot (kafka/topic_metadata.py)."""

    path: str  # relative to the snapshot directory
    time: str | None = None  # when the cycle read it
    partitions: int | None = None
    replication_factor: int | None = None
    configs: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None

    def describe(self) -> str:
        if self.error:
            return f"topic metadata: error: {self.error}"
        configs = ", ".join(f"{k}={v}" for k, v in sorted(self.configs.items())) or "defaults"
        return (
            f"topic metadata of {self.time}: {self.partitions} partitions, replication factor "
            f"{self.replication_factor}, configs {configs}, "
            f"{counted(len(self.groups), 'consumer group')}"
        )


def metadata_files(directory: Path, connector: str | None = None) -> list[MetadataFile]:
    found = []
    for path in sorted(directory.rglob(PATTERN)):
        stem = path.name[: -len(METADATA_SUFFIX)]
        if not path.is_file() or not is_metadata_name(path.name):
            continue
        if connector is not None and stem != connector:
            continue
        entry = MetadataFile(str(path.relative_to(directory)))
        try:
            metadata = read_metadata(path)
        except MetadataError as exc:
            entry.error = str(exc)
        else:
            entry.time = iso(metadata.time.timestamp(), seconds=True)
            entry.partitions = metadata.partitions
            entry.replication_factor = metadata.replication_factor
            entry.configs = metadata.configs
            entry.groups = {
                g: {str(p): o for p, o in offsets.items()} for g, offsets in metadata.groups.items()
            }
        found.append(entry)
    return found


@dataclass
class Snapshot:
    name: str
    path: Path
    date: str  # the directory's mtime
    status: Status
    level: str = ""  # alpha, hourly, daily, weekly, monthly (a set-aside one: its original's)
    taken_at: datetime | None = None  # layout/snapshot_status.taken_at
    files: list[SnapshotFile] = field(default_factory=list)
    metadata: list[MetadataFile] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def time_range(self) -> tuple[str | None, str | None]:
        firsts = [f.first_record_time for f in self.files if f.first_record_time]
        lasts = [f.last_record_time for f in self.files if f.last_record_time]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)

    def as_dict(self) -> dict[str, Any]:
        first, last = self.time_range()
        return {
            "name": self.name,
            "level": self.level,
            "takenAt": utc_iso(self.taken_at) if self.taken_at else None,
            "path": str(self.path),
            "date": self.date,
            "status": self.status.state.value,
            "status_reason": self.status.reason,
            "verified_at": self.status.finished,
            "quarantined": self.status.quarantined,
            "bytes": self.bytes,
            "first_record_time": first,
            "last_record_time": last,
            "files": [f.__dict__ for f in self.files],
            "metadata": [m.__dict__ for m in self.metadata],
        }


def describe_snapshots(
    root: Path,
    *,
    connector: str | None = None,
    timestamp_field: str = "utcTime",
    read_records: bool = True,
) -> list[Snapshot]:
    everything = TimeFilter(TimeWindow(None, None), timestamp_field)
    found = []
    for directory in [s.path for s in newest_levels_first(root)] + quarantined_dirs(root):
        date = datetime.fromtimestamp(directory.stat().st_mtime, UTC)
        status = snapshot_status(directory)
        snapshot = Snapshot(
            directory.name,
            directory,
            iso(date.timestamp()) or "",
            status,
            level=_level_of(directory.name),
            taken_at=taken_at(directory),
        )
        for source in sink_files_under(directory, connector):
            entry = SnapshotFile(
                str(source.path.relative_to(directory)), source.size, source.compressed
            )
            if read_records:
                try:
                    plan: FilePlan = scan_file(source, everything, MissingTimestamp.SKIP)
                except SourceError as exc:
                    entry.error = str(exc)
                else:
                    entry.lines = plan.lines + plan.torn
                    entry.first_record_time = iso(plan.first_epoch)
                    entry.last_record_time = iso(plan.last_epoch)
            snapshot.files.append(entry)
        snapshot.metadata = metadata_files(directory, connector)
        found.append(snapshot)
    return found


def _level_of(name: str) -> str:
    aside = parse_quarantine_name(name)
    parsed = parse_snapshot_name(aside[0] if aside else name)
    return parsed[0] if parsed else ""


def newest_levels_first(root: Path) -> list[SnapshotDir]:
    """Every snapshot, by level, N=0 first; the level whose newest snapshot is the newest
    first (after moving to backup.keep: the lowest configured level, then the higher ones,
    then the old alpha.N)."""
    levels: dict[str, list[SnapshotDir]] = {}
    for snapshot in snapshot_dirs(root):
        levels.setdefault(snapshot.level, []).append(snapshot)
    newest = {level: max(taken_at(s.path) for s in found) for level, found in levels.items()}
    order = sorted(levels, key=lambda level: newest[level], reverse=True)
    return [snapshot for level in order for snapshot in levels[level]]


def now() -> datetime:
    """The clock the ages are measured with (a test sets it)."""
    return datetime.now(UTC)


def _taken(snapshot: Snapshot, moment: datetime) -> str:
    if snapshot.taken_at is None:
        return snapshot.date
    age = human_duration((moment - snapshot.taken_at).total_seconds())
    return f"{utc_iso(snapshot.taken_at)} ({age} ago)"


def _newest(snapshots: list[Snapshot], moment: datetime) -> str:
    """The heading's note: the newest snapshot a restore would read by default."""
    usable = [
        s
        for s in snapshots
        if s.taken_at is not None
        and not s.status.quarantined
        and s.status.state is not State.INCOMPLETE
    ]
    if not usable:
        return ""
    newest = max(usable, key=lambda s: s.taken_at or moment)
    return f" (newest: {newest.name}, taken {_taken(newest, moment)})"


def status_word(status: Status) -> str:
    if status.quarantined:
        return "SET ASIDE"
    if status.state is State.INCOMPLETE:
        return "INCOMPLETE"
    return "unverified" if status.state is State.UNVERIFIED else "complete"


def render(root: Path, snapshots: list[Snapshot], moment: datetime | None = None) -> str:
    if not snapshots:
        return f"no snapshot ({{level}}.N) in {root}: is the backup mounted?"
    moment = moment or now()
    lines = [f"snapshots in {root}{_newest(snapshots, moment)}:"]
    width = max([9] + [len(s.name) for s in snapshots if not s.status.quarantined])
    for snapshot in snapshots:
        first, last = snapshot.time_range()
        span = f"records {first} .. {last}" if first else "no timed records"
        lines.append(
            f"{snapshot.name:<{width}} {_taken(snapshot, moment)}  "
            f"{status_word(snapshot.status):<10}  "
            f"{len(snapshot.files)} files  {human_bytes(snapshot.bytes)}  {span}"
        )
        if snapshot.status.state is not State.COMPLETE:
            lines.append(f"    status: {snapshot.status.describe()}")
        for item in snapshot.files:
            detail = (
                f"error: {item.error}"
                if item.error
                else (
                    f"{item.lines} lines, {item.first_record_time} .. {item.last_record_time}"
                    if item.lines is not None
                    else ""
                )
            )
            lines.append(f"    {item.path}  {human_bytes(item.bytes)}  {detail}".rstrip())
        for metadata in snapshot.metadata:
            lines.append(f"    {metadata.path}  {metadata.describe()}")
    incomplete = [s.name for s in snapshots if s.status.state is State.INCOMPLETE]
    if incomplete:
        lines.append(
            f"incomplete: {', '.join(incomplete)}: restore.py --snapshot refuses them unless "
            "--allow-incomplete is given; restore from a complete snapshot instead"
        )
    return "\n".join(lines)


def to_json(snapshots: list[Snapshot]) -> str:
    return json.dumps([s.as_dict() for s in snapshots], indent=2)
