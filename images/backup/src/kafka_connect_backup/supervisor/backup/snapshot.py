"""The backup step of the cycle: mount the encrypted view of the target (tools/volume.py), heal what
a cut-short run left (interrupted.py), prune (retention.py), copy what changed into rsnapshot's
`.sync` (sync_copy.py), run `rsnapshot sync`, verify `.sync`, run the higher backup.keep levels
that are due, highest first (levels.py), then the lowest level (`rsnapshot alpha`, or `rsnapshot
hourly`...), check that its .0 is `.sync`'s hard-link copy, mark it complete
(layout/snapshot_status.py), and always unmount. The rsnapshot runs are sequential, under one
lock file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka_connect_backup.config import Config, Engine, file_name_problem
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.shutdown_grace import ShutdownGrace, StoppedPastGrace, never
from kafka_connect_backup.core.units import utc_iso
from kafka_connect_backup.layout.snapshot_dirs import snapshot_dirs
from kafka_connect_backup.layout.snapshot_status import (
    Committed,
    State,
    is_rsync_temp,
    write_marker,
)
from kafka_connect_backup.supervisor import state
from kafka_connect_backup.supervisor.backup import (
    interrupted,
    levels,
    ownership,
    recovery,
    retention,
    sync_copy,
)
from kafka_connect_backup.supervisor.backup.interrupted import RunState
from kafka_connect_backup.supervisor.backup.recovery import RecoveryPoint
from kafka_connect_backup.tools import rsnapshot
from kafka_connect_backup.tools.volume import check_target, mounted_volume

CONF_NAME = "rsnapshot.conf"
LOCK_NAME = "rsnapshot.pid"
# Bytes hashed at each end of a file by the verification (a cheap content check that catches
# a stale or truncated copy of a growing file without reading gigabytes through FUSE).
SAMPLE_BYTES = 64 * 1024

log = get_logger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    files: int
    bytes: int
    extra: list[str] = field(default_factory=list)  # in the snapshot, not in the source


@dataclass(frozen=True)
class SnapshotResult:
    engine: Engine
    initialised: bool
    files: int  # files in the new snapshot checked against the source
    bytes: int  # their total size
    snapshot_seconds: float  # taking it: the copy into .sync, and the rsnapshot runs
    seconds: float  # the whole step: checks, mount, prune, rsnapshot, verify, unmount
    pruned: list[str]  # names of the {level}.N directories removed by the retention
    rsnapshot_exit_code: int  # 0, or 2 when rsnapshot reported warnings
    copied_files: int = 0  # new or changed files written into .sync by sync_copy
    name: str = "alpha.0"  # the new snapshot: config.backup.newest_snapshot
    promoted: list[str] = field(default_factory=list)  # higher levels fed, highest first
    # After the step: each topic's newest usable snapshot, and the snapshots per level.
    recovery: dict[str, RecoveryPoint] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


# --- verification -------------------------------------------------------------------------


def _sample_hash(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            handle.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


class SnapshotMismatch(KcbError):
    """The copy does not match its source; `files` names the copies that differ."""

    cause = "snapshot_incomplete"

    def __init__(self, message: str, *, fix: str, files: list[str]) -> None:
        super().__init__(message, fix=fix)
        self.files = files


def _same_file(copy: os.stat_result, verified: Path | None) -> bool:
    try:
        return verified is not None and verified.lstat().st_ino == copy.st_ino
    except FileNotFoundError:
        return False


def verify_copy(
    source_dir: Path, snapshot_dir: Path, verified_dir: Path | None = None
) -> VerifyResult:
    """Check that a copy, snapshot_dir, holds every backed-up file of source_dir with the same size,
    modification second and first/last 64 KiB. `verified_dir`: a complete snapshot's copy of
    the same files; a copy that is the very file there (a hard link: nothing rewrote it since)
    was read when that snapshot was verified, so only its size and time are checked (a month of
    hourly files is not read again every 15 minutes). Raises SnapshotMismatch."""
    problems: dict[str, str] = {}
    files = total = 0
    sources = rsnapshot.backed_up_files(source_dir)
    for source in sources:
        copy = snapshot_dir / source.name
        want = source.stat()
        try:
            have = copy.lstat()
        except FileNotFoundError:
            problems[source.name] = "missing"
            continue
        if have.st_size != want.st_size:
            problems[source.name] = f"{have.st_size} bytes, source {want.st_size}"
        elif int(have.st_mtime) != int(want.st_mtime):
            problems[source.name] = "modification time differs from the source"
        elif _same_file(have, verified_dir and verified_dir / source.name):
            files, total = files + 1, total + want.st_size
        elif _sample_hash(copy, have.st_size) != _sample_hash(source, want.st_size):
            problems[source.name] = "content differs from the source"
        else:
            files, total = files + 1, total + want.st_size
    if problems:
        listed = [f"{name}: {problem}" for name, problem in problems.items()]
        shown = "; ".join(listed[:10]) + ("; ..." if len(listed) > 10 else "")
        raise SnapshotMismatch(
            f"snapshot {snapshot_dir} does not match {source_dir} "
            f"({len(problems)} of {len(sources)} files): {shown}",
            fix="the next cycle takes a new snapshot; if this repeats, check the backup volume "
            "and the rsnapshot output",
            files=list(problems),
        )
    names = {s.name for s in sources}
    extra = sorted(p.name for p in snapshot_dir.iterdir() if p.name not in names)
    temps = [name for name in extra if is_rsync_temp(name)]
    if temps:  # rsync's --delete-excluded removes them: one left means rsync did not finish
        raise KcbError(
            f"snapshot {snapshot_dir} holds rsync temporary files {temps[:10]}: rsync did not "
            "finish",
            fix="the next cycle discards this snapshot and takes a new one",
            cause="snapshot_incomplete",
        )
    if extra:
        log.warning("snapshot.extra_files", snapshot=str(snapshot_dir), files=extra[:20])
    return VerifyResult(files, total, extra)


def _verify_sync(
    source_dir: Path, sync_host: Path, newest: str, previous: Path | None
) -> VerifyResult:
    """verify_copy of `.sync/localhost/` before the rotation (`previous`: the complete
    snapshot's localhost/ it was filled from, or None). A copy that differs is removed from
    `.sync` (its links in the snapshots keep their content), so the next run copies it again
    whatever its size and time say."""
    try:
        return verify_copy(source_dir, sync_host, previous)
    except SnapshotMismatch as exc:
        for name in exc.files:
            with contextlib.suppress(OSError):
                (sync_host / name).unlink(missing_ok=True)
        exc.message += f"; nothing was rotated: {newest} is still the previous snapshot"
        raise


def _inodes(directory: Path) -> dict[str, int]:
    return {entry.name: entry.lstat().st_ino for entry in directory.iterdir()}


def _check_linked(sync_host: Path, newest: Path) -> None:
    """The new snapshot (alpha.0, hourly.0...) must be rsnapshot's hard-link copy of the
    verified `.sync`: the same inodes under the same names. (Sizes are not compared again: for
    about a second after a link, gocryptfs 2.3 reports the ciphertext's size for both names.)"""
    want, have = _inodes(sync_host), _inodes(newest)
    if want != have:
        differ = sorted(n for n in want.keys() | have.keys() if want.get(n) != have.get(n))
        raise KcbError(
            f"snapshot {newest} is not the hard-link copy of the verified {sync_host}: "
            f"{len(differ)} name(s) differ, e.g. {differ[:10]}",
            fix="the next cycle discards this snapshot and takes a new one; if this repeats, "
            "check the backup volume",
            cause="snapshot_incomplete",
        )


# --- the step -----------------------------------------------------------------------------


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise KcbError(
                f"no space left to create {path}: {exc.strerror}",
                fix="free space on the backup target or lower backup.retention",
                cause="disk_full",
            ) from exc
        raise


# Failures that can leave a half-written newest snapshot (not: lock held, never started). One in the
# copy or `rsnapshot sync` changes no alpha.N: the check finds "no snapshot was changed".
_HALF_WAY = ("disk_full", "rsnapshot_failed", "snapshot_copy_failed")


def _discard_incomplete(snapshot_root: Path, before: RunState, retain: dict[str, int]) -> str:
    """Discard what a stopped or failed rsnapshot left; a note for the error message."""
    try:
        if interrupted.run_state(snapshot_root, retain) == before:
            return "; no snapshot was changed"
        cleanup = interrupted.discard_incomplete(snapshot_root, before, retain)
    except OSError as exc:  # never hide the error that got us here
        lowest = next(iter(retain))
        log.error(
            "snapshot.cleanup_failed",
            snapshot_root=str(snapshot_root),
            error=str(exc),
            fix=f"an incomplete {lowest}.0 may remain: check the backup volume before restoring "
            f"from {lowest}.0 (the previous snapshot is {lowest}.1)",
        )
        return f"; could not discard the incomplete snapshot: {exc}"
    return (
        f"; removed {sorted(cleanup.removed) or 'nothing'}, set aside "
        f"{sorted(cleanup.quarantined.values()) or 'nothing'}, kept {cleanup.kept}"
    )


def _mark_complete(
    snapshot: Path, verified: VerifyResult, committed: Committed | None = None
) -> None:
    """Write the completeness marker of a verified snapshot (with the sinks' committed offsets
    at the stop, when known); without it the snapshot does not count as complete, so failing
    to write it fails the step."""
    details = {} if committed is None else {"committedOffsets": committed}
    try:
        marker = write_marker(
            snapshot, verified=True, files=verified.files, bytes=verified.bytes, **details
        )
    except OSError as exc:
        full = exc.errno == errno.ENOSPC
        raise KcbError(
            f"snapshot {snapshot} was verified but its completeness marker could not be "
            f"written: {exc.strerror or exc}",
            fix="free space on the backup target or lower backup.retention"
            if full
            else "check the backup volume; the next cycle discards this snapshot and retries",
            cause="disk_full" if full else "snapshot_incomplete",
        ) from exc
    log.info("snapshot.marked_complete", snapshot=str(snapshot), listing=marker["listing"])


def _check_file_names(config: Config, engine: Engine) -> None:
    """The config checked the names against backup.engine (auto: gocryptfs, a new volume's);
    an existing volume's engine wins (an original's encfs stores shorter names): refused
    before anything is copied, not as "File name too long" half-way through each cycle."""
    for index, topic in enumerate(config.topics):
        problem = file_name_problem(
            topic, config.sink_name, config.sink_rotation, config.sink_format, engine
        )
        if problem:
            raise KcbError(f"topics.{index}: {problem}", cause="file_name_too_long")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Rotated:
    seconds: float
    exit_code: int
    promoted: list[str]


def _rotate(
    config: Config,
    conf: Path,
    lockfile: Path,
    snapshot_root: Path,
    now: datetime,
    grace: ShutdownGrace,
) -> _Rotated:
    """The rotations after `rsnapshot sync`: each higher level that is due (levels.py), highest
    first, each recorded in the supervisor state as soon as it ran, then the lowest level,
    which links `.sync` as its .0. One rsnapshot at a time (one lock file)."""
    retain = config.backup.levels
    existing = {s.name for s in snapshot_dirs(snapshot_root)}
    due = levels.due_levels(
        now, retain, config.backup.keep_at_time, state.promotions(config), existing
    )
    if len(retain) > 1:
        log.info("snapshot.levels_due", due=due, at=utc_iso(now))
    seconds, code = 0.0, 0
    for level in due:
        ran = rsnapshot.run(conf, lockfile, level, grace=grace)
        state.record_promotion(config, level, now)
        log.info("snapshot.level_promoted", snapshot_level=level, seconds=round(ran.seconds, 3))
        seconds, code = seconds + ran.seconds, max(code, ran.exit_code)
    ran = rsnapshot.run(conf, lockfile, config.backup.lowest_level, grace=grace)
    return _Rotated(seconds + ran.seconds, max(code, ran.exit_code), due)


def backup_snapshot(
    config: Config,
    *,
    source_dir: Path | None = None,
    stop_requested: Callable[[], bool] = never,
    committed: Committed | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> SnapshotResult:
    """One backup of source_dir (default config.sink_path; the cycle passes its staging copy):
    checks, mount, prune beyond backup.retention / backup.keep, copy into .sync, rsnapshot sync,
    verify .sync against the source, the due higher levels and the lowest level's rotation
    (`now`: the cycle's clock, for which levels are due), check the new snapshot's links, mark
    it complete, unmount (always). Once stop_requested() is true the copy and rsnapshot share
    config.shutdownGraceSeconds before they are stopped (StoppedPastGrace, cause shutdown).
    Raises KcbError with one of the causes password_file_unreadable, target_missing,
    target_not_mounted, target_not_empty, init_not_allowed, backup_volume_foreign_owner,
    wrong_password, mount_failed, disk_full, snapshot_copy_failed, rsnapshot_locked,
    rsnapshot_failed, snapshot_incomplete, file_name_too_long."""
    start = time.monotonic()
    backup = config.backup
    retain = backup.levels
    source = source_dir or config.sink_path
    grace = ShutdownGrace(stop_requested, config.shutdown_grace_seconds)
    check_target(backup)
    ownership.take_over(backup.target_dir)  # before the mount: the ciphertext is not in use
    with mounted_volume(backup) as volume:
        _check_file_names(config, volume.engine)
        _make_dir(volume.snapshot_root)
        killed = interrupted.left_behind(volume.snapshot_root)
        # What a killed rsync left: anywhere on a volume of a version before sync_first (no
        # .sync yet) or after a kill, else only in a .0.
        everywhere = killed is not None or not (volume.snapshot_root / rsnapshot.SYNC_DIR).is_dir()
        interrupted.strip_rsync_temps(volume.snapshot_root, everywhere=everywhere)
        if killed is not None:
            # The previous run was killed mid-way: what it left must not rotate on as {level}.1.
            log.warning("snapshot.killed_run_found", snapshot_root=str(volume.snapshot_root))
            interrupted.discard_incomplete(volume.snapshot_root, killed, retain)
            interrupted.clear_run(volume.snapshot_root)
        # Whatever ended the last run: an incomplete newest must not rotate on as {level}.1.
        settled = interrupted.settle_newest(volume.snapshot_root, backup.lowest_level)
        previous = volume.snapshot_root / backup.newest_snapshot / rsnapshot.HOST_DIR
        pruned = retention.prune(volume.snapshot_root, retain)
        _make_dir(backup.work_dir)
        conf, lockfile = backup.work_dir / CONF_NAME, backup.work_dir / LOCK_NAME
        rsnapshot.write_config(
            conf,
            rsnapshot.render_config(
                snapshot_root=volume.snapshot_root,
                source_dir=source,
                levels=retain,
                lockfile=lockfile,
            ),
        )
        before = interrupted.run_state(volume.snapshot_root, retain)
        try:
            interrupted.mark_run(volume.snapshot_root, before)
        except OSError as exc:
            # A volume that cannot take the marker (read-only, full) fails rsnapshot too,
            # which then reports it with its own output: the marker is no cause of its own.
            log.warning(
                "snapshot.run_marker_not_written",
                snapshot_root=str(volume.snapshot_root),
                error=str(exc),
                note="a kill during this run would not be recovered by the next one",
            )
        sync_host = volume.snapshot_root / rsnapshot.SYNC_DIR / rsnapshot.HOST_DIR
        try:
            copied = sync_copy.fill_sync_dir(
                source,
                volume.snapshot_root,
                grace=grace,
                direct=True,
                newest=backup.newest_snapshot,
            )
            synced = rsnapshot.run(conf, lockfile, rsnapshot.SYNC, grace=grace)
            # A mismatch rotates nothing.
            verified = _verify_sync(
                source,
                sync_host,
                backup.newest_snapshot,
                previous if settled.newest is State.COMPLETE else None,
            )
            rotated = _rotate(config, conf, lockfile, volume.snapshot_root, now(), grace)
        except KcbError as exc:
            # Stopped past the shutdown grace, or failed half way (disk full, rsync error):
            # what it left must never rotate on as if it were a snapshot.
            if isinstance(exc, StoppedPastGrace) or exc.cause in _HALF_WAY:
                exc.message += _discard_incomplete(volume.snapshot_root, before, retain)
            with contextlib.suppress(OSError):  # never hide the error that got us here
                interrupted.clear_run(volume.snapshot_root)
            raise
        seconds = copied.seconds + synced.seconds + rotated.seconds
        exit_code = max(synced.exit_code, rotated.exit_code)
        log.info("snapshot.done", seconds=round(seconds, 3), exit_code=exit_code)
        newest = volume.snapshot_root / backup.newest_snapshot
        newest_host = newest / rsnapshot.HOST_DIR
        # rsnapshot finished: what the new snapshot holds is reported, not discarded as cut short.
        try:
            _check_linked(sync_host, newest_host)
        except KcbError as exc:
            # Recorded in the snapshot, so the listing shows why and the next run discards it.
            try:
                write_marker(newest, verified=False, problem=exc.message)
            except OSError as error:  # never hide the error that got us here
                log.warning("snapshot.marker_not_written", snapshot=str(newest), error=str(error))
            with contextlib.suppress(OSError):
                interrupted.clear_run(volume.snapshot_root)
            raise
        _mark_complete(newest, verified, committed)
        # With `retain 1`, sync_first's rotation moves alpha.0 to alpha.1 and keeps it: only
        # now that the new snapshot is complete may the previous one go.
        pruned += retention.prune(volume.snapshot_root, retain, report_unconfigured=False)
        interrupted.clear_run(volume.snapshot_root)
        points = recovery.recovery_points(volume.snapshot_root, config.topics, config.sink_name)
        counts = recovery.snapshot_counts(volume.snapshot_root)
        log.info(
            "snapshot.verified",
            snapshot=str(newest_host),
            files=verified.files,
            bytes=verified.bytes,
        )
    return SnapshotResult(
        engine=volume.engine,
        initialised=volume.initialised,
        files=verified.files,
        bytes=verified.bytes,
        snapshot_seconds=seconds,
        seconds=time.monotonic() - start,
        pruned=[p.name for p in pruned],
        rsnapshot_exit_code=exit_code,
        copied_files=copied.files,
        name=backup.newest_snapshot,
        promoted=rotated.promoted,
        recovery=points,
        counts=counts,
    )
