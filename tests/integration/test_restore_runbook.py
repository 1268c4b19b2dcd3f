"""The whole restore runbook in one command against the real broker and Connect worker, and
its re-run after a failure injected at different steps: the end state is always exactly the
restored records, the topic's shape, a reset consumer group and a running connector that
rewrote the sink file from the restored topic."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kafka_connect_backup.layout.sinkfiles import consumer_group
from kafka_connect_backup.restore.cli import build_parser
from kafka_connect_backup.restore.runbook.driver import run_runbook
from kafka_connect_backup.restore.runbook.steps import RunbookError
from kafka_connect_backup.restore.validate import settings_from_args
from kafka_helpers import consume_all, produce_json, start_file_sink, wait_for_lines
from kafka_stack import connector_states, wait_running
from storage_helpers import run_restore
from waiting import eventually

pytestmark = pytest.mark.integration

FROM = "2021-01-19T16:00"


def restore_failing_at(args: list[str], point: str) -> subprocess.CompletedProcess[str]:
    """The runbook run in this process with a fault that fails it at the named point."""

    def fault(at: str) -> None:
        if at == point:
            raise RunbookError(f"injected failure at {point}")

    out, err = io.StringIO(), io.StringIO()
    settings = settings_from_args(build_parser().parse_args(args), need_sources=False)
    code = run_runbook(settings, out, err, io.StringIO(), fault=fault)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def committed(admin: object, group: str) -> int:
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin.list_consumer_group_offsets(request)[group].result(30)  # type: ignore[attr-defined]
    return sum(max(tp.offset, 0) for tp in result.topic_partitions)


@pytest.mark.parametrize("fail_at", ["after-delete", "after-replay-send", "before-reset-offsets"])
def test_runbook_rerun_after_a_failure_finishes_exactly(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path, fail_at: str
) -> None:
    sink, topic, sink_path, name, live = start_file_sink(
        connect_worker.url, create_topic, tmp_path, "rb", "runbook", 2
    )
    records = [
        {
            "user": f"u{i % 7}",
            "seq": i,
            "utcTime": f"2021-01-19T{15 + i // 60:02d}:{i % 60:02d}:00Z",
        }
        for i in range(150)
    ]
    # A topic-level override that the re-creation must carry over.
    retention = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "987654321", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin = kafka_broker.admin()  # keep a reference: a collected client cancels its futures
    admin.incremental_alter_configs([retention])[retention].result(30)
    try:
        lines = produce_json(kafka_broker.bootstrap, topic, records)
        assert sorted(wait_for_lines(live, len(lines))) == sorted(lines)
        expected = [line for line in lines if json.loads(line)["utcTime"] >= "2021-01-19T16:00"]
        assert len(expected) == 90

        args = [
            topic,
            kafka_broker.bootstrap,
            "--from",
            FROM,
            "--runbook",
            "--yes",
            "--force",  # it deletes the topic's 150 records: --yes alone is not enough
            "--key-field",
            "user",
            "--sink-name",
            sink,
            "--sink-path",
            str(sink_path),
            "--connect-url",
            connect_worker.url,
            "--state-dir",
            str(tmp_path / "state"),
        ]
        first = restore_failing_at(args, fail_at)
        assert first.returncode == 1, first.stdout + first.stderr
        assert f"FAILED: injected failure at {fail_at}" in first.stdout
        journal = tmp_path / "state" / f"restore-{topic}.json"
        assert journal.exists()
        assert not live.exists()  # moved aside before the topic was touched
        assert f"NOTE: the sink files of {topic} as they were before this restore" in first.stdout

        second = run_restore(*args)
        assert second.returncode == 0, second.stdout + second.stderr
        out = second.stdout
        assert "[1/6] stop the connectors of" in out and "(again: make sure" in out
        assert "[2/6] move the current sink files" in out and "done in a previous run" in out
        if fail_at == "after-replay-send":
            assert "(again: a previous replay was cut short" in out
        assert f"restore of {topic} complete" in out
        # The moved files are outside the backup: the runbook says where they are, at the end.
        aside = json.loads(next((tmp_path / "state").glob(f"restore-{topic}*.json*")).read_text())
        note = (
            f"NOTE: the sink files of {topic} as they were before this restore are in "
            f"{aside['snapshot_dir']}/ on the data volume, OUTSIDE the encrypted backup"
        )
        assert out.splitlines()[-1].startswith(note), out
        assert "no backup is configured here" in out.splitlines()[-1]
        assert not journal.exists()
        assert len(list((tmp_path / "state").glob(f"restore-{topic}.*.done.json"))) == 1

        # The topic: same shape, exactly the restored records, per-key order kept.
        described = kafka_broker.admin().list_topics(topic=topic, timeout=10).topics[topic]
        assert len(described.partitions) == 2
        resource = ConfigResource(ResourceType.TOPIC, topic)
        configs = admin.describe_configs([resource])[resource].result(30)
        assert configs["retention.ms"].value == "987654321"
        got = consume_all(kafka_broker.bootstrap, topic, len(expected))
        values = [v.decode() for _, v in got if v is not None]
        assert sorted(values) == sorted(expected) and len(values) == len(expected)
        # Per key, the restored order is the order of the replayed file.
        snapshots = list(sink_path.glob(f"snapshot-{topic}-*/{live.name}"))
        assert len(snapshots) == 1
        file_order = snapshots[0].read_text().splitlines()
        for user in {json.loads(line)["user"] for line in expected}:
            mine = [v for v in values if json.loads(v)["user"] == user]
            assert mine == [v for v in file_order if v in expected and f'"user":"{user}"' in v]
            assert {k for k, v in got if v is not None and json.loads(v)["user"] == user} == {
                user.encode()
            }

        # The moved file kept the original data; Connect rewrote the live file from the topic.
        assert sorted(file_order) == sorted(lines)
        wait_running(connect_worker.url, [name])
        assert sorted(wait_for_lines(live, len(expected))) == sorted(expected)
        group = consumer_group(topic, sink)
        eventually(
            lambda: committed(kafka_broker.admin(), group),
            f"the sink's commit of the {len(expected)} restored records",
            timeout=30,
            until=lambda offset: offset >= len(expected),
            interval=0.5,
        )
        assert committed(kafka_broker.admin(), group) == len(expected)

        # The same command once more, after it completed: a no-op (before, it set the
        # rewritten live file aside and replayed it again).
        third = run_restore(*args)
        assert third.returncode == 0, third.stdout + third.stderr
        assert f"this restore of {topic} already completed" in third.stdout
        assert "nothing to do" in third.stdout and "[1/6]" not in third.stdout
        assert len(list(sink_path.glob(f"snapshot-{topic}-*"))) == 1
        assert sorted(wait_for_lines(live, len(expected))) == sorted(expected)
        assert len(consume_all(kafka_broker.bootstrap, topic, len(expected) + 1, timeout=5)) == len(
            expected
        )
        assert committed(kafka_broker.admin(), group) == len(expected)
        wait_running(connect_worker.url, [name])
    finally:
        requests.delete(f"{connect_worker.url}/connectors/{name}", timeout=30)


def test_runbook_dry_run_and_single_steps(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    sink, topic, sink_path, name, live = start_file_sink(
        connect_worker.url, create_topic, tmp_path, "rs", "steps", 1
    )
    try:
        lines = produce_json(
            kafka_broker.bootstrap,
            topic,
            [{"n": i, "utcTime": f"2021-01-19T16:{i:02d}:00Z"} for i in range(30)],
        )
        assert wait_for_lines(live, 30) == lines
        common = [
            topic,
            kafka_broker.bootstrap,
            "--from",
            "2021-01-19T16:10",
            "--sink-name",
            sink,
            "--sink-path",
            str(sink_path),
            "--connect-url",
            connect_worker.url,
            "--yes",
        ]
        dry = run_restore(*common, "--runbook", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "records: 30 read, 20 to send, 10 skipped (before_from 10)" in dry.stdout
        assert "  3. delete and recreate topic" in dry.stdout
        assert "dry run: no step was run" in dry.stdout
        assert live.exists() and connector_states(connect_worker.url, [name])[name][0] == "RUNNING"

        # Without its connectors stopped, moving the files is refused.
        early = run_restore(*common, "--step", "move-files")
        assert early.returncode == 1
        assert f"connector {name} is RUNNING: it would keep writing the sink file" in early.stdout
        assert live.exists()

        stop = run_restore(*common, "--step", "stop-connectors")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert "[1/1] stop the connectors of" in stop.stdout
        assert f"{name}: stopped" in stop.stdout
        assert connector_states(connect_worker.url, [name])[name] == ("STOPPED", [])
        moved = run_restore(*common, "--step", "move-files")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert not live.exists()

        # Replay alone into the existing topic would duplicate its 30 records: refused.
        refused = run_restore(*common, "--step", "replay")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"topic {topic} already holds 30 records (1 partition)" in refused.stderr
        # With --append it reads the moved files from the journal and adds them.
        replayed = run_restore(*common, "--step", "replay", "--append")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "delivered 20, failed 0" in replayed.stdout
        assert len(consume_all(kafka_broker.bootstrap, topic, 50)) == 50  # 30 + 20 replayed

        resumed = run_restore(*common, "--step", "resume-connectors")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        wait_running(connect_worker.url, [name])
    finally:
        requests.delete(f"{connect_worker.url}/connectors/{name}", timeout=30)


def test_runbook_refuses_when_connect_is_unreachable(kafka_broker, unique_topic, tmp_path):
    result = run_restore(
        unique_topic,
        kafka_broker.bootstrap,
        "--from",
        FROM,
        "--runbook",
        "--yes",
        "--connect-url",
        "http://127.0.0.1:9",
        "--sink-path",
        str(tmp_path),
    )
    assert result.returncode == 3
    assert result.stderr.startswith(
        "restore.py: error: Kafka Connect at http://127.0.0.1:9 is unreachable"
    )
    assert result.stderr.endswith("; nothing was changed\n")
    assert unique_topic in kafka_broker.admin().list_topics(timeout=10).topics
