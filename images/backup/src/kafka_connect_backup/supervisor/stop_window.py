"""How a cycle stops and resumes connectors, both ways (one implementation).

One connector's stop window in a staged cycle (`StopWindow.run`): stop it, wait until its task
is gone, read its sink group's committed offsets, note its files' sizes, upsert and resume it,
wait until it runs. Without room to stage, every connector is stopped first
(`StopWindow.stop_all`) and resumed after the snapshot (`StopWindow.resume_all`), with the same
stop, wait and resume calls.

The connector is down from the PUT /stop to RUNNING again, and only then: the other connectors
keep sinking, so a cycle's downtime is one window's, whatever the number of topics. The
resume is in a `finally`: a window that fails anywhere still resumes its connector.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka_connect_backup.connect import parallel
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient, ConnectorStatus
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.supervisor.offsets import StopRecorder
from kafka_connect_backup.supervisor.staging import FrozenFile

log = get_logger(__name__)


class StopTimeout(KcbError):
    cause = "connect_stop_timeout"


# A normal PUT /stop takes well under a second (docs/benchmarks.md); one this slow is most
# likely Connect waiting out task.shutdown.graceful.timeout.ms (5 s by default) and cancelling
# the task, skipping its final offset commit.
STOP_TIMEOUT_FIX = (
    "read the connect container's log (a task that misses "
    "task.shutdown.graceful.timeout.ms is cancelled); raise "
    "connect.stopTimeoutSeconds if the sink is slow to flush"
)
SLOW_STOP_SECONDS = 3.0
SLOW_STOP_CAUSE = "connect_stop_slow"
SLOW_STOP_NOTE = (
    "Connect most likely cancelled the task after task.shutdown.graceful.timeout.ms (its "
    "final offset commit skipped: records it wrote since its last commit may be written "
    "again). Seen after a Kafka broker restart: a task stopped before its consumer found the "
    "group coordinator again could not leave the group, and every new task of the connector "
    "waits for that member until the broker drops it (the sink consumer's "
    "session.timeout.ms, 45 s by default); later cycles are normal again. If it persists, "
    "read the connect container's log for 'Graceful stop of task'"
)


@dataclass
class Window:
    name: str
    topic: str
    existed: bool = True
    stopped: bool = False
    running: bool = False
    state: str = "missing"
    seconds: float = 0.0  # PUT /stop sent .. RUNNING again (or the end of the resume)
    stop_seconds: float = 0.0  # the PUT /stop alone (the standalone worker stops the tasks)
    written: set[Path] = field(default_factory=set)  # the files it may have appended to
    frozen: dict[str, FrozenFile] = field(default_factory=dict)  # their sizes at the stop
    offsets: dict[int, int] | None = None  # its group's committed offsets at the stop
    held: list[str] = field(default_factory=list)
    error: KcbError | None = None  # its task outlived the stop timeout
    still_running: ConnectorStatus | None = None  # its status then
    resume_error: BaseException | None = None


@dataclass
class StopWindow:
    """What every window of a cycle shares, and the one way a cycle stops and resumes
    connectors: one window per connector (`run`, the staged path), or every connector stopped
    (`stop_all`) and, after the snapshot, every one resumed (`resume_all`)."""

    client: ConnectClient
    reconciler: Reconciler
    period: str
    current: dict[str, Path]  # connector -> its file for the period
    offsets: StopRecorder | None  # None: no offsets to read (no backup)
    stop_timeout: float
    poll_interval: float
    should_abort: Callable[[], bool]
    stopped: Callable[[str], None]  # called with its name while the connector is stopped (tests)
    parallelism: int = 1  # connectors stopped or resumed at once by stop_all and resume_all

    def run(self, name: str, topic: str) -> Window | None:
        """The window of one connector; None when shutdown was requested before it began
        (the connector was never stopped)."""
        if self.should_abort():
            return None
        window = Window(name, topic)
        began = time.monotonic()
        if not self._stop(window):
            return window  # created by the cycle's safety net
        try:
            if self._wait_stopped(window):
                if self.offsets is not None:
                    window.offsets = self.offsets.sink_offsets(topic)
                window.frozen = _note(window.written)
                self.stopped(name)
        finally:
            window.resume_error = self._resume(window)
            window.seconds = time.monotonic() - began
        return window

    def stop_all(self, names: list[str]) -> list[Window]:
        """Stop every connector of `names` and wait until its tasks are gone, `parallelism` at
        a time; the windows of those that existed. Raises the first error, or one StopTimeout
        naming every connector whose tasks outlived the stop timeout."""

        def stop_one(name: str) -> Window:
            window = Window(name, "")
            if self._stop(window):
                self._wait_stopped(window)
            return window

        windows = []
        for outcome in parallel.each(stop_one, names, self.parallelism):
            if outcome.error is not None:
                raise outcome.error
            if outcome.value is not None:
                windows.append(outcome.value)
        pending = [(w.name, w.still_running) for w in windows if w.still_running is not None]
        if pending:
            detail = ", ".join(f"{n} ({s.state}, tasks {s.tasks})" for n, s in pending)
            raise StopTimeout(
                f"connectors still have tasks {self.stop_timeout:g}s after stop: {detail}",
                fix=STOP_TIMEOUT_FIX,
            )
        return [w for w in windows if w.stopped]

    def resume_all(self) -> tuple[list[str], dict[str, ConnectorStatus | None]]:
        """Upsert every connector with the period's file and resume it (the reconciler, which
        also creates a missing one); then wait, `parallelism` at a time, until each one not
        held by a restore runs. Returns the held connectors and each other one's status."""
        outcome = self.reconciler.reconcile(self.period, resume=True)
        waiting = [n for n in self.current if n not in outcome.held]
        statuses: dict[str, ConnectorStatus | None] = {}
        for name, waited in zip(
            waiting, parallel.each(self._wait_running, waiting, self.parallelism), strict=True
        ):
            if waited.error is not None:
                raise waited.error
            statuses[name] = waited.value
        return outcome.held, statuses

    def _stop(self, window: Window) -> bool:
        """Note the files the connector may be writing and PUT its stop; False when it does
        not exist."""
        config = self.client.config(window.name)
        if config is not None and config.get("file"):
            window.written.add(Path(config["file"]))
        if window.name in self.current:
            window.written.add(self.current[window.name])
        asked = time.monotonic()
        if not self.client.stop(window.name):
            window.existed = False
            return False
        window.stop_seconds = time.monotonic() - asked
        window.stopped = True
        return True

    def _wait_stopped(self, window: Window) -> bool:
        """Wait until its tasks are gone; False (and `window.error`) past the stop timeout."""
        status = self.client.wait_for(
            window.name, lambda s: s is None or s.stopped, timeout=self.stop_timeout,
            interval=self.poll_interval,
        )  # fmt: skip
        if status is not None and not status.stopped:
            window.error = _timed_out(window.name, status, self.stop_timeout)
            window.still_running = status
            return False
        return True

    def _wait_running(self, name: str) -> ConnectorStatus | None:
        return self.client.wait_for(
            name, lambda s: s is not None and s.running, timeout=self.stop_timeout,
            interval=self.poll_interval,
        )  # fmt: skip

    def _resume(self, window: Window) -> BaseException | None:
        try:
            outcome = self.reconciler.resume_one(window.name, self.period)
            if outcome.held:
                window.held = outcome.held
                return None
            status = self._wait_running(window.name)
        except Exception as exc:  # noqa: BLE001 (the cycle's safety net resumes it again)
            log.error("connector.resume_failed", connector=window.name, error=str(exc))
            return exc
        window.state = status.state if status else "missing"
        window.running = status is not None and status.running
        return None


def _note(files: set[Path]) -> dict[str, FrozenFile]:
    """Size and mtime of those of `files` that exist (its task is gone: they are still)."""
    noted = {}
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        noted[path.name] = FrozenFile(stat.st_size, stat.st_mtime_ns)
    return noted


def _timed_out(name: str, status: ConnectorStatus, timeout: float) -> KcbError:
    return StopTimeout(
        f"connector {name} still has tasks {timeout:g}s after stop: "
        f"{status.state}, tasks {status.tasks}",
        fix=STOP_TIMEOUT_FIX,
    )
