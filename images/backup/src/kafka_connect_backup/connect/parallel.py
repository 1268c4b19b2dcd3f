"""Calls to the Connect REST API for many connectors at once, bounded.

A cycle runs one stop window per connector, and a reconcile upserts every connector. The
standalone worker serialises what it must (its herder takes one lock per request), so a
moderate limit keeps the REST round trips and the status polling overlapped without queueing
many requests behind that lock (a window's resume waits behind the others in flight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

# Connectors handled at once (a cycle's stop windows, a reconcile).
DEFAULT_LIMIT = 16

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[R]):
    value: R | None = None
    error: BaseException | None = None


def each(fn: Callable[[T], R], items: Sequence[T], limit: int = DEFAULT_LIMIT) -> list[Outcome[R]]:
    """fn(item) for every item, at most `limit` at a time; outcomes in the items' order (an
    exception is an outcome: every item is tried). The caller's structlog context (the
    cycle id) is kept in the threads' log events."""
    context = structlog.contextvars.get_contextvars()

    def call(item: T) -> Outcome[R]:
        with structlog.contextvars.bound_contextvars(**context):
            try:
                return Outcome(value=fn(item))
            except Exception as exc:  # noqa: BLE001 (returned to the caller, which decides)
                return Outcome(error=exc)

    if limit <= 1 or len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(
        max_workers=min(limit, len(items)), thread_name_prefix="kcb-rest"
    ) as pool:
        return list(pool.map(call, items))
