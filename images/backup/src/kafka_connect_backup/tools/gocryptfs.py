"""gocryptfs: the recommended engine for new volumes (audited, per-directory IVs, hard links).
The password is read as one line from stdin (gocryptfs does so when stdin is not a terminal)."""

from __future__ import annotations

from pathlib import Path

from kafka_connect_backup.errors import KcbError
from kafka_connect_backup.logs import get_logger
from kafka_connect_backup.tools import fuse

CONFIG_FILE = "gocryptfs.conf"
COMMAND = "gocryptfs"
# gocryptfs exit codes (see its documentation).
EXIT_PASSWORD_INCORRECT = 12
EXIT_MOUNTPOINT_NOT_EMPTY = 10

log = get_logger(__name__)


def is_volume(target: Path) -> bool:
    return (target / CONFIG_FILE).is_file()


def init(target: Path, password: str, scratch_dir: Path | None = None) -> None:
    """Create a new volume in the (empty) directory `target`."""
    del scratch_dir  # gocryptfs initialises without mounting
    code, output = fuse.run_with_secret([COMMAND, "-init", "-q", str(target)], password)
    if code != 0:
        raise KcbError(
            f"gocryptfs could not initialise {target} (exit {code}): {output.strip()}",
            fix="the target must be an empty, writable directory",
            cause="mount_failed",
        )
    log.info("volume_initialised", engine="gocryptfs", target=str(target))


def mount(target: Path, mount_point: Path, password: str) -> None:
    """Mount the existing gocryptfs volume `target` on `mount_point`."""
    code, output = fuse.run_with_secret(
        [COMMAND, "-q", "-nosyslog", str(target), str(mount_point)], password
    )
    if code == 0 and fuse.wait_for_mount(mount_point):
        return
    if code == 0:
        fuse.unmount(mount_point)
    if code == EXIT_PASSWORD_INCORRECT:
        raise KcbError(
            f"wrong password for the gocryptfs volume {target}",
            fix="put the volume's password in the password file (nothing was changed)",
            cause="wrong_password",
        )
    raise KcbError(
        f"gocryptfs could not mount {target} on {mount_point} (exit {code}): {output.strip()}",
        fix="check that /dev/fuse is available (CAP_SYS_ADMIN) and the mount point is empty",
        cause="mount_failed",
    )
