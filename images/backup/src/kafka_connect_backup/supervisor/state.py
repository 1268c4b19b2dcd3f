"""The supervisor's small persistent state: when the last cycle ended and when one last
succeeded, the last failure (cause and fix) and the last snapshot taken, kept on the data volume
(`{sinkPath}/.kcb-state.json`) so a restarted pod keeps its schedule and its
`kcb_last_success_timestamp_seconds`, and `kcb status` can answer without the supervisor.

rsnapshot only copies `*.sink` / `*.gz`, compression only touches sink files: neither sees it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import Config
from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.layout.names import STATE_NAME
from kafka_connect_backup.supervisor.cycle import CycleResult

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


def state_path(config: Config) -> Path:
    return config.sink_path / STATE_NAME


def load_state(config: Config) -> SupervisorState:
    path = state_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SupervisorState(
            float(data["lastCycleEnd"]),
            float(data["lastSuccess"]),
            data.get("lastFailure"),
            data.get("lastSnapshot"),
            data.get("lastCycleOk"),
        )
    except FileNotFoundError:
        return SupervisorState()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("state.unreadable", path=str(path), error=str(exc), fix="ignored; rewritten")
        return SupervisorState(unreadable=f"{type(exc).__name__}: {exc}")


def save_state(config: Config, result: CycleResult) -> None:
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
    if result.ok and result.snapshot is not None:
        taken = result.snapshot
        snapshot = {
            "time": now,
            "files": taken.files,
            "bytes": taken.bytes,
            "engine": taken.engine.value,
        }
    path = state_path(config)
    body = {
        "lastCycleEnd": now,
        "lastSuccess": now if result.ok else previous.last_success,
        "lastCycleOk": result.ok,
        "lastFailure": failure,
        "lastSnapshot": snapshot,
    }
    try:
        atomic_write_text(path, json.dumps(body))
    except OSError as exc:
        log.warning(
            "state.not_saved",
            path=str(path),
            error=str(exc),
            fix="check that sinkPath is writable; only the schedule after a restart is affected",
        )
