"""restore.py --snapshot-at against the real broker: among hourly.N and daily.N snapshots (each
holding more of the topic than the one before it), the newest complete one taken at or before
the time is replayed, exactly, whatever its level; the plan names it and why."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import listing_digest, marker_document
from kafka_helpers import consume_all
from storage_helpers import run_restore as restore

pytestmark = pytest.mark.integration

SINK = "sink27"


def lines(count: int) -> list[str]:
    """The topic's first `count` records, one a minute from 2026-12-06T00:00Z."""
    return [
        json.dumps({"n": n, "utcTime": f"2026-12-06T{n // 60:02d}:{n % 60:02d}:00Z"})
        for n in range(count)
    ]


def snapshot(
    root: Path, name: str, taken: str, count: int, source: str, *, complete: bool = True
) -> None:
    """`name` as rsnapshot and the supervisor leave it: the topic's file below localhost/ and
    the completeness marker (its digest wrong when not complete: a run cut short)."""
    files = root / name / "localhost" / "data" / "filesink"
    files.mkdir(parents=True)
    (files / f"{source}-{SINK}-2026-12.sink").write_text("".join(f"{x}\n" for x in lines(count)))
    entries, digest = listing_digest(root / name)
    moment = datetime.fromisoformat(taken).replace(tzinfo=UTC)
    document = marker_document(
        verified=True, entries=entries, digest=digest if complete else "0" * 64, finished=moment
    )
    (root / name / MARKER_NAME).write_text(json.dumps(document))
    os.utime(root / name, (moment.timestamp(), moment.timestamp()))


def test_snapshot_at_replays_the_daily_snapshot_taken_before_the_hourly_ones(
    kafka_broker, unique_topic: str, tmp_path: Path
) -> None:
    source = "orders27"
    root = tmp_path / "backup"
    snapshot(root, "hourly.0", "2026-12-06T20:00:05", 1200, source)
    snapshot(root, "hourly.1", "2026-12-06T19:00:05", 1140, source)
    snapshot(root, "hourly.2", "2026-12-06T18:00:05", 1080, source, complete=False)
    snapshot(root, "daily.0", "2026-12-06T12:00:05", 720, source)
    snapshot(root, "daily.1", "2026-12-06T06:00:05", 360, source)

    result = restore(
        unique_topic,
        kafka_broker.bootstrap,
        "--from",
        "2026-12-06T05:00",
        "--snapshot-at",
        "2026-12-06T18:30Z",
        "--snapshot-root",
        str(root),
        "--source-topic",
        source,
        "--sink-name",
        SINK,
        "--yes",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "snapshot: daily.0, taken 2026-12-06T12:00:05Z: the newest at or before "
        "2026-12-06T18:30:00Z; skipped hourly.2 (incomplete)\n"
    ) in result.stdout
    expected = lines(720)[300:]  # daily.0's records from 05:00 on
    got = consume_all(kafka_broker.bootstrap, unique_topic, len(expected))
    assert [value.decode() for _, value in got if value is not None] == expected
    assert "delivered 420, failed 0" in result.stdout
