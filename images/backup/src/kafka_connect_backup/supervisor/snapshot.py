"""The backup step of the cycle: mount the encrypted view of the target, prune, run rsnapshot,
verify `alpha.0`, and always unmount.

Safety rules (design §5): the target must exist and, unless configured otherwise, be a mount
point, so a missing NFS mount fails loudly instead of filling the container. A new encrypted
volume is only created on an empty target and only when `backup.allowInit` is true. An existing
volume's engine, detected from its config file, wins over `backup.engine`.
"""

from __future__ import annotations

import errno
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from kafka_connect_backup.config import BackupSettings, Config, Engine
from kafka_connect_backup.errors import KcbError
from kafka_connect_backup.logs import get_logger, register_secret
from kafka_connect_backup.supervisor import interrupted, retention
from kafka_connect_backup.tools import encfs, fuse, gocryptfs, rsnapshot

CONF_NAME = "rsnapshot.conf"
LOCK_NAME = "rsnapshot.pid"
HOST_DIR = "localhost"
# Bytes hashed at each end of a file by the verification (a cheap content check that catches
# a stale or truncated copy of a growing file without reading gigabytes through FUSE).
SAMPLE_BYTES = 64 * 1024

ENGINES: dict[Engine, ModuleType] = {Engine.ENCFS: encfs, Engine.GOCRYPTFS: gocryptfs}

log = get_logger(__name__)

# True once a shutdown is requested (the cycle sets it around the step): a running rsnapshot
# then gets config.shutdownGraceSeconds before it is stopped. A context variable keeps the
# injectable SnapshotFn signature (config, now) unchanged.
STOP_REQUESTED: ContextVar[Callable[[], bool]] = ContextVar(
    "kcb_stop_requested", default=lambda: False
)


@dataclass(frozen=True)
class MountedVolume:
    engine: Engine
    mount_point: Path
    snapshot_root: Path
    initialised: bool  # True when this mount created the volume


@dataclass(frozen=True)
class VerifyResult:
    files: int
    bytes: int
    extra: list[str] = field(default_factory=list)  # in the snapshot, not in the source


@dataclass(frozen=True)
class SnapshotResult:
    engine: Engine
    initialised: bool
    files: int  # files in alpha.0 checked against the source
    bytes: int  # their total size
    rsnapshot_seconds: float
    seconds: float  # the whole step: checks, mount, prune, rsnapshot, verify, unmount
    pruned: list[str]  # names of the alpha.N directories removed by the retention
    rsnapshot_exit_code: int  # 0, or 2 when rsnapshot reported warnings
    finished_at: datetime


# --- checks -------------------------------------------------------------------------------


def read_password(path: Path) -> str:
    """The password: the file's content without its trailing newline; registered as a secret
    so no log line can show it."""
    fix = (
        f"mount the encryption Secret at {path} (backup.passwordFile) readable by this user, "
        "holding the volume password on one line"
    )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise KcbError(
            f"cannot read the password file {path}: {reason}",
            fix=fix,
            cause="password_file_unreadable",
        ) from None
    password = text.rstrip("\r\n")
    if not password or "\n" in password:
        problem = "is empty" if not password else "holds more than one line"
        raise KcbError(
            f"the password file {path} {problem}", fix=fix, cause="password_file_unreadable"
        )
    register_secret(password)
    return password


def check_target(backup: BackupSettings) -> None:
    target = backup.target_dir
    if not target.is_dir():
        raise KcbError(
            f"backup target {target} does not exist or is not a directory",
            fix=f"mount the backup volume (the chart's targetPvcName) at {target} "
            "(backup.targetDir)",
            cause="target_missing",
        )
    if backup.require_target_mount and not fuse.is_mount_point(target):
        raise KcbError(
            f"backup target {target} is not a mount point: backups would land in the "
            "container's own filesystem",
            fix=f"mount the backup volume at {target}, or set backup.requireTargetMount=false "
            "if it is deliberately a plain directory",
            cause="target_not_mounted",
        )


def detect_engine(target: Path) -> Engine | None:
    """The engine of the volume in target (from its config file), or None when none is there."""
    found = [engine for engine, module in ENGINES.items() if module.is_volume(target)]
    if len(found) > 1:
        raise KcbError(
            f"{target} holds both {encfs.CONFIG_FILE} and {gocryptfs.CONFIG_FILE}",
            fix="keep only the config file of the volume's real engine",
            cause="mount_failed",
        )
    return found[0] if found else None


