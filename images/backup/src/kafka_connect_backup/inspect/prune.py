"""`kcb snapshots prune --level L`: delete every `L.N` of a level the supervisor no longer
prunes itself: a level removed from backup.keep (the supervisor keeps its snapshots and logs
`snapshot.level_unconfigured`), or the alpha.N left from backup.retention after moving to
backup.keep. The plan comes first (each snapshot with its time and size); nothing is deleted
without --yes.

A level the supervisor prunes by count is refused (lowering its count is the way), and so is a
prune that would delete the only copy of a backed-up file: a file (a sink file whatever its
compression, a topic metadata file) that a snapshot to delete holds and no kept complete or
unverified snapshot does, unless --allow-loss says the loss is meant.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.units import counted, first_few, human_bytes, utc_iso
from kafka_connect_backup.layout.names import ALL_LEVELS, BACKED_UP_PATTERNS, HOST_DIR, LEVEL
from kafka_connect_backup.layout.sinkfiles import parse_sink_file
from kafka_connect_backup.layout.snapshot_dirs import SnapshotDir, snapshot_dirs
from kafka_connect_backup.layout.snapshot_status import State, snapshot_status, taken_at


class PruneRefused(KcbError):
    """A prune that is not this command's to do, or that would lose data."""

    cause = "prune_refused"


@dataclass(frozen=True)
class Doomed:
    snapshot: SnapshotDir
    taken: datetime
    bytes: int


@dataclass
class PrunePlan:
    level: str
    root: Path
    doomed: list[Doomed] = field(default_factory=list)
    # A backed-up file no kept snapshot holds -> the snapshots to delete that hold it.
    only_copies: dict[str, list[str]] = field(default_factory=dict)

    def render(self) -> str:
        total = sum(d.bytes for d in self.doomed)
        lines = [
            (
                f"prune {counted(len(self.doomed), 'snapshot')} of level {self.level} in "
                f"{self.root} ({human_bytes(total)} of files; hard-linked files shared with "
                "kept snapshots free nothing):"
            )
        ]
        lines += [
            f"  {d.snapshot.name:<11} taken {utc_iso(d.taken)}  {human_bytes(d.bytes)}"
            for d in self.doomed
        ]
        return "\n".join(lines)


def _file_key(relative: Path) -> str | None:
    """What identifies a backed-up file across snapshots: a sink file by its topic, sink and
    period (its .gz, compressed later, is the same file), another by its path."""
    if not any(fnmatchcase(relative.name, p) for p in BACKED_UP_PATTERNS):
        return None
    name = parse_sink_file(relative)
    if name is None:
        return str(relative)
    return str(relative.parent / f"{name.stem}-{name.period}.{name.sink_format.value}")


def _backed_up(snapshot: Path) -> dict[str, str]:
    """Key -> the path (relative to the snapshot) of every backed-up file in it."""
    host = snapshot / HOST_DIR
    found: dict[str, str] = {}
    for path in host.rglob("*"):
        if path.is_file() and not path.is_symlink():
            key = _file_key(path.relative_to(host))
            if key is not None:
                found[key] = str(path.relative_to(snapshot))
    return found


def _size(snapshot: Path) -> int:
    """Bytes of the files the snapshot holds (below localhost/)."""
    return sum(p.lstat().st_size for p in (snapshot / HOST_DIR).rglob("*") if p.is_file())


def check_level(level: str, keep: Mapping[str, int]) -> None:
    """Refuse a level that is no level, or one the supervisor prunes by count."""
    if level not in ALL_LEVELS:
        raise PruneRefused(
            f"--level {level!r} is not a snapshot level",
            fix=f"give one of {', '.join(ALL_LEVELS)}",
        )
    if level in keep:
        raise PruneRefused(
            f"level {level} is configured (backup.keep.{level}: {keep[level]}): the "
            f"supervisor prunes {level}.N by count at every cycle",
            fix=f"lower backup.keep.{level} instead, or remove {level} from backup.keep first",
        )
    if level == LEVEL and not keep:
        raise PruneRefused(
            f"level {LEVEL} is backup.retention's, in use (backup.keep is empty): the "
            f"supervisor prunes {LEVEL}.N by count at every cycle",
            fix="lower backup.retention instead",
        )


def plan_prune(root: Path, level: str) -> PrunePlan:
    """Every `level.N` under root with its time and size, and the backed-up files only they
    hold (kept: every other snapshot that is complete or unverified)."""
    plan = PrunePlan(level, root)
    doomed_files: dict[str, list[str]] = {}
    kept: set[str] = set()
    for snapshot in snapshot_dirs(root):
        if snapshot.level == level:
            plan.doomed.append(Doomed(snapshot, taken_at(snapshot.path), _size(snapshot.path)))
            for key, relative in _backed_up(snapshot.path).items():
                doomed_files.setdefault(key, []).append(f"{snapshot.name}/{relative}")
        elif snapshot_status(snapshot.path).state is not State.INCOMPLETE:
            kept |= set(_backed_up(snapshot.path))
    plan.only_copies = {k: v for k, v in sorted(doomed_files.items()) if k not in kept}
    return plan


def refuse_loss(plan: PrunePlan) -> None:
    """PruneRefused naming the files only the snapshots to delete hold."""
    if not plan.only_copies:
        return
    held = [paths[0] for paths in plan.only_copies.values()]
    raise PruneRefused(
        f"pruning level {plan.level} would delete the only copy of "
        f"{counted(len(held), 'backed-up file')}: {first_few(held)} (no kept complete "
        "snapshot holds them)",
        fix="keep the level, or copy those files elsewhere (kcb snapshots export) and give "
        "--allow-loss",
    )


def prune(plan: PrunePlan) -> None:
    """Delete the plan's snapshots, oldest (highest N) first: a prune cut short leaves the
    level's newest ones, numbered from 0 as before."""
    for doomed in sorted(plan.doomed, key=lambda d: d.snapshot.index, reverse=True):
        shutil.rmtree(doomed.snapshot.path)
