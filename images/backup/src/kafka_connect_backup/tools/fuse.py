"""Mount points from /proc/self/mountinfo, and FUSE unmounting.

`os.path.ismount` compares device numbers, so it misses a bind mount of the same filesystem;
mountinfo lists every mount, which is what "is the NFS volume really mounted here" needs.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.tools.run import TimedOut
from kafka_connect_backup.tools.run import run as run_command

MOUNTINFO = Path("/proc/self/mountinfo")

log = get_logger(__name__)


@dataclass(frozen=True)
class Mount:
    mount_point: Path
    fs_type: str
    source: str


_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal (of a byte). The
    field is text decoded with surrogateescape (as os.fsdecode does), and so is the result:
    a path compares equal to the one os.path.realpath gives, whatever its bytes."""
    raw = field.encode("utf-8", "surrogateescape")
    raw = _OCTAL_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), raw)
    return raw.decode("utf-8", "surrogateescape")


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts of a mountinfo document (see proc(5)): field 5 is the mount point; after the
    ` - ` separator come the filesystem type and the mount source."""
    mounts = []
    # Only "\n" ends a line: splitlines() would also split at \v, \f, \x1c-\x1e, \x85 or
    # \u2028, which the kernel writes unescaped inside a path.
    for line in text.split("\n"):
        left, sep, right = line.partition(" - ")
        fields = left.split(" ")
        tail = right.split(" ")
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        mounts.append(Mount(Path(_unescape(fields[4])), tail[0], _unescape(tail[1])))
    return mounts


def mounts() -> list[Mount]:
    return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))


def find_mount(path: Path) -> Mount | None:
    """The mount whose mount point is exactly `path` (the last one, if stacked)."""
    resolved = Path(os.path.realpath(path))
    found = None
    for mount in mounts():
        if mount.mount_point == resolved:
            found = mount
    return found


def is_mount_point(path: Path) -> bool:
    return find_mount(path) is not None


def is_fuse_mounted(path: Path) -> bool:
    """True when the topmost mount at `path` is a FUSE filesystem. Kubernetes mounts an
    emptyDir at a container's mount point, so "something is mounted here" is no sign of a
    leftover encrypted view; only a FUSE mount on top is."""
    mount = find_mount(path)
    return mount is not None and mount.fs_type.startswith("fuse")


def wait_for_mount(path: Path, timeout: float = 10.0) -> bool:
    """True once a FUSE filesystem is mounted at `path` (FUSE daemons may finish mounting
    after they fork)."""
    deadline = time.monotonic() + timeout
    while True:
        if is_fuse_mounted(path):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _fusermount_commands() -> list[str]:
    return [tool for tool in ("fusermount3", "fusermount") if shutil.which(tool)]


def unmount(path: Path, *, attempts: int = 10, delay: float = 0.5) -> None:
    """Unmount a FUSE mount, retrying while it is busy, then lazily as a last resort.

    Raises OSError when `path` is still FUSE-mounted afterwards. A path without a FUSE mount
    (nothing, or only the directory's own emptyDir) is a no-op, so this is safe in `finally`
    blocks.
    """
    tools = _fusermount_commands() or ["umount"]
    last_error = ""
    for attempt in range(attempts):
        if not is_fuse_mounted(path):
            return
        for tool in tools:
            args = [tool, "-u", str(path)] if tool != "umount" else [tool, str(path)]
            done = run_command(args)
            if done.exit_code == 0 and not is_fuse_mounted(path):
                return
            last_error = done.output.strip()
        log.warning("fuse.unmount_retry", path=str(path), attempt=attempt + 1, error=last_error)
        time.sleep(delay)
    if is_fuse_mounted(path):
        # Still busy (a process holds a file open): detach it so the next cycle can mount.
        lazy = [tools[0], "-u", "-z"] if tools[0] != "umount" else ["umount", "-l"]
        lazy.append(str(path))
        run_command(lazy)
        log.error("fuse.unmount_lazy", path=str(path), error=last_error)
    if is_fuse_mounted(path):
        raise OSError(f"cannot unmount {path}: {last_error}")


def run_with_secret(args: list[str], secret: str, *, timeout: float = 120.0) -> tuple[int, str]:
    """Run a command that reads `secret` as one line on stdin (only there: tools/run.py);
    return (exit code, output), or (-1, what it wrote) when it did not end within `timeout`
    (it is then killed)."""
    try:
        done = run_command(args, stdin=secret, timeout=timeout)
    except TimedOut as exc:
        return -1, f"timed out after {timeout:.0f}s: {exc.output}"
    return done.exit_code, done.output
