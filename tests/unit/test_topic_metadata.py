"""The topic metadata file kept with every snapshot: its format, that the backup's file rules
take it (rsnapshot's includes, staging, the compressor leaves it), that `kcb snapshots verify`
accepts a good one and names a broken one, and that `kcb snapshots list` shows it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.config import SinkRotation
from kafka_connect_backup.kafka.topic_metadata import (
    MetadataError,
    TopicMetadata,
    find_metadata,
    read_metadata,
    write_metadata,
)
from kafka_connect_backup.layout.snapshot_status import write_marker
from kafka_connect_backup.supervisor.compress import compress_idle_files
from kafka_connect_backup.tools.rsnapshot import backed_up_files

pytestmark = pytest.mark.unit

WHEN = datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC)
META = TopicMetadata(
    "orders",
    WHEN,
    3,
    1,
    {"cleanup.policy": "compact"},
    {"billing": {0: 120, 2: 7}, "connect-orders-sink": {0: 130, 1: 4, 2: 9}},
)


def test_written_atomically_and_read_back_the_same(tmp_path):
    path = write_metadata(tmp_path, "sink", META)
    assert path.name == "orders-sink.topic.json"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    data = json.loads(path.read_text())
    assert data["time"] == "2026-11-30T12:00:00.123Z"
    assert data["groups"]["billing"] == {"0": 120, "2": 7}
    assert read_metadata(path) == META
    assert find_metadata([tmp_path / "none", tmp_path], "orders-sink") == path
    assert find_metadata([tmp_path], "payments-sink") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not a topic metadata file (not JSON"),
        ('{"format": "other"}', "no format 'kcb-topic-metadata'"),
        ('{"format": "kcb-topic-metadata", "version": 9}', "has metadata version 9"),
        (
            '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", "time": "x"}',
            "a field is missing or malformed",
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", '
                '"time": "2026-01-01T00:00Z", "partitions": 0, "replicationFactor": 1}'
            ),
            "partitions must be an integer from 1 to 1000000, got 0",
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", '
                '"time": "2026-01-01T00:00Z", "partitions": 1099511627776, '
                '"replicationFactor": 1}'
            ),
            "partitions must be an integer from 1 to 1000000, got 1.1e+12",
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", '
                '"time": "2026-01-01T00:00Z", "groups": {"g": {"0": Infinity}}}'
            ),
            "is not a topic metadata file (not JSON: Infinity is not JSON)",
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", '
                '"time": "2026-01-01T00:00Z", "groups": {"g": {"0": -1}}}'
            ),
            (
                "a field is missing or malformed (groups.g offset: expected an integer from 0 to "
                "9223372036854775807, got -1)"
            ),
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "\\ud800", '
                '"time": "2026-01-01T00:00Z"}'
            ),
            "a field is missing or malformed (topic: '\\ud800' is not valid Unicode)",
        ),
        (
            (
                '{"format": "kcb-topic-metadata", "version": 1, "topic": "t", '
                '"time": "0001-01-01T00:00+01:00"}'
            ),
            (
                "a field is missing or malformed (0001-01-01T00:00:00+01:00 is outside the years "
                "1..9999 in UTC)"
            ),
        ),
        ("[" * 100_000, "is not a topic metadata file (not JSON: maximum recursion depth"),
    ],
)
def test_a_bad_file_is_one_error_naming_it(tmp_path, text, message):
    path = tmp_path / "orders-sink.topic.json"
    path.write_text(text)
    with pytest.raises(MetadataError, match=str(path)) as info:
        read_metadata(path)
    assert message in str(info.value)


def test_the_backup_takes_it_and_the_compressor_leaves_it(tmp_path):
    # The compressor's clock, fixed after the file's period: with the real clock the file
    # would be the current period's (never compressed) in January 2026.
    now = datetime(2026, 5, 1, tzinfo=UTC)
    write_metadata(tmp_path, "sink", META)
    old = tmp_path / "orders-sink-2026-01.sink"
    old.write_text('{"n":1}\n')
    past = now.timestamp() - 90 * 86400
    for path in tmp_path.iterdir():
        os.utime(path, (past, past))
    (tmp_path / ".orders-sink.topic.json.x1.tmp").write_text("{}")  # a write cut short
    assert [p.name for p in backed_up_files(tmp_path)] == [
        "orders-sink-2026-01.sink",
        "orders-sink.topic.json",
    ]
    result = compress_idle_files(
        tmp_path,
        now=now,
        rotation=SinkRotation.MONTHLY,
        idle_days=30,
    )
    assert [c.source.name for c in result.compressed] == ["orders-sink-2026-01.sink"]
    assert read_metadata(tmp_path / "orders-sink.topic.json") == META


def snapshot_with_metadata(root: Path, text: str | None = None) -> Path:
    snapshot = root / "alpha.0"
    sink = snapshot / "localhost/data/filesink"
    sink.mkdir(parents=True)
    (sink / "orders-sink-2026-11.sink").write_text('{"utcTime":"2026-11-01T00:00Z"}\n')
    if text is None:
        write_metadata(sink, "sink", META)
    else:
        (sink / "orders-sink.topic.json").write_text(text)
    write_marker(snapshot, verified=True)
    return snapshot


def test_verify_accepts_a_metadata_file_and_names_a_broken_one(tmp_path, capsys):
    good = tmp_path / "good"
    snapshot_with_metadata(good)
    assert kcb(["snapshots", "verify", "--snapshot-root", str(good)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    snapshot_with_metadata(bad, "{")
    assert kcb(["snapshots", "verify", "--snapshot-root", str(bad)]) == 1
    out = capsys.readouterr().out
    assert (
        "alpha.0/localhost/data/filesink/orders-sink.topic.json: unreadable topic metadata: " in out
    )


def test_snapshots_list_shows_it(tmp_path, capsys):
    snapshot_with_metadata(tmp_path)
    assert kcb(["snapshots", "list", "--snapshot-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "    localhost/data/filesink/orders-sink.topic.json  topic metadata of "
        "2026-11-30T12:00:00Z: 3 partitions, replication factor 1, configs "
        "cleanup.policy=compact, 2 consumer groups"
    ) in out
    assert kcb(["snapshots", "list", "--snapshot-root", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["metadata"][0]["groups"]["billing"] == {"0": 120, "2": 7}
