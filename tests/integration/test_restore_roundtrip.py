"""restore.py against the real broker and Connect: records sunk by Connect, compressed by the
supervisor's compressor and snapshotted (encfs + rsnapshot) by the supervisor's backup step,
then restored into a new topic from a time; and files shaped exactly as the original wrote them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from kafka_connect_backup.layout.sinkfiles import connector_name, sink_file
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.supervisor.compress import compress_file
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_helpers import (
    consume_all,
    produce_json,
    put_connector,
    stop_connector,
    wait_for_lines,
)
from storage_helpers import run_restore as restore
from storage_helpers import storage_env

pytestmark = pytest.mark.integration


def values(got: list[tuple[bytes | None, bytes | None]]) -> list[str]:
    return [value.decode() if value is not None else "<null>" for _, value in got]


def records(day: int, hours: range, tag: str) -> list[dict[str, object]]:
    return [
        {"id": f"{tag}-{day}-{h}-{m}", "utcTime": f"2021-01-{day:02d}T{h:02d}:{m:02d}:00.000Z"}
        for h in hours
        for m in (0, 15, 30, 45, 56, 57)
    ]


def test_round_trip_sunk_compressed_snapshotted_restored_from_a_time(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    sink = f"rt-{uuid.uuid4().hex[:6]}"
    source_topic = create_topic(f"rt-source-{uuid.uuid4().hex[:6]}", 1)
    target_topic = create_topic(f"rt-target-{uuid.uuid4().hex[:6]}", 1)
    name = connector_name(source_topic, sink)
    (tmp_path / "storage").mkdir()
    with storage_env(tmp_path / "storage") as env:
        # December's file, then January's: what a month change gives.
        december = records(31, range(20, 24), "dec")
        january = records(19, range(14, 18), "jan") + records(20, range(2), "jan")
        old_file = sink_file(env.sink, source_topic, sink, "2020-12")
        new_file = sink_file(env.sink, source_topic, sink, "2021-01")
        base = {"connector.class": "FileStreamSink", "tasks.max": "1", "topics": source_topic}
        try:
            put_connector(connect_worker.url, name, {**base, "file": str(old_file)})
            dec_lines = produce_json(kafka_broker.bootstrap, source_topic, december)
            assert wait_for_lines(old_file, len(dec_lines)) == dec_lines
            stop_connector(connect_worker.url, name)
            put_connector(connect_worker.url, name, {**base, "file": str(new_file)})
            requests.put(f"{connect_worker.url}/connectors/{name}/resume", timeout=30)
            jan_lines = produce_json(kafka_broker.bootstrap, source_topic, january)
            assert wait_for_lines(new_file, len(jan_lines)) == jan_lines
            stop_connector(connect_worker.url, name)
        finally:
            requests.delete(f"{connect_worker.url}/connectors/{name}", timeout=30)

        gz = compress_file(old_file, 1612137600).target
        assert gz.name == f"{source_topic}-{sink}-2020-12.sink-1612137600.gz"
        config = env.config().model_copy(update={"sink_name": sink})
        backup_snapshot(config)

        with mounted_volume(config.backup, allow_init=False) as volume:
            summary = tmp_path / "summary.json"
            result = restore(
                target_topic,
                kafka_broker.bootstrap,
                "--from",
                "2021-01-19T15:57",
                "--to",
                "2021-01-20T01:00",
                "--snapshot",
                "alpha.0",
                "--snapshot-root",
                str(volume.snapshot_root),
                "--source-topic",
                source_topic,
                "--sink-name",
                sink,
                "--yes",
                "--summary-json",
                str(summary),
            )
    assert result.returncode == 0, result.stdout + result.stderr
    all_lines = dec_lines + jan_lines
    expected = [
        line
        for line in all_lines
        if "2021-01-19T15:57" <= json.loads(line)["utcTime"] < "2021-01-20T01:00"
    ]
    # The start day is kept (the original dropped all of 2021-01-19).
    assert expected[0].startswith('{"id":"jan-19-15-57"')
    got = values(consume_all(kafka_broker.bootstrap, target_topic, len(expected)))
    assert got == expected
    data = json.loads(summary.read_text())
    assert (data["read"], data["matched"], data["delivered"], data["failed"]) == (
        len(all_lines),
        len(expected),
        len(expected),
        0,
    )
    assert [Path(f["path"]).name for f in data["files"]] == [gz.name, new_file.name]
    assert data["files"][0]["compressed"] is True


def test_files_named_and_shaped_as_the_original_chart_wrote_them(
    kafka_broker, unique_topic: str, tmp_path: Path
) -> None:
    """The original's names (`{topic}-{sinkName}-YYYY-MM.sink`, stale ones renamed to
    `...sink-{epoch}` and gzipped by the gzip tool), StringConverter values one per line, and
    its positional usage with a quoted glob."""
    snapshot = tmp_path / "filesink" / "snapshot"
    snapshot.mkdir(parents=True)
    december = [
        '{"utcTime":"2020-12-31T23:59:00.000Z","topic":"connect1","value":"a b"}',
        '{"utcTime":"2020-12-31T23:59:30.000Z","topic":"connect1","value":"c"}',
    ]
    january = [
        '{"utcTime":"2021-01-19T15:56:00.000Z","value":"dropped: before the time"}',
        '{"utcTime":"2021-01-19T15:57:00.000Z","value":"kept: at the time"}',
        '{"utcTime":"2021-01-19T16:30:00.000Z","value":"kept: same day, later"}',
        '{"value":"no time: skipped"}',
        '{"utcTime":"2021-01-25T08:00:00.000Z","nested":{"a":[1,2,{"b":"ü"}]}}',
    ]
    stale = snapshot / "connect1-sink29-2020-12.sink-1609459200"
    stale.write_text("".join(f"{line}\n" for line in december))
    subprocess.run(["gzip", str(stale)], check=True)  # the original: rename, then gzip
    (snapshot / "connect1-sink29-2021-01.sink").write_text("".join(f"{x}\n" for x in january))
    (snapshot / "connect1-sink29-2021-02.sink").write_text(
        '{"utcTime":"2021-02-01T00:00:00.000Z"}\n'
    )

    result = restore(
        unique_topic,
        kafka_broker.bootstrap,
        f"{snapshot}/connect1-sink29-202*",
        "2021-01-19T15:57",
        "--yes",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [january[1], january[2], january[4], '{"utcTime":"2021-02-01T00:00:00.000Z"}']
    got = consume_all(kafka_broker.bootstrap, unique_topic, len(expected))
    assert values(got) == expected
    assert all(key is None for key, _ in got)
    assert "read 8, matched 4, skipped 4 (before_from 3, missing_timestamp 1)" in result.stdout
    assert "delivered 4, failed 0" in result.stdout
