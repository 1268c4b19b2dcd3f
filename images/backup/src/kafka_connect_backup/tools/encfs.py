"""encfs: the original chart's engine. `--standard` mode (hard links allowed, which rsnapshot's
rotation needs), password as one line on stdin (`-S`)."""

from __future__ import annotations

from pathlib import Path

from kafka_connect_backup.config import Engine
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.tools import fuse

CONFIG_FILE = ".encfs6.xml"
COMMAND = "encfs"
# encfs is a libfuse2 program: without big_writes the kernel hands it 4 KiB writes, which made
# rsync into the mount ~3x slower (measured: 256 MB cp 4.6 s -> 1.7 s). No format change.
# What is left is encfs's own: it writes the ciphertext one 1 KiB block per pwrite(2) (the
# --standard block size, fixed in the volume's config; 51,201 calls for 50 MiB, strace'd), so
# 2.1 GB costs it ~12 CPU s, 8 of them in the kernel: CPU-bound on 2 cores whatever the mount
# options. New volumes use gocryptfs.
FUSE_OPTIONS = ("-o", "big_writes")


def _encfs(target: Path, mount_point: Path, password: str) -> None:
    # Without a config file `--standard -S` creates a volume: callers decide that, not encfs.
    code, output = fuse.run_with_secret(
        [COMMAND, "--standard", "-S", str(target), str(mount_point), "--", *FUSE_OPTIONS],
        password,
    )
    if code == 0 and fuse.wait_for_mount(mount_point):
        return
    if code == 0:
        # Mounted nothing although it said it did: clean up whatever it left.
        fuse.unmount(mount_point)
    if "password incorrect" in output.lower():
        raise KcbError(
            f"wrong password for the encfs volume {target}: {output.strip()}",
            fix="put the volume's password in the password file (nothing was changed)",
            cause="wrong_password",
        )
    raise KcbError(
        f"encfs could not mount {target} on {mount_point} (exit {code}): {output.strip()}",
        fix="check that /dev/fuse is available (CAP_SYS_ADMIN) and the mount point is empty",
        cause="mount_failed",
    )


class Encfs:
    """The volume.VolumeEngine of encfs."""

    kind = Engine.ENCFS
    config_file = CONFIG_FILE

    def create(self, target: Path, mount_point: Path, password: str) -> None:
        # encfs creates a `--standard` volume by mounting an empty directory.
        _encfs(target, mount_point, password)

    def mount(self, target: Path, mount_point: Path, password: str) -> None:
        if not (target / CONFIG_FILE).is_file():
            raise KcbError(
                f"{target} holds no {CONFIG_FILE}: not an encfs volume",
                fix="point backup.targetDir at the encfs volume",
                cause="mount_failed",
            )
        _encfs(target, mount_point, password)


ENCFS = Encfs()
