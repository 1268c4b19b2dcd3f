"""Discard what an rsnapshot stopped half way left behind, so it never passes as a snapshot.

rsnapshot's `alpha` run (link_dest off, sync_first on, as rendered) does, in order:
`rm -rf alpha.{retain-1}`, `mv alpha.{i-1} alpha.{i}` down to alpha.1, then `cp -al .sync
alpha.0` (hard links of what sync_copy.py and `rsnapshot sync` wrote into `.sync` before, which
touched no alpha.N). Versions before sync_first did `cp -al alpha.0 alpha.1`, then rsync into
`alpha.0/localhost/` (each file written to a temporary name, then renamed, so the hard links
in alpha.1 keep the previous content); their volumes are judged by the same rules. Stopped at
any point, the previous snapshot survives intact somewhere: in alpha.0 until the rotation
moves it (or rsync starts), in alpha.1 from then on.

The rule, from the content of every `alpha.N` before the run (path, size, mtime of each file):
- a directory whose content equals a snapshot from before the run is kept (an original, or a
  complete hard-link copy of one; a copy beside its intact original is removed);
- alpha.0 whose content changed is removed, but only when the previous alpha.0's content is
  kept intact elsewhere (or there was none: the first snapshot, whose source is still there);
- a partial hard-link copy of a snapshot kept intact, or the alpha.{retain-1} rsnapshot was
  deleting, is removed (no byte that exists nowhere else);
- anything else is renamed `_incomplete.alpha.N.{epoch}` (out of every alpha.N listing),
  never deleted;
- the kept snapshots are renumbered alpha.0, alpha.1, ... in order, so alpha.0 is again the
  newest complete snapshot and the next run hard-links against it.

With backup.keep's levels, read alpha as the lowest configured level (the one a run writes
`.0` of); a higher level's run (`rsnapshot daily`: `rm -rf daily.{max}`, `mv daily.{i-1}
daily.{i}`, `mv hourly.{max} daily.0`) only renames and deletes, so its snapshots are judged by
the same rule with their own level's count, and renumbered within their level.

A run killed outright (SIGKILL, the node lost) cannot clean up: what the rule needs is written to
a marker on the backup volume before rsnapshot starts (`RUN_MARKER`, beside the alpha.N) and
removed once the run is verified or cleaned up, so the next run finds a marker left behind and
applies the same rule before anything else touches the snapshots. The marker holds the
fingerprints of the snapshots a run can write into or delete, and every snapshot's directory
inode: the others a run only renames, so their content is read after the kill, found by inode
(`RunState`). A snapshot whose
completeness marker (layout/snapshot_status.py) matches its content is complete whatever the
fingerprints say (the kill fell between the marker and the end of the run), and is kept.

Before every rotation (`settle_newest`), whether or not a run was killed, alpha.0 is judged by its
completeness marker:
- complete, or unverified (no marker: made by an older version): it rotates on as it is;
- incomplete (its content changed after its verification, its verification failed, or its
  marker is unreadable) and a complete snapshot exists below it: removed, the others renumbered,
  and the same rule applies to the new alpha.0 (its source, the sink files, is untouched: the
  next snapshot takes it again);
- incomplete and no complete snapshot exists: it is the only copy, so it is kept (rsnapshot
  rotates it on) and stays listed as incomplete by `kcb snapshots list`; restore refuses it
  without `--allow-incomplete`.
rsync's temporary files (`.{name}.XXXXXX`, left by a killed rsync) are removed from the
snapshots' `localhost/` first of all (`strip_rsync_temps`, before either rule): they are partial
copies of files their source still has, a `cp -al` rotation would carry them on into alpha.1
(rsync's `--delete-excluded` only cleans alpha.0), and without them a snapshot rsync was killed
in before it renamed anything is its previous, complete self again. Every snapshot's on a volume
without `.sync` (last written by a version before sync_first, or the original chart) or after a
killed run; otherwise each level's .0 alone, the only place a version's rsync ever wrote.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from kafka_connect_backup.core import records
from kafka_connect_backup.core.durable import remove_temp_files
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.layout.names import HOST_DIR, RUN_MARKER
from kafka_connect_backup.layout.snapshot_dirs import (
    Fingerprint,
    SnapshotDir,
    fingerprint,
    quarantine_name,
    snapshot_dirs,
    snapshot_name,
)
from kafka_connect_backup.layout.snapshot_status import (
    State,
    Status,
    is_rsync_temp,
    snapshot_status,
)

log = get_logger(__name__)


@dataclass
class Cleanup:
    removed: dict[str, str] = field(default_factory=dict)  # name -> why
    quarantined: dict[str, str] = field(default_factory=dict)  # name -> new name
    renamed: dict[str, str] = field(default_factory=dict)  # old name -> new name
    kept: list[str] = field(default_factory=list)  # final names
    newest: State | None = None  # settle_newest: the state of {level}.0 it leaves


@dataclass(frozen=True)
class RunState:
    """The snapshots before a run, as the rule needs them: `content`, the fingerprint of each
    one a run can write into or delete, and `inodes`, each one's directory inode (a rename
    keeps it: `mv hourly.3 hourly.4`, `mv hourly.23 daily.0`), so the content of the others,
    which a run only renames, is read when a cleanup needs it, not before every run (with a
    month of snapshots that walk was most of a cycle). A snapshot in `content` but not in
    `inodes` was recorded whole (`fingerprints`, or a marker of a version before this)."""

    content: dict[str, Fingerprint]
    inodes: dict[str, int] = field(default_factory=dict)


def fingerprints(snapshot_root: Path) -> RunState:
    """Every {level}.N's whole fingerprint, by name."""
    return RunState({s.path.name: fingerprint(s.path) for s in snapshot_dirs(snapshot_root)})


