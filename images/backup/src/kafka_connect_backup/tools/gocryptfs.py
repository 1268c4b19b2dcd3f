"""gocryptfs: the recommended engine for new volumes (audited, per-directory IVs, hard links).
The password is read as one line from stdin (gocryptfs does so when stdin is not a terminal)."""

from __future__ import annotations

from pathlib import Path

from kafka_connect_backup.config import Engine
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.tools import fuse

CONFIG_FILE = "gocryptfs.conf"
COMMAND = "gocryptfs"
# gocryptfs exit codes (see its documentation).
EXIT_PASSWORD_INCORRECT = 12
# Options of every mount: none beyond -q -nosyslog. gocryptfs preallocates (fallocate(2))
# before each write, so that running out of space never leaves half a block, undecryptable, in
# a file; -noprealloc was measured as the alternative and bought nothing: 2.1 GB copied into a
# fresh volume from the same memory state took 2.46-2.66 s with preallocation and 2.52-2.60 s
# without (4 alternating runs each; docs/benchmarks.md compares both every full run).
MOUNT_OPTIONS: tuple[str, ...] = ()


class Gocryptfs:
    """The volume.VolumeEngine of gocryptfs."""

    kind = Engine.GOCRYPTFS
    config_file = CONFIG_FILE

    def create(self, target: Path, mount_point: Path, password: str) -> None:
        code, output = fuse.run_with_secret([COMMAND, "-init", "-q", str(target)], password)
        if code != 0:
            raise KcbError(
                f"gocryptfs could not initialise {target} (exit {code}): {output.strip()}",
                fix="the target must be an empty, writable directory",
                cause="mount_failed",
            )
        self.mount(target, mount_point, password)

    def mount(self, target: Path, mount_point: Path, password: str) -> None:
        code, output = fuse.run_with_secret(
            [COMMAND, "-q", "-nosyslog", *MOUNT_OPTIONS, str(target), str(mount_point)], password
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


GOCRYPTFS = Gocryptfs()
