"""shutdownGraceSeconds for the steps of one backup: counted from the first moment any step
sees the shutdown request, so the copy, `rsnapshot sync` and `rsnapshot alpha` share one grace
(the pod's termination grace must still cover resuming Connect and unmounting). Each step
watches it through a `GraceWatch`: once a shutdown is requested it says so once, and past the
grace it stops with its own StoppedPastGrace (the copy between two writes, a command through
tools/run.py while it waits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger

log = get_logger(__name__)


class StoppedPastGrace(KcbError):
    """Shutdown requested and a backup step was still running when the grace ran out: stopped.
    What it wrote is incomplete and the caller discards it; the cycle records no snapshot."""

    cause = "shutdown"


def never() -> bool:
    """No shutdown requested: the default of the steps that can be asked to stop."""
    return False


class ShutdownGrace:
    def __init__(self, stop_requested: Callable[[], bool] = never, seconds: float = 90.0) -> None:
        self._stop_requested = stop_requested
        self.seconds = seconds
        self._seen: float | None = None
        self._lock = threading.Lock()  # the copy's threads ask at once

    def requested(self) -> bool:
        """Whether a shutdown was requested; the first True starts the grace."""
        with self._lock:
            if self._seen is None and self._stop_requested():
                self._seen = time.monotonic()
            return self._seen is not None

    def expired(self) -> bool:
        return self.requested() and self.waited() >= self.seconds

    def waited(self) -> float:
        """Seconds since the request was first seen (0 before)."""
        return 0.0 if self._seen is None else time.monotonic() - self._seen


class GraceWatch:
    """One step's watch on the grace. `check()` (from any thread, as often as the step likes):
    nothing before a shutdown request; from the first one, a warning `event` logged once;
    once the grace has run out, `stopped()` raised (the step's StoppedPastGrace, whose message
    says what was stopped)."""

    def __init__(
        self,
        grace: ShutdownGrace,
        event: str,
        note: str,
        stopped: Callable[[], StoppedPastGrace],
    ) -> None:
        self.grace = grace
        self._event = event
        self._note = note
        self._stopped = stopped
        self._announced = False
        self._lock = threading.Lock()

    def check(self, **fields: object) -> None:
        """Raise the step's StoppedPastGrace once the grace has run out; `fields` go into the
        announcement."""
        if not self.grace.requested():
            return
        with self._lock:
            first, self._announced = not self._announced, True
        if first:
            log.warning(self._event, grace_seconds=self.grace.seconds, note=self._note, **fields)
        if self.grace.expired():
            raise self._stopped()
