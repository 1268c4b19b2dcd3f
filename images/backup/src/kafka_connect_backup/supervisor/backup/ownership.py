"""The backup volume's ciphertext belongs to the supervisor. Snapshots no longer keep the sink
files' owner (rsync --no-owner, tools/rsnapshot.py), but a volume written by an earlier release
(or by the original chart) holds snapshots owned by the Connect user; root without
CAP_DAC_OVERRIDE cannot rotate or delete those, and without CAP_CHOWN `cp -al` cannot copy
their directories. So before each mount, every entry of the ciphertext tree not owned by this
process is chowned to it: at once where CAP_CHOWN is held (the privileged mode, which an
upgrade starts in), otherwise the cycle fails with the two-step fix.

The walk stats every entry of every snapshot (a month of 15-minute snapshots of hourly files is
tens of thousands), so it runs once per volume and process: while this process runs, only it
writes the volume (the volume lock) and everything it writes is its own; a restart (an upgrade,
a downgrade) walks again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from kafka_connect_backup.core import process_status
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger

log = get_logger(__name__)

FIX = (
    "upgrade in two steps: run this release with backup.fuse.mode privileged for one cycle "
    "(it makes the backup volume's files root's), then switch to devicePlugin"
)


def foreign(root: Path, uid: int) -> Iterator[tuple[Path, int]]:
    """Every path under root (root included, symlinks not followed) whose owner is not uid,
    with that owner."""
    stack = [root]
    if (owner := root.lstat().st_uid) != uid:
        yield root, owner
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                owner = entry.stat(follow_symlinks=False).st_uid
                if owner != uid:
                    yield Path(entry.path), owner
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))


def _refused(path: Path, owner: int | None, exc: OSError) -> KcbError:
    whose = f"owned by uid {owner}" if owner is not None else "unreadable"
    return KcbError(
        f"the backup volume holds {path} ({whose}: {exc.strerror or exc}), which the "
        f"supervisor (uid {os.geteuid()}, without CAP_CHOWN and CAP_DAC_OVERRIDE) cannot "
        "rotate: it was written by an earlier release that kept the sink files' owner",
        fix=FIX,
        cause="backup_volume_foreign_owner",
    )


# (ciphertext root, uid) this process has walked: nothing of theirs is foreign any more.
_TAKEN: set[tuple[Path, int]] = set()


def take_over(root: Path) -> int:
    """Chown (the owner only) every entry of root that is not this process's; returns how many
    were changed. Where the kernel refuses: with CAP_DAC_OVERRIDE (privileged; e.g. NFS with
    root_squash, whose files nobody may chown) the volume stays as it is, which that mode can
    use, and a warning says so; without it, KcbError backup_volume_foreign_owner."""
    uid = os.geteuid()
    if (root, uid) in _TAKEN:
        return 0
    changed = 0
    path: Path = root
    owner: int | None = None
    try:
        for path, owner in foreign(root, uid):  # noqa: B007 (they name a refused entry below)
            os.lchown(path, uid, -1)
            changed += 1
        _TAKEN.add((root, uid))
    except PermissionError as exc:
        if not process_status.has_capability(process_status.CAP_DAC_OVERRIDE):
            raise _refused(path, owner, exc) from exc
        log.warning(
            "volume.owner_kept",
            path=str(path),
            owner=owner,
            error=exc.strerror,
            note="files the supervisor cannot chown (root_squash?): the privileged mode "
            "works with them, the devicePlugin mode would not",
        )
    if changed:
        log.info("volume.owner_taken", target=str(root), entries=changed, uid=uid)
    return changed
