"""Is the backup good right now? The one document behind `kcb status` and the supervisor's
`GET /status`: the last successful cycle and its age, the next one, the last failure and its
fix; per topic the sink's consumer-group lag (records Kafka has that no sink file has yet), the
newest record in its current sink file and the size of its files; the last snapshot and the
last restore drill and snapshots verify; restore holds and restores in progress.

Healthy: the last cycle did not fail, and once a cycle has succeeded its age is at most
2 x restartTimeout (the chart's stale-backup alert uses the same bound).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from kafka_connect_backup.config import Config, SinkFormat
from kafka_connect_backup.connect.hold import hold_of
from kafka_connect_backup.core.units import human_bytes, human_duration, utc_iso
from kafka_connect_backup.inspect.drill_record import load_last_drill
from kafka_connect_backup.inspect.verify_record import load_last_verification
from kafka_connect_backup.kafka.admin import KafkaAdmin
from kafka_connect_backup.kafka.envelope import EnvelopeError, parse_line
from kafka_connect_backup.kafka.timefilter import FieldReader, iso, record_moment
from kafka_connect_backup.layout.names import HOLD_DIR, RESTORE_DIR, is_running_journal
from kafka_connect_backup.layout.sinkfiles import (
    connector_name,
    consumer_group,
    parse_sink_file,
    period_of,
    sink_file,
    sort_key,
)
from kafka_connect_backup.supervisor.state import SupervisorState, load_state, state_path
from kafka_connect_backup.supervisor.volume_lock import holder, sink_path_missing

STALE_FACTOR = 2  # a last success older than this many restartTimeouts is unhealthy
TAIL_BYTES = 1 << 16  # the end of the live file holds its newest record
TIMESTAMP_FIELD = "utcTime"  # the seed's record time (restore.py's default too)


@dataclass
class TopicStatus:
    topic: str
    connector: str
    group: str
    lag_records: int | None  # None: Kafka could not be read
    newest_record_time: str | None
    newest_record_age_seconds: float | None
    files: int
    bytes: int
    current_file: str


def when(epoch: float | None) -> str | None:
    """A state's time to the second; 0 (never) is None."""
    return iso(epoch, seconds=True) if epoch else None