def _changeable(dirs: list[SnapshotDir], levels: Mapping[str, int]) -> set[str]:
    """The snapshots an rsnapshot run can write into or delete: the lowest level's .0 (a run
    without sync_first rsyncs into it) and each configured level's from its last kept on (`rm
    -rf {level}.{count-1}`). rsnapshot only renames the others."""
    lowest = next(iter(levels))
    return {
        s.name
        for s in dirs
        if (s.level == lowest and s.index == 0)
        or (s.level in levels and s.index >= levels[s.level] - 1)
    }


def run_state(snapshot_root: Path, levels: Mapping[str, int]) -> RunState:
    """The snapshots as a run is about to change them (take it right before rsnapshot runs).
    `levels`: config.backup.levels, lowest first."""
    dirs = snapshot_dirs(snapshot_root)
    changeable = _changeable(dirs, levels)
    return RunState(
        {s.name: fingerprint(s.path) for s in dirs if s.name in changeable},
        {s.name: s.path.stat().st_ino for s in dirs},
    )


def _contents(snapshot_root: Path, before: RunState) -> dict[str, Fingerprint]:
    """The whole content of every snapshot before the run: as recorded, or, for one the run
    could only rename, read now wherever its inode is (one no longer there is left out)."""
    where = {s.path.stat().st_ino: s.path for s in snapshot_dirs(snapshot_root)}
    full = dict(before.content)
    for name, inode in before.inodes.items():
        if name not in full and inode in where:
            full[name] = fingerprint(where[inode])
    return full


class _RunMarker(msgspec.Struct, frozen=True):
    """RUN_MARKER: RunState, the fingerprint entries (path, size, mtime ns) sorted."""

    before: dict[str, list[tuple[str, int, int]]]
    inodes: dict[str, int] = msgspec.field(default_factory=dict)


def mark_run(snapshot_root: Path, before: RunState) -> None:
    """Record the snapshots as they are before rsnapshot runs (durably: it must survive a kill)."""
    content = {name: sorted(entries) for name, entries in before.content.items()}
    records.save(snapshot_root / RUN_MARKER, _RunMarker(content, before.inodes))


def clear_run(snapshot_root: Path) -> None:
    marker = snapshot_root / RUN_MARKER
    if marker.exists():  # unlink(missing_ok) still fails with EROFS on a read-only volume
        marker.unlink()


