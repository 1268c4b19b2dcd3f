"""Connector holds: a marker that tells the supervisor to leave a connector alone.

`restore.py` stops a topic's connectors while it moves files and recreates the topic; without a
hold the supervisor's reconciler would resume them within seconds. A hold is a small JSON file
`{sinkPath}/.kcb-holds/{connector}` naming its owner's pid; a hold whose process is gone is stale
and ignored (so a crashed restore never blocks the supervisor forever).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOLD_DIR = ".kcb-holds"


def _hold_path(sink_path: Path, connector: str) -> Path:
    return sink_path / HOLD_DIR / connector


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def held(sink_path: Path, connector: str) -> bool:
    """True while a live process holds this connector."""
    path = _hold_path(sink_path, connector)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return _alive(pid)


@contextmanager
def hold_connectors(sink_path: Path, connectors: Iterable[str], reason: str) -> Iterator[None]:
    """Hold these connectors for the duration of the block (restore's runbook)."""
    directory = sink_path / HOLD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = [_hold_path(sink_path, name) for name in connectors]
    body = json.dumps({"pid": os.getpid(), "reason": reason, "since": time.time()})
    for path in paths:
        path.write_text(body, encoding="utf-8")
    try:
        yield
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
