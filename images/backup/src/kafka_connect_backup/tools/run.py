"""The one way the package runs an external command (rsnapshot, the FUSE engines, fusermount,
`cp -al`): never through a shell, stdin closed or given one line (a password: never in the
arguments, the environment or a log), stdout and stderr together in a temporary file, not a
pipe (a FUSE daemon forks and keeps its inherited stdout open for as long as it stays mounted:
reading a pipe to EOF would hang).

While it waits it watches a timeout and the shutdown grace (core/shutdown_grace.py); whatever
ends the wait early (the timeout, the grace, an exception such as KeyboardInterrupt) stops the
command before it is raised, so nothing keeps writing into a mount that is about to go."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import IO

from kafka_connect_backup.core.shutdown_grace import GraceWatch, StoppedPastGrace

# How often a running command is checked for a shutdown request while a grace is watched.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Finished:
    exit_code: int
    output: str  # stdout and stderr together, decoded (undecodable bytes replaced)
    seconds: float


class TimedOut(Exception):
    """The command ran past its timeout and was stopped; `output` is what it wrote."""

    def __init__(self, seconds: float, output: str) -> None:
        super().__init__(f"timed out after {seconds:.0f}s")
        self.seconds = seconds
        self.output = output


def run(
    args: list[str],
    *,
    stdin: str | None = None,
    timeout: float | None = None,
    watch: GraceWatch | None = None,
    session: bool = False,
    term_wait: float = 30.0,
    grace_term_wait: float = 10.0,
) -> Finished:
    """Run `args` to its end. `stdin`: one line written to the command (else /dev/null).

    Raises TimedOut past `timeout`, and the watch's StoppedPastGrace once a shutdown was
    requested and the grace has run out (`watch.check` gets `pid` and `running_seconds`).

    `session`: the command leads its own session, so a terminal's Ctrl-C reaches us, not it
    mid-copy; it is then stopped as a group (SIGTERM, up to `term_wait` seconds, or
    `grace_term_wait` past the grace, which the pod's remaining termination grace must
    cover; then SIGKILL for whatever is left, an rsync child). Otherwise it is SIGKILLed."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=session,
        )
        try:
            if proc.stdin is not None:
                _give(proc.stdin, stdin or "")
            code = _wait(proc, start, timeout, watch)
        except StoppedPastGrace:
            _stop(proc, session, grace_term_wait)
            raise
        except TimedOut:
            _stop(proc, session, term_wait)
            raise TimedOut(time.monotonic() - start, _read(output)) from None
        except BaseException:
            _stop(proc, session, term_wait)
            raise
        return Finished(code, _read(output), time.monotonic() - start)


def _give(pipe: IO[bytes], line: str) -> None:
    """Write one line and close stdin; a command that exits without reading it is no error
    (communicate() ignores that too): its exit code says what went wrong."""
    with contextlib.suppress(BrokenPipeError):
        pipe.write((line + "\n").encode())
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


def _wait(
    proc: subprocess.Popen[bytes],
    start: float,
    timeout: float | None,
    watch: GraceWatch | None,
) -> int:
    while True:
        step = POLL_SECONDS if watch is not None else None
        if timeout is not None:
            left = max(0.0, start + timeout - time.monotonic())
            step = left if step is None else min(step, left)
        try:
            return proc.wait(timeout=step)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if timeout is not None and now - start >= timeout:
            raise TimedOut(now - start, "")
        if watch is not None:
            watch.check(pid=proc.pid, running_seconds=round(now - start, 1))


def _read(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")


def _stop(proc: subprocess.Popen[bytes], session: bool, term_wait: float) -> None:
    if not session:
        proc.kill()
        proc.wait()
        return
    # SIGTERM first: rsnapshot removes its lock file, rsync its partial file.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=term_wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