def newest_record(
    path: Path, field: str = TIMESTAMP_FIELD, *, envelope: bool = False
) -> datetime | None:
    """The time of the last complete line of a sink file (None: no file, no time): the
    value's `field`, or for an envelope file the record's Kafka timestamp."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    reader = FieldReader(field)
    for line in reversed(tail.split(b"\n")[:-1]):  # after the last newline: a torn line
        moment = _envelope_time(line) if envelope else record_moment(reader.read(line))
        if moment is not None:
            return moment
    return None


def _envelope_time(line: bytes) -> datetime | None:
    try:
        return parse_line(line).time
    except EnvelopeError:  # the first line of the tail, cut at TAIL_BYTES
        return None


def connector_files(config: Config, connector: str) -> Iterator[Path]:
    """The sink files of one connector directly in sinkPath (what rsnapshot backs up)."""
    try:
        entries = list(config.sink_path.iterdir())
    except OSError:
        return
    for path in entries:
        name = parse_sink_file(path)
        if name is not None and name.stem == connector and path.is_file():
            yield path


def sink_lag(admin: KafkaAdmin, topic: str, group: str) -> int | None:
    """Records of `topic` its sink's group has not committed (a partition without a commit
    counts from its earliest offset). None when the topic does not exist."""
    info = admin.describe(topic, configs=False)
    if info is None:
        return None
    ends = admin.latest_offsets(topic, info.partitions)
    starts = admin.earliest_offsets(topic, info.partitions)
    committed = admin.group_offsets(group, topic, info.partitions)
    return sum(
        max(0, end.offset - committed.get(end.partition, start.offset))
        for end, start in zip(ends, starts, strict=True)
    )


def _live_file(config: Config, topic: str, now: float) -> Path:
    period = period_of(datetime.fromtimestamp(now, UTC), config.sink_rotation)
    return sink_file(config.sink_path, topic, config.sink_name, period, config.sink_format)


def observe_topic(
    config: Config, topic: str, admin: KafkaAdmin | None, now: float
) -> tuple[TopicStatus, str | None]:
    """topic_status that never raises: whatever reading the files or Kafka raises becomes the
    topic's error, so neither `kcb status` nor the daemon (which refreshes its gauges from
    this) ends on a sink file or an answer it did not expect."""
    try:
        return topic_status(config, topic, admin, now)
    except Exception as exc:  # noqa: BLE001 (reported in the document, never fatal)
        connector = connector_name(topic, config.sink_name)
        group = consumer_group(topic, config.sink_name)
        live = str(_live_file(config, topic, now))
        unknown = TopicStatus(topic, connector, group, None, None, None, 0, 0, live)
        return unknown, f"not observed ({type(exc).__name__}: {exc}); please report it"


# The topic entries' keys before they followed the document's camelCase: still written, with the
# same values, for one release so that scripts reading them keep working (the chart README's
# upgrade notes); removed in the next.
DEPRECATED_TOPIC_KEYS = {
    "lag_records": "lagRecords",
    "newest_record_time": "newestRecordTime",
    "newest_record_age_seconds": "newestRecordAgeSeconds",
    "current_file": "currentFile",
}


def topic_json(status: TopicStatus) -> dict[str, Any]:
    """A topic's entry in the status document: camelCase keys like the rest of it, and the
    deprecated snake_case ones beside them (DEPRECATED_TOPIC_KEYS)."""
    entry = {
        "topic": status.topic,
        "connector": status.connector,
        "group": status.group,
        "lagRecords": status.lag_records,
        "newestRecordTime": status.newest_record_time,
        "newestRecordAgeSeconds": status.newest_record_age_seconds,
        "files": status.files,
        "bytes": status.bytes,
        "currentFile": status.current_file,
    }
    return entry | {old: entry[new] for old, new in DEPRECATED_TOPIC_KEYS.items()}


def topic_status(
    config: Config, topic: str, admin: KafkaAdmin | None, now: float
) -> tuple[TopicStatus, str | None]:
    connector = connector_name(topic, config.sink_name)
    group = consumer_group(topic, config.sink_name)
    live = _live_file(config, topic, now)
    files = list(connector_files(config, connector))
    newest = newest_record(live, envelope=config.sink_format is SinkFormat.ENVELOPE)
    if newest is None:  # a new period whose file has no record yet: the previous one's
        plain = [name for name in map(parse_sink_file, files) if name and not name.compressed]
        for name in sorted(plain, key=sort_key, reverse=True):
            newest = newest_record(name.path, envelope=name.sink_format is SinkFormat.ENVELOPE)
            if newest is not None:
                break
    lag, error = None, None
    if admin is not None:
        try:
            lag = sink_lag(admin, topic, group)
        except KafkaException as exc:
            error = str(admin.refused(exc, f"lag of {group} not read"))
    status = TopicStatus(
        topic=topic,
        connector=connector,
        group=group,
        lag_records=lag,
        newest_record_time=utc_iso(newest, timespec="auto") if newest else None,
        newest_record_age_seconds=round(now - newest.timestamp(), 1) if newest else None,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        current_file=str(live),
    )
    return status, error


def _recovery_point(state: SupervisorState, topic: str, now: float) -> dict[str, Any] | None:
    """The topic's recovery point as the last successful backup measured it (the newest
    usable snapshot holding its files: supervisor/backup/recovery.py), aged to `now`."""
    point = state.recovery_points.get(topic)
    if not point:
        return None
    return {
        "snapshot": point["snapshot"],
        "takenAt": utc_iso(point["takenAt"]),
        "ageSeconds": round(max(0.0, now - point["takenAt"])),
    }


def _holds(config: Config, now: float) -> list[dict[str, Any]]:
    found = []
    directory = config.sink_path / HOLD_DIR
    for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
        hold = hold_of(config.sink_path, entry.name)
        if hold is not None:
            found.append(
                {
                    "connector": hold.connector,
                    "reason": hold.reason,
                    "ageSeconds": round(hold.age(now), 1),
                    "journal": str(hold.journal),
                }
            )
    return found


def _drill(config: Config) -> dict[str, Any] | None:
    record = load_last_drill(config)
    if record is None:
        return None
    return {
        "time": when(record.finished_at),
        "ok": record.ok,
        "skipped": record.skipped,
        "snapshot": record.snapshot,
        "topics": list(record.topics),
        "lastSuccess": when(record.last_success),
        "error": record.error,
    }


def _verification(config: Config) -> dict[str, Any] | None:
    record = load_last_verification(config)
    if record is None:
        return None
    return {
        "time": when(record.finished_at),
        "ok": record.ok,
        "deep": record.deep,
        "snapshots": record.snapshots,
        "problems": record.problems,
    }


def _restores(config: Config) -> list[str]:
    directory = config.sink_path / RESTORE_DIR
    if not directory.is_dir():
        return []
    return sorted(str(p) for p in directory.iterdir() if is_running_journal(p.name))


def _health(config: Config, state: SupervisorState, now: float) -> tuple[bool, str]:
    bound = STALE_FACTOR * config.restart_timeout_seconds
    missing = sink_path_missing(config)
    if missing is not None:
        return False, f"{missing.message} (fix: {missing.fix})"
    if state.unreadable is not None:
        return False, (
            f"the supervisor's state file {state_path(config)} is unreadable "
            f"({state.unreadable}): the last cycle and success are unknown (fix: the "
            "supervisor rewrites it at its next cycle; `kcb backup-now` runs one now)"
        )
    if state.last_cycle_ok is False:
        failure = state.last_failure or {}
        return False, f"the last cycle failed ({failure.get('cause')}): {failure.get('fix')}"
    if state.last_success and now - state.last_success > bound:
        return False, (
            f"the last successful cycle is {now - state.last_success:.0f}s old, more than "
            f"{STALE_FACTOR} x restartTimeout ({bound:.0f}s)"
        )
    if not state.last_success:
        return True, "no cycle has run yet (the first runs one restartTimeout after start)"
    return True, "the last cycle succeeded"


def collect(
    config: Config,
    *,
    admin: KafkaAdmin | None,
    now: float | None = None,
    supervisor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The status document. `supervisor` is the running loop's own part (next cycle, cycle
    in progress), None when the document is made outside it."""
    now = time.time() if now is None else now
    state = load_state(config)
    healthy, reason = _health(config, state, now)
    topics, errors = [], []
    for topic in config.topics:
        status, error = observe_topic(config, topic, admin, now)
        topics.append({**topic_json(status), "recoveryPoint": _recovery_point(state, topic, now)})
        if error:
            errors.append(f"{topic}: {error}")
    next_cycle = None
    if supervisor is not None:
        next_cycle = supervisor.get("nextCycleInSeconds")
    elif state.last_cycle_end:
        next_cycle = round(max(0.0, state.last_cycle_end + config.restart_timeout_seconds - now))
    return {
        "healthy": healthy,
        "reason": reason,
        "lastSuccess": when(state.last_success),
        "lastSuccessAgeSeconds": round(now - state.last_success, 1) if state.last_success else None,
        "lastCycleEnd": when(state.last_cycle_end),
        "lastCycleOk": state.last_cycle_ok,
        "nextCycleInSeconds": next_cycle,
        "lastFailure": (
            {**state.last_failure, "time": when(state.last_failure.get("time"))}
            if state.last_failure
            else None
        ),
        "lastSnapshot": (
            {
                # Recorded since backup.keep; before, every snapshot a cycle took was alpha.0.
                "name": config.backup.newest_snapshot,
                **state.last_snapshot,
                "time": when(state.last_snapshot["time"]),
            }
            if state.last_snapshot
            else None
        ),
        "backupEnabled": config.backup.enabled,
        "topics": topics,
        "lastDrill": _drill(config),
        "lastVerify": _verification(config),
        "holds": _holds(config, now),
        "restoresInProgress": _restores(config),
        "errors": errors,
        "supervisor": supervisor,
    }


