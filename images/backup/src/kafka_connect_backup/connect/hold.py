"""Connector holds: a marker that tells the supervisor to leave a connector alone.

`restore.py` stops a topic's connectors while it moves files and recreates the topic; without a
hold the supervisor's reconciler would resume them within seconds. A hold is a small JSON file
`{sinkPath}/.kcb-holds/{connector}` on the data volume naming the restore journal that owns it,
so it outlives the command that placed it, a supervisor restart and a pod restart: it lasts
across separate `--step` commands and a runbook that failed half way, until `resume-connectors`
or the end of the runbook lifts it. A hold whose journal is gone (archived at the end of the
restore, or removed by hand) is stale and ignored; a live hold older than connect.holdWarnAfter
is reported by the supervisor (logs and metrics), never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from kafka_connect_backup.core import records
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.layout.names import HOLD_DIR


@dataclass(frozen=True)
class Hold:
    connector: str
    reason: str
    since: float  # epoch seconds
    journal: Path  # the restore journal that owns it

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.since)


def _hold_path(sink_path: Path, connector: str) -> Path:
    return sink_path / HOLD_DIR / connector


class _HoldFile(msgspec.Struct, frozen=True):
    """A hold's file, in the order its keys are written."""

    journal: str
    reason: str
    since: float


def _read(path: Path) -> Hold | None:
    try:
        saved = records.load(path, _HoldFile)
    except RecordUnreadable:  # not a hold (a stray file, a torn write): no hold
        return None
    if saved is None:
        return None
    hold = Hold(path.name, saved.reason, saved.since, Path(saved.journal))
    return hold if hold.journal.is_file() else None


def hold_of(sink_path: Path, connector: str) -> Hold | None:
    """The live hold on this connector, or None."""
    return _read(_hold_path(sink_path, connector))


def held(sink_path: Path, connector: str) -> bool:
    return hold_of(sink_path, connector) is not None


def place_holds(sink_path: Path, connectors: Iterable[str], reason: str, journal: Path) -> None:
    """Hold these connectors for as long as the restore journal exists (or until released)."""
    (sink_path / HOLD_DIR).mkdir(parents=True, exist_ok=True)
    owner = journal.resolve()
    body = _HoldFile(journal=str(owner), reason=reason, since=time.time())
    for name in connectors:
        existing = hold_of(sink_path, name)
        if existing is None or existing.journal != owner:  # a later step keeps its age
            records.save(_hold_path(sink_path, name), body)


def release_holds(sink_path: Path, connectors: Iterable[str]) -> None:
    for name in connectors:
        _hold_path(sink_path, name).unlink(missing_ok=True)
