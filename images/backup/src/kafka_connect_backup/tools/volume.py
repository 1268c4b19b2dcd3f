"""The encrypted backup volume: its password, the checks on its target, which engine it uses,
and mounting its plaintext view. The supervisor's snapshot step and restore's snapshot reads
both go through `mounted_volume`.

Safety rules (design §5): the target must exist and, unless configured otherwise, be a mount
point, so a missing NFS mount fails loudly instead of filling the container. A new encrypted
volume is only created on an empty target and only when allowed (`backup.allowInit`). An
existing volume's engine, detected from its config file, is the one used (`backup.engine`
auto, the default; an explicit engine that differs is warned about); a new volume gets
`backup.new_volume_engine`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kafka_connect_backup.config import BackupSettings, Engine
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger, register_secret
from kafka_connect_backup.tools import encfs, fuse, gocryptfs

log = get_logger(__name__)


class VolumeEngine(Protocol):
    """One FUSE encryption tool (tools/encfs.py, tools/gocryptfs.py)."""

    kind: Engine
    config_file: str  # in the ciphertext directory: its presence marks a volume of this kind

    def create(self, target: Path, mount_point: Path, password: str) -> None:
        """Create a new volume in the empty directory target and mount it on mount_point."""

    def mount(self, target: Path, mount_point: Path, password: str) -> None:
        """Mount the existing volume target on mount_point (KcbError wrong_password or
        mount_failed)."""


ENGINES: dict[Engine, VolumeEngine] = {e.kind: e for e in (encfs.ENCFS, gocryptfs.GOCRYPTFS)}


@dataclass(frozen=True)
class MountedVolume:
    engine: Engine
    mount_point: Path
    snapshot_root: Path
    initialised: bool  # True when this mount created the volume


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
    found = [kind for kind, e in ENGINES.items() if (target / e.config_file).is_file()]
    if len(found) > 1:
        raise KcbError(
            f"{target} holds both {encfs.CONFIG_FILE} and {gocryptfs.CONFIG_FILE}",
            fix="keep only the config file of the volume's real engine",
            cause="mount_failed",
        )
    return found[0] if found else None


def _check_mount_point(mount_point: Path, setting: str) -> None:
    # An emptyDir mounted there (the chart's) is fine; an encrypted view left mounted is not.
    if fuse.is_fuse_mounted(mount_point):
        raise KcbError(
            f"mount point {mount_point} is already mounted (a previous run did not unmount, or "
            "something else is mounted there)",
            fix=f"unmount it (fusermount -u {mount_point}) or choose another {setting}",
            cause="mount_failed",
        )
    mount_point.mkdir(parents=True, exist_ok=True)
    if any(mount_point.iterdir()):
        raise KcbError(
            f"mount point {mount_point} is not empty: its files would be hidden by the mount",
            fix=f"empty {mount_point} or choose another {setting}",
            cause="mount_failed",
        )


def _existing_engine(backup: BackupSettings, allow_init: bool) -> Engine | None:
    """The engine of the volume in the target, or None when an empty target may be initialised;
    raises when the target is neither."""
    target = backup.target_dir
    engine = detect_engine(target)
    if engine is not None:
        if backup.engine not in ("auto", engine.value):
            log.warning(
                "volume.engine_detected",
                target=str(target),
                engine=engine.value,
                configured=backup.engine,
                note="the existing volume's engine wins over backup.engine",
            )
        return engine
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
    return None


@contextmanager
def mounted_volume(
    backup: BackupSettings, *, mount_point: Path | None = None, allow_init: bool | None = None
) -> Iterator[MountedVolume]:
    """Check everything, mount the plaintext view of backup.target_dir on mount_point (default
    backup.mount_point), yield it, and always unmount. allow_init defaults to
    backup.allow_init."""
    where = mount_point or backup.mount_point
    password = read_password(backup.password_file)
    check_target(backup)
    _check_mount_point(where, "backup.mountPoint" if mount_point is None else "mount point")
    engine = _existing_engine(backup, backup.allow_init if allow_init is None else allow_init)
    initialised = engine is None
    if engine is None:
        engine = backup.new_volume_engine
        ENGINES[engine].create(backup.target_dir, where, password)
        log.info("volume.initialised", engine=engine.value, target=str(backup.target_dir))
    else:
        ENGINES[engine].mount(backup.target_dir, where, password)
    log.info(
        "volume.mounted",
        engine=engine.value,
        target=str(backup.target_dir),
        mount_point=str(where),
        initialised=initialised,
    )
    failed = True
    try:
        yield MountedVolume(engine, where, backup.snapshot_root_at(where), initialised)
        failed = False
    finally:
        try:
            fuse.unmount(where)
            log.info("volume.unmounted", mount_point=str(where))
        except OSError as exc:
            log.error("volume.unmount_failed", mount_point=str(where), error=str(exc))
            if not failed:  # never hide the error that got us here
                raise KcbError(
                    str(exc),
                    fix=f"find what keeps {where} busy (fuser -m) and unmount it",
                    cause="mount_failed",
                ) from exc
