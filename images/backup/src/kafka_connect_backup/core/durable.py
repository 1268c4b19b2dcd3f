"""Durable file writes, the one way the package replaces a file: a temporary file beside it,
flushed and fsynced, renamed over the target, the directory fsynced. A crash at any point
leaves the previous content or the new one, never half of either (design rule: nothing is
overwritten before its replacement is durable). `atomic_writer` does all of it; a writer with
its own way of filling the temporary file (the compressor's threads, the snapshot copy's
O_DIRECT writes) ends with `commit`, and `remove_temp_files` clears what a stopped writer left.

The data volume is shared by two users: Connect's (uid 1000) and the supervisor's root, which
in the chart's devicePlugin mode has no file rights beyond the pod's fsGroup. So every kcb
command runs with umask 002 (`shared_umask`), and a replaced file gets the mode a plain
open() would give it, not tempfile's 0600."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from kafka_connect_backup.core import process_status

# Group-writable: the other user of the data volume (see the module docstring) is in the group.
SHARED_UMASK = 0o002


@contextlib.contextmanager
def shared_umask() -> Iterator[None]:
    """Run the block with umask 002 (a kcb command's whole run), then restore the previous one."""
    previous = os.umask(SHARED_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(temp: Path, target: Path) -> None:
    """Rename `temp` over `target` (same directory) and make the rename durable: the last step
    of every replacement, and of a move to another name in the same directory."""
    temp.replace(target)
    fsync_dir(target.parent)


def remove_temp_files(directory: Path, is_temp: Callable[[str], bool]) -> list[Path]:
    """Remove what a stopped writer left directly in `directory`: every entry but a directory
    whose name `is_temp` accepts (none when `directory` is missing). The removals are made
    durable; the removed paths come back sorted, for the caller to log."""
    if not directory.is_dir():
        return []
    removed = sorted(p for p in directory.iterdir() if is_temp(p.name) and not p.is_dir())
    for path in removed:
        path.unlink()
    if removed:
        fsync_dir(directory)
    return removed


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """A binary file to write that replaces `path` durably once the block ends; the directory
    must exist. On an error (or an interrupt) in the block the temporary file is removed, the
    target is untouched and the error raised."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    temp = Path(handle.name)
    try:
        os.fchmod(handle.fileno(), 0o666 & ~process_status.umask())
        with handle:
            yield handle.file
            handle.flush()
            os.fsync(handle.fileno())
        commit(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) durably (see atomic_writer)."""
    with atomic_writer(path) as out:
        out.write(text.encode("utf-8"))