def without_supervisor(config: Config, doc: dict[str, Any], endpoint: str | None) -> None:
    """`doc` made from the files because no supervisor answered at `endpoint`: unhealthy
    when none runs on the data volume (nothing backs up, whatever the last cycle did)."""
    running = holder(config)
    if running is None:
        if doc["healthy"]:
            doc["healthy"] = False
            doc["reason"] = (
                f"no supervisor is running on the data volume {config.sink_path}: nothing "
                "backs up until one starts (fix: start it; kcb supervise, or check the "
                "supervisor container's log)"
            )
        doc["errors"].append(f"no supervisor holds {config.sink_path}'s lock: none is running")
    else:
        doc["errors"].append(
            f"no supervisor answers at {endpoint or '(metrics.port 0)'} (pid {running} runs on "
            "the data volume): read from the files"
        )


def render(doc: dict[str, Any]) -> str:
    """The readable form of the document, for an operator at a terminal."""
    lines = [f"backup: {'HEALTHY' if doc['healthy'] else 'UNHEALTHY'}: {doc['reason']}"]
    if doc["lastSuccess"]:
        lines.append(
            f"last success: {doc['lastSuccess']} "
            f"({human_duration(doc['lastSuccessAgeSeconds'])} ago)"
        )
    if doc["nextCycleInSeconds"] is not None:
        lines.append(f"next cycle:   in {human_duration(doc['nextCycleInSeconds'])}")
    failure = doc["lastFailure"]
    if failure:
        lines.append(
            f"last failure: {failure['time']} {failure['cause']} in {failure['step']}: "
            f"{failure['error']} (fix: {failure['fix']})"
        )
    snapshot = doc["lastSnapshot"]
    if snapshot:
        lines.append(
            f"last snapshot: {snapshot['name']} at {snapshot['time']}, {snapshot['files']} "
            f"files, {human_bytes(snapshot['bytes'])} ({snapshot['engine']})"
        )
    elif not doc["backupEnabled"]:
        lines.append("snapshots: backup.enabled is false (sink files only)")
    lines.append("topics:")
    for topic in doc["topics"]:
        lag = "unknown" if topic["lagRecords"] is None else str(topic["lagRecords"])
        newest = (
            f"{topic['newestRecordTime']} ({human_duration(topic['newestRecordAgeSeconds'])} ago)"
            if topic["newestRecordTime"]
            else "none"
        )
        point = topic.get("recoveryPoint")
        recovery = (
            f", recovery point {human_duration(point['ageSeconds'])} ago ({point['snapshot']})"
            if point
            else ""
        )
        lines.append(
            f"  {topic['topic']}: lag {lag} records, newest record {newest}, "
            f"{topic['files']} files, {human_bytes(topic['bytes'])}{recovery}"
        )
    drill = doc.get("lastDrill")
    if drill:
        outcome = (
            "skipped (every topic idle: no record in the snapshot)"
            if drill.get("skipped")
            else "passed"
            if drill["ok"]
            else f"FAILED: {drill['error']}"
        )
        lines.append(f"last drill:   {drill['time']} on {drill['snapshot']}, {outcome}")
    checked = doc.get("lastVerify")
    if checked:
        mode = "verify --deep" if checked["deep"] else "verify"
        outcome = "ok" if checked["ok"] else f"{checked['problems']} problems"
        lines.append(
            f"last {mode}: {checked['time']} of {', '.join(checked['snapshots'])}: {outcome}"
        )
    for hold in doc["holds"]:
        lines.append(
            f"held: {hold['connector']} by {hold['reason']} "
            f"for {human_duration(hold['ageSeconds'])}"
        )
    for journal in doc["restoresInProgress"]:
        lines.append(f"restore in progress: {journal}")
    for error in doc["errors"]:
        lines.append(f"error: {error}")
    return "\n".join(lines)