def left_behind(snapshot_root: Path) -> RunState | None:
    """The fingerprints a killed run recorded, or None when the last run ended properly."""
    try:
        marker = records.load(snapshot_root / RUN_MARKER, _RunMarker)
    except RecordUnreadable as exc:
        # A marker that cannot be read still means a run did not finish: keep every snapshot
        # as it is (nothing is removed on a guess), say so, and start afresh.
        log.error(
            "snapshot.run_marker_unreadable",
            marker=str(snapshot_root / RUN_MARKER),
            error=str(exc.error),
            fix="a run may have been cut short: check the newest snapshots (kcb snapshots verify "
            "--all) before restoring from them",
        )
        return None
    if marker is None:
        return None
    content = {name: frozenset(entries) for name, entries in marker.before.items()}
    return RunState(content, marker.inodes)


def discard_incomplete(snapshot_root: Path, run: RunState, levels: Mapping[str, int]) -> Cleanup:
    """Apply the module's rule after rsnapshot was stopped; log exactly what was done.
    `levels`: rsnapshot's retain levels, lowest first (config.backup.levels): the lowest's .0
    is the snapshot a run writes, each level's `.{count-1}` the one a rotation deletes."""
    done = Cleanup()
    before = _contents(snapshot_root, run)
    complete = set(before.values())
    newest = snapshot_name(next(iter(levels)), 0)
    previous = before.get(newest)
    dirs = snapshot_dirs(snapshot_root)
    now = {s.path.name: fingerprint(s.path) for s in dirs}
    intact = {fp for fp in now.values() if fp in complete}
    kept = []
    verified = set()  # kept for their matching completeness marker, not their fingerprint
    for snapshot in dirs:
        name, content = snapshot.path.name, now[snapshot.path.name]
        if content in complete:
            kept.append(snapshot)
            continue
        if snapshot_status(snapshot.path).state is State.COMPLETE:
            kept.append(snapshot)  # verified and marked, then killed before the run ended
            verified.add(name)
            continue
        why = _why_remove(
            snapshot, name == newest, content, before.get(name), previous, intact, levels
        )
        if why is not None:
            shutil.rmtree(snapshot.path)
            done.removed[name] = why
        else:
            aside = quarantine_name(name, int(time.time()))
            snapshot.path.rename(snapshot_root / aside)
            done.quarantined[name] = aside
    unique = _one_of_each(kept, verified, now, Counter(before.values()), done)
    _renumber(snapshot_root, unique, done)
    log.warning(
        "snapshot.interrupted_cleanup",
        snapshot_root=str(snapshot_root),
        removed=done.removed,
        quarantined=done.quarantined,
        renamed=done.renamed,
        kept=done.kept,
        previous_intact=previous is None or previous in intact,
    )
    return done


def _why_remove(
    snapshot: SnapshotDir,
    newest: bool,
    content: Fingerprint,
    was: Fingerprint | None,
    previous: Fingerprint | None,
    intact: set[Fingerprint],
    levels: Mapping[str, int],
) -> str | None:
    """Why an incomplete snapshot can go (the module's rule), or None: it is set aside.
    `newest`: it is the lowest level's .0, the one a run writes."""
    if newest and previous is None:
        return "first snapshot, incomplete (its source is untouched)"
    if newest and previous in intact:
        return "incomplete: rsync was writing it; the previous snapshot is kept intact"
    count = levels.get(snapshot.level)
    if snapshot.index == (count or 0) - 1 and was is not None and content < was:
        return f"partly deleted by rsnapshot (beyond retention {count})"
    if any(content < fp for fp in intact):
        return "incomplete hard-link copy of a snapshot that is kept intact"
    return None


def _one_of_each(
    kept: list[SnapshotDir],
    verified: set[str],
    now: dict[str, Fingerprint],
    allowed: Counter[Fingerprint],
    done: Cleanup,
) -> list[SnapshotDir]:
    """A complete `cp -al` copy beside an untouched alpha.0 is the same snapshot twice: keep
    as many of each as there were before the run (`allowed`, the lowest numbers); remove the
    others."""
    unique = []
    for snapshot in kept:
        content = now[snapshot.path.name]
        if snapshot.path.name in verified:
            unique.append(snapshot)
        elif allowed[content] > 0:
            allowed[content] -= 1
            unique.append(snapshot)
        else:
            shutil.rmtree(snapshot.path)
            done.removed[snapshot.path.name] = "hard-link copy (cp -al) of a snapshot kept intact"
    return unique


