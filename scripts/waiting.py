"""The one way a test (or a test-stack helper here, such as kafka_stack.wait_running, which
the benchmarks share) waits for something to happen: `eventually`.

A caller that polls states what it waits for and how long a busy machine may take; when the
time is up it fails with both and with the last value it saw, so a failure in CI says what
was missing rather than "timed out".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _holds(value: object) -> bool:
    return bool(value)


def eventually(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    until: Callable[[T], bool] = _holds,
    interval: float = 0.2,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call `probe` every `interval` seconds until `until(value)` holds (by default: the value
    is truthy) and return that value; after `timeout` seconds raise AssertionError naming
    `what` was awaited and the last value seen.

    Exceptions in `ignoring` (a service not answering yet) count as a value not there yet;
    any other exception, and an AssertionError the probe raises to stop early (the process it
    watches has died), propagates at once. The probe is always called at least once."""
    deadline = time.monotonic() + timeout
    last: object = "(no value yet)"
    while True:
        try:
            value = probe()
        except ignoring as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"waited {timeout:g}s for {what}; last seen: {_shown(last)}")


def _shown(value: object, limit: int = 2000) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
