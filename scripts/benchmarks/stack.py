"""The local Kafka broker and Connect worker the benchmarks run on: each section starts its own,
or, in a quick run, one is shared by every section (the JVMs' start-up is most of a small run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka_stack import KafkaStack

_shared: KafkaStack | None = None


@contextmanager
def kafka(work: Path) -> Iterator[KafkaStack]:
    """The shared stack when there is one, else a stack of this section's own."""
    if _shared is not None:
        yield _shared
        return
    with KafkaStack(work) as stack:
        yield stack


def shared_stack() -> KafkaStack | None:
    """The stack every section of this run shares, if there is one."""
    return _shared


@contextmanager
def shared(work: Path) -> Iterator[None]:
    """One stack for every section run inside."""
    global _shared  # noqa: PLW0603 (the sections ask for it by calling kafka())
    with KafkaStack(work) as stack:
        _shared = stack
        try:
            yield
        finally:
            _shared = None
