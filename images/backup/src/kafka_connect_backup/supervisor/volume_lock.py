"""One supervisor per data volume: `{sinkPath}/.kcb-supervisor.lock`, held (flock) by the running
supervisor or `kcb backup-now --local` for as long as it runs, with its pid written in it.

Two of them on one volume would stop and resume each other's connectors, mount the same
backup twice and unmount each other's view; a second one is therefore refused, naming the
holder. The kernel drops the lock when its holder exits (even on SIGKILL), so a stale file
never blocks a start. rsnapshot copies only sink, gz and topic metadata files: not this one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from kafka_connect_backup.config import Config
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.layout.names import LOCK_NAME

# `kcb status` tests the lock with a brief shared lock: a starting supervisor retries this long.
_ACQUIRE_RETRY_SECONDS = 1.0


class SupervisorRunning(KcbError):
    cause = "supervisor_running"


class SinkPathMissing(KcbError):
    cause = "sink_path_missing"


def lock_path(config: Config) -> Path:
    return config.sink_path / LOCK_NAME


def sink_path_missing(config: Config) -> SinkPathMissing | None:
    """The error to report when sinkPath is not a directory (the data volume not mounted)."""
    if config.sink_path.is_dir():
        return None
    return SinkPathMissing(
        f"sinkPath {config.sink_path} does not exist or is not a directory",
        fix="mount the data volume there (the connect container writes the sink files to it), "
        "or correct sinkPath in the config",
    )


def _holder_pid(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        pid = path.read_text(encoding="utf-8").strip()
        if pid.isdigit():
            return pid
    return "unknown"


class VolumeLock:
    """The held lock; release() (or the process's exit) frees it."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = -1


def acquire(config: Config, what: str) -> VolumeLock:
    """Take the data volume's lock for `what` (a supervisor, a local cycle), or refuse."""
    missing = sink_path_missing(config)
    if missing is not None:
        raise missing
    path = lock_path(config)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + _ACQUIRE_RETRY_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            os.close(fd)
            raise SupervisorRunning(
                f"another supervisor (pid {_holder_pid(path)}) is running on the data volume "
                f"{config.sink_path} (it holds {path}): not starting {what} beside it",
                fix="use that supervisor (kcb backup-now without --local asks it for a cycle), "
                "or stop it first; a second supervisor on one volume would stop and resume its "
                "connectors and unmount its backup",
            ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return VolumeLock(fd, path)


def holder(config: Config) -> str | None:
    """The pid (or "unknown") of the process holding the data volume's lock, None when no
    supervisor holds it."""
    path = lock_path(config)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_pid(path)
    finally:
        os.close(fd)
    return None
