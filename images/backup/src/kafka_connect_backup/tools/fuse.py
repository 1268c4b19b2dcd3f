"""Mount points from /proc/self/mountinfo, and FUSE unmounting.

`os.path.ismount` compares device numbers, so it misses a bind mount of the same filesystem;
mountinfo lists every mount, which is what "is the NFS volume really mounted here" needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.logs import get_logger

MOUNTINFO = Path("/proc/self/mountinfo")

log = get_logger(__name__)


@dataclass(frozen=True)
class Mount:
    mount_point: Path
    fs_type: str
    source: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field) >= i + 4 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts of a mountinfo document (see proc(5)): field 5 is the mount point; after the
    ` - ` separator come the filesystem type and the mount source."""
    mounts = []
    for line in text.splitlines():
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
            proc = subprocess.run(args, capture_output=True, text=True, check=False)
            if proc.returncode == 0 and not is_fuse_mounted(path):
                return
            last_error = (proc.stderr or proc.stdout).strip()
        log.warning("fuse.unmount_retry", path=str(path), attempt=attempt + 1, error=last_error)
        time.sleep(delay)
    if is_fuse_mounted(path):
        # Still busy (a process holds a file open): detach it so the next cycle can mount.
        lazy = [tools[0], "-u", "-z"] if tools[0] != "umount" else ["umount", "-l"]
        lazy.append(str(path))
        subprocess.run(lazy, capture_output=True, check=False)
        log.error("fuse.unmount_lazy", path=str(path), error=last_error)
    if is_fuse_mounted(path):
        raise OSError(f"cannot unmount {path}: {last_error}")


def run_with_secret(args: list[str], secret: str, *, timeout: float = 120.0) -> tuple[int, str]:
    """Run a command that reads `secret` as one line on stdin; return (exit code, output).

    The secret goes to stdin only: never into the arguments, the environment or a log. Output
    goes to a temporary file, not a pipe, because a FUSE daemon forks and keeps its inherited
    stdout open for as long as it stays mounted: reading a pipe to EOF would hang.
    """
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            proc.communicate((secret + "\n").encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            output.seek(0)
            text = output.read().decode(errors="replace")
            return -1, f"timed out after {timeout:.0f}s: {text}"
        output.seek(0)
        return proc.returncode, output.read().decode(errors="replace")
