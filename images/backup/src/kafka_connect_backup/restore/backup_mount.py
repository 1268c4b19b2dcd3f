"""Access to the backup's snapshots for `restore.py --snapshot` and `kcb snapshots list`.

In the pod, backup.mountPoint is an empty directory except while a supervisor cycle runs, so
reading snapshots there finds nothing. When the config has backup enabled and no
`--snapshot-root` is given, the encrypted volume is mounted for the duration of the read at a
PRIVATE temporary mount point (not backup.mountPoint, so a cycle starting meanwhile is not
blocked by our mount), never initialised, and always unmounted afterwards.

A process killed outright (SIGKILL, an OOM kill) cannot unmount: its FUSE daemon keeps the
decrypted view mounted. So each private directory is named after its process (pid and start
time), and the next read removes every such mount whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from kafka_connect_backup.config import BackupSettings, Config
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.exit_codes import raise_interrupt, signal_exit_code
from kafka_connect_backup.core.logs import configure_logging, get_logger
from kafka_connect_backup.restore.sources import SourceError
from kafka_connect_backup.tools import fuse
from kafka_connect_backup.tools.volume import mounted_volume

log = get_logger(__name__)

_PREFIX = "kcb-snapshots-"
# kcb-snapshots-{pid}.{start time in clock ticks}-{mkdtemp's random part}
_PRIVATE_NAME = re.compile(rf"{_PREFIX}(?P<pid>[0-9]+)\.(?P<start>[0-9]+)-[^/]+")


class BackupMountError(SourceError):
    """The encrypted backup could not be mounted (or unmounted); the message names the cause
    and the fix."""


class NoVolumeYet(BackupMountError):
    """The backup target is empty: no cycle has made the encrypted volume yet, so there is no
    snapshot (`kcb snapshots list` exits 1 for it, as for a volume without alpha.N)."""


@dataclass(frozen=True)
class SnapshotAccess:
    root: Path  # where alpha.N live for this read
    mounted_from: Path | None  # the encrypted target mounted for this read, if any


def _start_time(pid: int) -> str | None:
    """A process's start time (/proc/PID/stat field 22), None when there is no such process:
    with the pid, it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else None


def _owner_gone(name: str) -> bool:
    match = _PRIVATE_NAME.fullmatch(name)
    return match is not None and _start_time(int(match["pid"])) != match["start"]


def _private_parents(backup: BackupSettings) -> list[Path]:
    return [backup.work_dir, Path(tempfile.gettempdir())]


def remove_stale_mounts(backup: BackupSettings) -> list[Path]:
    """Unmount and remove the private directories of reads whose process is gone (killed
    before it could unmount); returns those removed. A directory that cannot be is left, with
    a warning naming it: this read goes on."""
    removed = []
    for parent in _private_parents(backup):
        try:
            found = sorted(parent.glob(f"{_PREFIX}*"))
        except OSError:
            continue
        for directory in found:
            if not _owner_gone(directory.name):
                continue
            try:
                fuse.unmount(directory, attempts=2, delay=0.2)
                directory.rmdir()
            except OSError as exc:
                log.warning(
                    "snapshots.stale_mount_kept",
                    path=str(directory),
                    error=str(exc),
                    fix=f"unmount it by hand (fusermount -u {directory}) and remove it",
                )
                continue
            log.warning(
                "snapshots.stale_mount_removed",
                path=str(directory),
                note="left by a read that was killed before it could unmount",
            )
            removed.append(directory)
    return removed


def _private_dir(backup: BackupSettings) -> Path:
    """A fresh empty directory under backup.workDir (else the system temp dir), named after
    this process so a later read can tell whether it is still in use."""
    prefix = f"{_PREFIX}{os.getpid()}.{_start_time(os.getpid())}-"
    try:
        backup.work_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=backup.work_dir))
    except OSError:
        return Path(tempfile.mkdtemp(prefix=prefix))


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(signal_exit_code(signum))


@contextmanager
def _unmount_on_termination() -> Iterator[None]:
    """SIGTERM / SIGHUP (a `kubectl exec` session that drops) unwind like Ctrl-C does, so the
    private mount is unmounted instead of left behind with its FUSE daemon. restore.py's own
    SIGTERM handler is kept: it ends the send with the true count and the summary, and unwinds
    through here too. (Any other handler is replaced for the block: coverage's, for one, would
    end the process at once.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, _exit_on_signal)
        for sig in (signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(sig) is not raise_interrupt
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def snapshot_access(explicit_root: Path | None, config: Config | None) -> Iterator[SnapshotAccess]:
    """The snapshot root to read: `explicit_root` as given; else, with backup enabled, the
    encrypted volume mounted privately for the duration of the block; else the config's
    backup snapshot root as it is (a plain directory, or mounted by hand)."""
    if explicit_root is not None:
        yield SnapshotAccess(explicit_root, None)
        return
    if config is None or not config.backup.enabled:
        yield SnapshotAccess(
            config.backup.snapshot_root if config else BackupSettings().snapshot_root, None
        )
        return
    if not structlog.is_configured():
        # A command-line read: the mount's log events go to stderr, warnings and up only, so
        # they never mix with the listing (or its --json) on stdout.
        configure_logging("WARNING")
    backup = config.backup
    remove_stale_mounts(backup)
    private = _private_dir(backup)
    try:
        with (
            _unmount_on_termination(),
            mounted_volume(backup, mount_point=private, allow_init=False) as volume,
        ):
            yield SnapshotAccess(volume.snapshot_root, backup.target_dir)
    except KcbError as exc:
        if exc.cause == "init_not_allowed":  # an empty target, not a wrong setting
            first = (
                "the first backup cycle creates it (kcb backup-now takes one now)"
                if backup.allow_init
                else "set backup.allowInit=true so the first backup cycle creates it, or mount "
                "the right backup volume"
            )
            raise NoVolumeYet(
                f"no snapshot yet: the backup target {backup.target_dir} is empty (no encrypted "
                f"volume: no backup cycle has completed yet); {first}"
            ) from None
        raise BackupMountError(
            f"cannot read snapshots: mounting the encrypted backup {backup.target_dir} "
            f"(password file {backup.password_file}) failed: {exc}"
        ) from None
    finally:
        # Fails only when still mounted (the unmount error is reported) or already gone.
        with contextlib.suppress(OSError):
            private.rmdir()