def _check_mount_point(mount_point: Path) -> None:
    # An emptyDir mounted there (the chart's) is fine; an encrypted view left mounted is not.
    if fuse.is_fuse_mounted(mount_point):
        raise KcbError(
            f"mount point {mount_point} is already mounted (a previous run did not unmount, or "
            "something else is mounted there)",
            fix=f"unmount it (fusermount -u {mount_point}) or choose another backup.mountPoint",
            cause="mount_failed",
        )
    mount_point.mkdir(parents=True, exist_ok=True)
    if any(mount_point.iterdir()):
        raise KcbError(
            f"mount point {mount_point} is not empty: its files would be hidden by the mount",
            fix=f"empty {mount_point} or choose another backup.mountPoint",
            cause="mount_failed",
        )


def _prepare_volume(backup: BackupSettings, password: str, allow_init: bool) -> tuple[Engine, bool]:
    """Detect the engine, initialising a volume only on an empty target and when allowed."""
    target = backup.target_dir
    engine = detect_engine(target)
    if engine is not None:
        if engine != backup.engine:
            log.warning(
                "engine_detected",
                target=str(target),
                engine=engine.value,
                configured=backup.engine.value,
                note="the existing volume's engine wins over backup.engine",
            )
        return engine, False
    entries = sorted(p.name for p in target.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise KcbError(
            f"backup target {target} is not empty ({shown}) but holds no encrypted volume "
            f"({encfs.CONFIG_FILE} or {gocryptfs.CONFIG_FILE}): refusing to initialise over it",
            fix=f"point backup.targetDir at the volume, restore its config file, or empty {target}",
            cause="target_not_empty",
        )
    if not allow_init:
        raise KcbError(
            f"backup target {target} is empty: no encrypted volume to mount",
            fix="set backup.allowInit=true to create a new volume there (first install only), "
            "or mount the right backup volume",
            cause="init_not_allowed",
        )
    ENGINES[backup.engine].init(target, password, backup.work_dir)
    return backup.engine, True


@contextmanager
def mounted_volume(
    backup: BackupSettings, *, allow_init: bool | None = None
) -> Iterator[MountedVolume]:
    """Check everything, mount the plaintext view of backup.target_dir on backup.mount_point,
    yield it, and always unmount."""
    password = read_password(backup.password_file)
    check_target(backup)
    _check_mount_point(backup.mount_point)
    engine, initialised = _prepare_volume(
        backup, password, backup.allow_init if allow_init is None else allow_init
    )
    ENGINES[engine].mount(backup.target_dir, backup.mount_point, password)
    log.info(
        "backup_volume_mounted",
        engine=engine.value,
        target=str(backup.target_dir),
        mount_point=str(backup.mount_point),
        initialised=initialised,
    )
    failed = True
    try:
        yield MountedVolume(engine, backup.mount_point, backup.snapshot_root, initialised)
        failed = False
    finally:
        try:
            fuse.unmount(backup.mount_point)
            log.info("backup_volume_unmounted", mount_point=str(backup.mount_point))
        except OSError as exc:
            log.error("unmount_failed", mount_point=str(backup.mount_point), error=str(exc))
            if not failed:  # never hide the error that got us here
                raise KcbError(
                    str(exc),
                    fix=f"find what keeps {backup.mount_point} busy (fuser -m) and unmount it",
                    cause="mount_failed",
                ) from exc


# --- verification -------------------------------------------------------------------------


def _sample_hash(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            handle.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def verify_snapshot(source_dir: Path, snapshot_dir: Path) -> VerifyResult:
    """Check that snapshot_dir holds every backed-up file of source_dir with the same size,
    modification second and first/last 64 KiB. Raises KcbError(snapshot_incomplete)."""
    problems: list[str] = []
    files = total = 0
    sources = rsnapshot.backed_up_files(source_dir)
    for source in sources:
        copy = snapshot_dir / source.name
        want = source.stat()
        try:
            have = copy.lstat()
        except FileNotFoundError:
            problems.append(f"{source.name}: missing")
            continue
        if have.st_size != want.st_size:
            problems.append(f"{source.name}: {have.st_size} bytes, source {want.st_size}")
        elif int(have.st_mtime) != int(want.st_mtime):
            problems.append(f"{source.name}: modification time differs from the source")
        elif _sample_hash(copy, have.st_size) != _sample_hash(source, want.st_size):
            problems.append(f"{source.name}: content differs from the source")
        else:
            files, total = files + 1, total + want.st_size
    if problems:
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        raise KcbError(
            f"snapshot {snapshot_dir} does not match {source_dir} "
            f"({len(problems)} of {len(sources)} files): {shown}",
            fix="the next cycle takes a new snapshot; if this repeats, check the backup volume "
            "and the rsnapshot output",
            cause="snapshot_incomplete",
        )
    names = {s.name for s in sources}
    extra = sorted(p.name for p in snapshot_dir.iterdir() if p.name not in names)
    if extra:
        log.warning("snapshot_extra_files", snapshot=str(snapshot_dir), files=extra[:20])
    return VerifyResult(files, total, extra)


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


# rsnapshot failures that can leave a half-written alpha.0 (not: lock held, never started).
_HALF_WAY = ("disk_full", "rsnapshot_failed")


def _discard_incomplete(
    snapshot_root: Path, before: dict[str, interrupted.Fingerprint], retention: int
) -> str:
    """Discard what a stopped or failed rsnapshot left; a note for the error message."""
    try:
        if interrupted.fingerprints(snapshot_root) == before:
            return "; no snapshot was changed"
        cleanup = interrupted.discard_incomplete(snapshot_root, before, retention)
    except OSError as exc:  # never hide the error that got us here
        log.error(
            "snapshot_cleanup_failed",
            snapshot_root=str(snapshot_root),
            error=str(exc),
            fix="an incomplete alpha.0 may remain: check the backup volume before restoring "
            "from alpha.0 (the previous snapshot is alpha.1)",
        )
        return f"; could not discard the incomplete snapshot: {exc}"
    return (
        f"; removed {sorted(cleanup.removed) or 'nothing'}, set aside "
        f"{sorted(cleanup.quarantined.values()) or 'nothing'}, kept {cleanup.kept}"
    )


def backup_snapshot(config: Config, now: datetime | None = None) -> SnapshotResult:
    """One backup: checks, mount, prune beyond backup.retention, rsnapshot alpha, verify
    alpha.0 against config.sink_path, unmount (always). Raises KcbError with one of the causes
    password_file_unreadable, target_missing, target_not_mounted, target_not_empty,
    init_not_allowed, wrong_password, mount_failed, disk_full, rsnapshot_locked,
    rsnapshot_failed, snapshot_incomplete."""
    start = time.monotonic()
    backup = config.backup
    with mounted_volume(backup) as volume:
        _make_dir(volume.snapshot_root)
        pruned = retention.prune(volume.snapshot_root, backup.retention)
        _make_dir(backup.work_dir)
        conf, lockfile = backup.work_dir / CONF_NAME, backup.work_dir / LOCK_NAME
        rsnapshot.write_config(
            conf,
            rsnapshot.render_config(
                snapshot_root=volume.snapshot_root,
                source_dir=config.sink_path,
                retention=backup.retention,
                lockfile=lockfile,
            ),
        )
        before = interrupted.fingerprints(volume.snapshot_root)
        try:
            run = rsnapshot.run(
                conf,
                lockfile,
                stop_requested=STOP_REQUESTED.get(),
                grace=config.shutdown_grace_seconds,
            )
        except KcbError as exc:
            # Stopped past the shutdown grace, or failed half way (disk full, rsync error):
            # what it left must never rotate on as if it were a snapshot.
            if isinstance(exc, rsnapshot.RsnapshotStopped) or exc.cause in _HALF_WAY:
                exc.message += _discard_incomplete(volume.snapshot_root, before, backup.retention)
            raise
        log.info("rsnapshot_done", seconds=round(run.seconds, 3), exit_code=run.exit_code)
        alpha0 = volume.snapshot_root / f"{rsnapshot.LEVEL}.0" / HOST_DIR
        verified = verify_snapshot(config.sink_path, alpha0)
        log.info(
            "snapshot_verified", snapshot=str(alpha0), files=verified.files, bytes=verified.bytes
        )
    return SnapshotResult(
        engine=volume.engine,
        initialised=volume.initialised,
        files=verified.files,
        bytes=verified.bytes,
        rsnapshot_seconds=run.seconds,
        seconds=time.monotonic() - start,
        pruned=[p.name for p in pruned],
        rsnapshot_exit_code=run.exit_code,
        finished_at=now or datetime.now(UTC),
    )


# --- listing ------------------------------------------------------------------------------
