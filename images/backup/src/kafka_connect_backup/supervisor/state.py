"""The supervisor's small persistent state: when the last cycle ended and when one last
succeeded, the last failure (cause and fix) and the last snapshot taken, kept on the data volume
(`{sinkPath}/.kcb-state.json`) so a restarted pod keeps its schedule and its
`kcb_last_success_timestamp_seconds`, and `kcb status` can answer without the supervisor.

rsnapshot only copies `*.sink` / `*.gz`, compression only touches sink files: neither sees it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

from kafka_connect_backup.config import Config, Engine
from kafka_connect_backup.core import records
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.layout.names import STATE_NAME


# What save_state reads of a cycle's result (supervisor/cycle.py's CycleResult, and its
# SnapshotResult): described here, not imported, because the backup step, which the cycle
# imports, records its promotions in this module.
class _Recovery(Protocol):
    @property
    def snapshot(self) -> str: ...
    @property
    def taken_at(self) -> float: ...


class _Snapshot(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def recovery(self) -> Mapping[str, _Recovery]: ...
    @property
    def counts(self) -> Mapping[str, int]: ...
    @property
    def files(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def engine(self) -> Engine: ...


class CycleOutcome(Protocol):
    @property
    def cycle_id(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def aborted(self) -> bool: ...
    @property
    def cause(self) -> str | None: ...
    @property
    def step(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def fix(self) -> str | None: ...
    @property
    def snapshot(self) -> _Snapshot | None: ...


log = get_logger(__name__)


@dataclass(frozen=True)
class SupervisorState:
    """What the state file records of the supervisor's cycles (not a snapshot's state:
    layout/snapshot_status.State)."""

    last_cycle_end: float = 0.0
    last_success: float = 0.0
    # {"time", "cycleId", "cause", "step", "error", "fix"} of the last failed cycle
    last_failure: dict[str, Any] | None = None
    # {"time", "files", "bytes", "engine"} of the snapshot of the last successful backup
    last_snapshot: dict[str, Any] | None = None
    last_cycle_ok: bool | None = None  # None: no cycle recorded yet
    unreadable: str | None = None  # why the state file could not be read (it exists)
    # backup.keep's higher levels: when each was last fed (supervisor/backup/levels.py)
    promotions: dict[str, float] = field(default_factory=dict)
    # After the last successful backup: topic -> {"snapshot", "takenAt"} of its recovery
    # point (supervisor/backup/recovery.py), and the snapshots per level.
    recovery_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshot_counts: dict[str, int] = field(default_factory=dict)

    def recovery(self) -> dict[str, tuple[str, float]]:
        """topic -> (snapshot, taken at epoch), for the metrics."""
        return {t: (p["snapshot"], p["takenAt"]) for t, p in self.recovery_points.items()}


def state_path(config: Config) -> Path:
    return config.sink_path / STATE_NAME


class _StateFile(msgspec.Struct, frozen=True, rename="camel"):
    """The state file, in the order its keys are written."""

    last_cycle_end: float
    last_success: float
    last_cycle_ok: bool | None = None
    last_failure: dict[str, Any] | None = None
    last_snapshot: dict[str, Any] | None = None
    promotions: dict[str, float] = {}
    recovery_points: dict[str, dict[str, Any]] = {}
    snapshot_counts: dict[str, int] = {}


def load_state(config: Config) -> SupervisorState:
    path = state_path(config)
    try:
        saved = records.load(path, _StateFile)
    except RecordUnreadable as exc:
        log.warning(
            "state.unreadable", path=str(path), error=str(exc.error), fix="ignored; rewritten"
        )
        return SupervisorState(unreadable=exc.reason)
    if saved is None:
        return SupervisorState()
    return SupervisorState(
        saved.last_cycle_end,
        saved.last_success,
        saved.last_failure,
        saved.last_snapshot,
        saved.last_cycle_ok,
        promotions=dict(saved.promotions),
        recovery_points=dict(saved.recovery_points),
        snapshot_counts=dict(saved.snapshot_counts),
    )


def promotions(config: Config) -> dict[str, datetime]:
    """Each higher level's last promotion (levels.due_levels' `promoted`)."""
    return {
        level: datetime.fromtimestamp(epoch, UTC)
        for level, epoch in load_state(config).promotions.items()
    }


def record_promotion(config: Config, level: str, at: datetime) -> None:
    """Record that `level` was fed at `at`, at once (durably): a cycle that fails after the
    rotation must not run it again before its next period."""
    previous = load_state(config)
    _save(config, previous, promotions={**previous.promotions, level: at.timestamp()})


def save_state(config: Config, result: CycleOutcome) -> None:
    """Atomically (temp file, fsync, rename); a failure is logged, never fatal. A cycle cut
    short by a shutdown is not recorded: the restarted supervisor should not wait for it."""
    if result.aborted:
        return
    previous = load_state(config)
    now = time.time()
    failure = previous.last_failure
    if not result.ok:
        failure = {
            "time": now,
            "cycleId": result.cycle_id,
            "cause": result.cause,
            "step": result.step,
            "error": result.error,
            "fix": result.fix,
        }
    snapshot = previous.last_snapshot
    points, counts = previous.recovery_points, previous.snapshot_counts
    if result.ok and result.snapshot is not None:
        taken = result.snapshot
        snapshot = {
            "time": now,
            "name": taken.name,
            "files": taken.files,
            "bytes": taken.bytes,
            "engine": taken.engine.value,
        }
        points = {
            topic: {"snapshot": point.snapshot, "takenAt": point.taken_at}
            for topic, point in taken.recovery.items()
        }
        counts = dict(taken.counts)
    _save(
        config,
        previous,
        last_cycle_end=now,
        last_success=now if result.ok else previous.last_success,
        last_cycle_ok=result.ok,
        last_failure=failure,
        last_snapshot=snapshot,
        recovery_points=points,
        snapshot_counts=counts,
    )


def _save(config: Config, previous: SupervisorState, **changed: Any) -> None:
    """The previous state with `changed` keys (_StateFile's names) written over it."""
    path = state_path(config)
    kept = {
        "last_cycle_end": previous.last_cycle_end,
        "last_success": previous.last_success,
        "last_cycle_ok": previous.last_cycle_ok,
        "last_failure": previous.last_failure,
        "last_snapshot": previous.last_snapshot,
        "promotions": previous.promotions,
        "recovery_points": previous.recovery_points,
        "snapshot_counts": previous.snapshot_counts,
    }
    body = _StateFile(**{**kept, **changed})
    records.save_or_warn(
        path,
        body,
        log,
        "state.not_saved",
        "check that sinkPath is writable; only the schedule after a restart is affected",
    )