def _renumber(snapshot_root: Path, kept: list[SnapshotDir], done: Cleanup) -> None:
    """Rename the kept snapshots of each level (in ascending order) to {level}.0, {level}.1,
    ... (snapshot_dirs' order: by level, then N)."""
    next_index: Counter[str] = Counter()
    for snapshot in kept:
        target = snapshot_root / snapshot_name(snapshot.level, next_index[snapshot.level])
        next_index[snapshot.level] += 1
        if snapshot.path != target:  # ascending order: the target is always free
            snapshot.path.rename(target)
            done.renamed[snapshot.path.name] = target.name
        done.kept.append(target.name)


def newest_to_discard(states: list[State]) -> int:
    """How many of the newest snapshots (states ordered alpha.0, alpha.1, ...) to discard
    before a rotation: the incomplete ones at the top, but only when a complete snapshot
    exists below them (otherwise they are the only copy and are kept). Pure: the rule."""
    top = 0
    while top < len(states) and states[top] is State.INCOMPLETE:
        top += 1
    return top if State.COMPLETE in states[top:] else 0


def strip_rsync_temps(snapshot_root: Path, *, everywhere: bool = True) -> dict[str, list[str]]:
    """Remove rsync's temporary files from the snapshots' localhost/ (first thing of a run: the
    snapshots are then judged on what rsync finished); log them, by snapshot. `everywhere`
    false: only each level's .0, where rsync (without sync_first) writes; a version with
    sync_first (whose `.sync` exists) leaves none in a snapshot unless it is killed, and
    listing every snapshot through FUSE each cycle would cost more than the rest of it."""
    removed = {}
    for snapshot in snapshot_dirs(snapshot_root):
        if not everywhere and snapshot.index != 0:
            continue
        temps = remove_temp_files(snapshot.path / HOST_DIR, is_rsync_temp)
        if temps:
            removed[snapshot.name] = [t.name for t in temps]
            log.warning(
                "snapshot.rsync_temp_removed",
                snapshot=str(snapshot.path),
                files=removed[snapshot.name],
                note="partial copies a killed rsync left; their source files are untouched",
            )
    return removed


def settle_newest(snapshot_root: Path, level: str) -> Cleanup:
    """Before a rotation (after strip_rsync_temps): discard an incomplete `{level}.0` (level:
    the lowest configured, which the run rotates) when a complete snapshot of that level
    exists (see the module's rule); log it."""
    done = Cleanup()
    dirs = snapshot_dirs(snapshot_root, level)
    if not dirs or dirs[0].index != 0:
        return done
    statuses: list[Status] = []
    for snapshot in dirs:  # only as far as the rule looks: usually {level}.0 alone
        statuses.append(snapshot_status(snapshot.path))
        if statuses[0].state is not State.INCOMPLETE or statuses[-1].state is State.COMPLETE:
            break
    states = [status.state for status in statuses]
    discard = newest_to_discard(states)
    done.newest = states[discard] if discard < len(states) else None
    for snapshot, status in zip(dirs[:discard], statuses, strict=False):
        shutil.rmtree(snapshot.path)
        done.removed[snapshot.name] = status.describe()
    if discard:
        _renumber(snapshot_root, dirs[discard:], done)
        log.warning(
            "snapshot.incomplete_discarded",
            snapshot_root=str(snapshot_root),
            removed=done.removed,
            renamed=done.renamed,
            kept=done.kept,
            note="the next snapshot takes their source again",
        )
    elif states[0] is State.INCOMPLETE:
        log.warning(
            "snapshot.incomplete_kept",
            snapshot=str(dirs[0].path),
            status=statuses[0].describe(),
            note="no complete snapshot exists, so this only copy is kept; kcb snapshots list "
            "shows it as incomplete and restore.py refuses it without --allow-incomplete",
        )
    return done
