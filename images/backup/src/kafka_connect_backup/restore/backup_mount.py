"""Access to the backup's snapshots for `restore.py --snapshot` and `kcb snapshots list`.

In the pod, backup.mountPoint is an empty directory except while a supervisor cycle runs, so
reading snapshots there finds nothing. When the config has backup enabled and no
`--snapshot-root` is given, the encrypted volume is mounted for the duration of the read at a
PRIVATE temporary mount point (not backup.mountPoint, so a cycle starting meanwhile is not
blocked by our mount), never initialised, and always unmounted afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from kafka_connect_backup.config import BackupSettings, Config
from kafka_connect_backup.errors import KcbError
from kafka_connect_backup.logs import configure_logging
from kafka_connect_backup.restore.errors import raise_interrupt
from kafka_connect_backup.restore.sources import SourceError
from kafka_connect_backup.volume import mounted_volume


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


def _private_dir(backup: BackupSettings) -> Path:
    """A fresh empty directory under backup.workDir (else the system temp dir)."""
    try:
        backup.work_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="kcb-snapshots-", dir=backup.work_dir))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="kcb-snapshots-"))


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


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
