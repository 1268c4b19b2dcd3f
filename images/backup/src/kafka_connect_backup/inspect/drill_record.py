"""The result of the last restore drill, kept on the data volume (`{sinkPath}/.kcb-drill.json`)
so the supervisor's metrics, its drill schedule and `kcb status` read one source of truth,
whether the drill ran in the supervisor or through `kubectl exec ... kcb drill`.

rsnapshot copies only `*.sink` / `*.gz` / `*.topic.json` and compression only touches sink
files: neither sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from kafka_connect_backup.config import Config
from kafka_connect_backup.core import records
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.inspect.drill import DrillReport
from kafka_connect_backup.layout.names import DRILL_NAME, NEWEST_SNAPSHOT

log = get_logger(__name__)


class DrillRecord(msgspec.Struct, frozen=True, rename="camel"):
    """The record, in the order its keys are written."""

    finished_at: float  # Unix time the drill ended
    ok: bool
    last_success: float  # Unix time the last passing drill ended (0 = none yet)
    snapshot: str = NEWEST_SNAPSHOT
    topics: tuple[str, ...] = ()  # the topics drilled
    seconds: float = 0.0
    error: str | None = None  # the first failure, one line
    results: list[dict[str, Any]] = []  # per topic, as --json shows
    skipped: bool = False  # every topic idle (no record in the snapshot): ok, nothing proved


def drill_path(config: Config) -> Path:
    return config.sink_path / DRILL_NAME


def load_last_drill(config: Config) -> DrillRecord | None:
    """The last drill's record; None when no drill has run (or its file is unreadable, which
    is logged: the next drill rewrites it)."""
    path = drill_path(config)
    try:
        return records.load(path, DrillRecord)
    except RecordUnreadable as exc:
        log.warning(
            "drill.record_unreadable",
            path=str(path),
            error=str(exc.error),
            fix="ignored; rewritten",
        )
        return None


def save_drill(config: Config, record: DrillRecord) -> bool:
    """Durably (temp file, fsync, rename); False (and a warning) when it cannot be written."""
    return records.save_or_warn(
        drill_path(config),
        msgspec.structs.replace(record, seconds=round(record.seconds, 3)),
        log,
        "drill.record_not_saved",
        "check that sinkPath is writable; the drill's result is only in this log",
        indent=2,
    )


def record_drill(config: Config, report: DrillReport) -> DrillRecord | None:
    """Keep the report as the last drill and log `drill.passed` / `drill.failed`; an aborted
    drill (shutdown) is logged only: it proved nothing either way."""
    topics = tuple(t.topic for t in report.topics)
    if report.aborted:
        log.warning("drill.aborted", snapshot=report.snapshot, drilled=list(topics))
        return None
    previous = load_last_drill(config)
    last_success = report.finished_at if report.ok else (previous.last_success if previous else 0.0)
    record = DrillRecord(
        finished_at=report.finished_at,
        ok=report.ok,
        last_success=last_success,
        snapshot=report.snapshot,
        topics=topics,
        seconds=report.seconds,
        error=report.first_error,
        results=[t.as_dict() for t in report.topics],
        skipped=report.skipped,
    )
    save_drill(config, record)
    fields: dict[str, Any] = {
        "snapshot": report.snapshot,
        "topics": list(topics),
        "records": sum(t.records for t in report.topics),
        "seconds": round(report.seconds, 3),
    }
    if report.skipped:
        log.info(
            "drill.skipped",
            **fields,
            reason="no topic has a record in the snapshot (idle topics): nothing to drill",
        )
    elif report.ok:
        log.info("drill.passed", **fields)
    else:
        log.error(
            "drill.failed",
            **fields,
            failed=[t.topic for t in report.topics if not t.ok],
            error=record.error,
            fix="read the error: a file that cannot be read is a damaged backup (take a new "
            "one with kcb backup-now, keep the older alpha.N); a count or hash that differs "
            "is a restore that would lose or change records",
        )
    return record
