"""Restores that cannot silently duplicate or lose, against the real broker and Connect: a target
that holds records is refused without --append; the runbook's plan shows the topic's size and
every other consumer group's fate and will not run on --yes alone when it destroys; a stopped
connector stays stopped across separate --step commands and supervisor restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition

from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.hold import held
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata, write_metadata
from kafka_connect_backup.layout.sinkfiles import consumer_group, period_of
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_helpers import (
    consume_all,
    end_offsets,
    produce_json,
    producers_throttled,
    start_file_sink,
    wait_for_first_record,
    wait_for_lines,
    write_sink,
)
from kafka_stack import connector_states
from storage_helpers import RESTORE_SCRIPT, run_restore
from supervisor_helpers import LogCapture, delete_connectors, held_now, make_config
from waiting import eventually

pytestmark = pytest.mark.integration


def committed(admin: object, group: str, topic: str) -> dict[int, int]:
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin.list_consumer_group_offsets(request)[group].result(30)  # type: ignore[attr-defined]
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == topic}


def commit(admin: object, group: str, topic: str, offsets: dict[int, int]) -> None:
    partitions = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    admin.alter_consumer_group_offsets(request)[group].result(30)  # type: ignore[attr-defined]


def records(count: int, start_minute: int = 0) -> list[dict[str, object]]:
    """One record a second from 2021-01-19T15:00 + start_minute."""
    return [
        {
            "user": f"u{i % 5}",
            "seq": i,
            "utcTime": (datetime(2021, 1, 19, 15, tzinfo=UTC).timestamp() + start_minute * 60 + i),
        }
        for i in range(count)
    ]


def test_a_target_holding_records_is_refused_unless_append(
    kafka_broker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = create_topic(f"events-restored-{uuid.uuid4().hex[:8]}", 1)
    source = write_sink(tmp_path / "events-bk-2021-01.sink", 1200)
    admin = kafka_broker.admin()
    args = [topic, kafka_broker.bootstrap, str(source), "2021-01-19T15:00", "--yes"]

    first = run_restore(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "delivered 1200, failed 0" in first.stdout
    assert end_offsets(admin, topic, 1) == [1200]

    again = run_restore(*args)
    assert again.returncode == 2, again.stdout + again.stderr
    assert again.stderr.strip() == (
        f"restore.py: error: topic {topic} already holds 1200 records (1 partition): replaying "
        "into it would add the restored records beside them, duplicating any it already has; "
        "give --append to add them anyway, or use --runbook to recreate the topic from the "
        "backup first, or restore into a new topic; nothing was sent"
    )
    assert end_offsets(admin, topic, 1) == [1200]
    # The plan names --append only when it was given.
    dry = run_restore(*args, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "the restore appends 1200 records to them\n" in dry.stdout
    assert "a real run refuses this: the topic holds records (see --append)" in dry.stdout

    appended = run_restore(*args, "--append")
    assert appended.returncode == 0, appended.stdout + appended.stderr
    assert "the restore appends 1200 records to them (--append)" in appended.stdout
    assert end_offsets(admin, topic, 1) == [2400]


def test_a_replay_step_of_one_restore_is_never_sent_twice(
    kafka_broker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    """--step replay run again: skipped when it is the same restore, refused when its
    arguments differ (before: the records were sent again, [7,8,9,5,6,7,8,9])."""
    topic = create_topic(f"steps-{uuid.uuid4().hex[:8]}", 1)
    source = write_sink(tmp_path / "steps-bk-2021-01.sink", 10)  # seq 0..9, one a second
    admin = kafka_broker.admin()
    common = [topic, kafka_broker.bootstrap, str(source), "--sink-path", str(tmp_path),
              "--state-dir", str(tmp_path / "state"), "--yes", "--force"]  # fmt: skip
    late = "2021-01-19T15:00:07"
    created = run_restore(*common, "--from", late, "--partitions", "1", "--step", "recreate-topic")
    assert created.returncode == 0, created.stdout + created.stderr
    first = run_restore(*common, "--from", late, "--partitions", "1", "--step", "replay")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "delivered 3, failed 0" in first.stdout
    assert end_offsets(admin, topic, 1) == [3]

    again = run_restore(*common, "--from", late, "--partitions", "1", "--step", "replay")
    assert again.returncode == 0, again.stdout + again.stderr
    journal = tmp_path / "state" / f"restore-{topic}.json"
    assert (
        f"[1/1] replay the selected records into {topic}: done in a previous run of this "
        f"restore (journal {journal}), skipped"
    ) in again.stdout
    assert "delivered" not in again.stdout and "(--append)" not in again.stdout
    assert end_offsets(admin, topic, 1) == [3]

    other = run_restore(*common, "--from", "2021-01-19T15:00:05", "--partitions", "1",
                    "--step", "replay")  # fmt: skip
    assert other.returncode == 2, other.stdout + other.stderr
    assert f"restore.py: error: step replay of the restore of {topic} was done with other " in (
        other.stderr
    )
    assert "remove the journal to start a new restore; nothing was changed" in other.stderr
    assert end_offsets(admin, topic, 1) == [3]
    values = [json.loads(v or b"")["seq"] for _, v in consume_all(kafka_broker.bootstrap, topic, 3)]
    assert values == [7, 8, 9]


def _member(bootstrap: str, topic: str, group: str, client_id: str) -> Consumer:
    """A running consumer of `group` on `topic`, once it holds its assignment."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "client.id": client_id, "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])

    def assignment() -> list[TopicPartition]:
        consumer.poll(0.2)
        return list(consumer.assignment())

    eventually(assignment, f"an assignment for {client_id}", timeout=60, interval=0)
    return consumer


def test_groups_with_running_consumers_are_refused_before_anything_changes(
    kafka_broker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    """--restore-groups and --reset-group into groups that are still consuming: before, the
    restore reported the restored offsets, exit 0, while the consumer read everything again."""
    topic = create_topic(f"busy-{uuid.uuid4().hex[:8]}", 1)
    sink = "bk"
    stem = f"{topic}-{sink}"
    envelope = tmp_path / f"{stem}-2026-03.envelope.sink"
    envelope.write_text("".join(
        json.dumps({"timestamp": 1772323200000 + i, "timestampType": "CreateTime",
                    "partition": 0, "offset": i, "key": None, "value": json.dumps({"seq": i}),
                    "headers": []}) + "\n"
        for i in range(20)
    ))  # fmt: skip
    write_metadata(tmp_path, sink, TopicMetadata(
        topic, datetime(2026, 3, 2, tzinfo=UTC), 1, 1, {}, {"billing": {0: 12}}
    ))  # fmt: skip
    produce_json(kafka_broker.bootstrap, topic, records(20))
    admin = kafka_broker.admin()
    for group, offset in (("billing", 12), ("audit", 5)):
        # A consumer's commit waits for a fresh broker's group coordinator to load.
        committer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": group})
        committer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
        committer.close()
        assert committed(admin, group, topic) == {0: offset}
    args = [topic, kafka_broker.bootstrap, str(envelope), "--from", "1970-01-01",
            "--sink-name", sink, "--sink-path", str(tmp_path), "--state-dir",
            str(tmp_path / "state"), "--step", "recreate-topic", "--step", "replay",
            "--step", "reset-offsets", "--restore-groups", "--reset-group", "audit",
            "--yes", "--force"]  # fmt: skip
    billing = _member(kafka_broker.bootstrap, topic, "billing", "billing-app-1")
    audit = _member(kafka_broker.bootstrap, topic, "audit", "audit-app")
    try:
        dry = run_restore(*args, "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "a real run refuses this: consumer group audit has 1 active member (client " in (
            dry.stdout
        )
        refused = run_restore(*args)
    finally:
        audit.close()
    try:
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr == (
            "restore.py: error: consumer group audit has 1 active member (client ids: "
            "audit-app); consumer group billing has 1 active member (client ids: billing-app-1): "
            "its offsets can only be reset or restored while it is inactive (its consumers would "
            "commit over the change, or read the restored records again); stop its consumers "
            "first, then re-run the command; nothing was changed\n"
        )
        assert "[1/3]" not in refused.stdout
        assert end_offsets(admin, topic, 1) == [20]  # not deleted, nothing replayed
        assert committed(admin, "billing", topic) == {0: 12}
        assert committed(admin, "audit", topic) == {0: 5}
    finally:
        billing.close()
    done = run_restore(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "group billing: saved offsets 0:12 -> restored offsets 0:12" in done.stdout
    assert committed(admin, "billing", topic) == {0: 12}
    assert committed(admin, "audit", topic) == {0: 0}


def test_replaying_a_topics_own_live_sink_files_into_it_is_refused(
    kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    """The first command a user tries (the original's example): the topic's live sink files
    back into the live topic. Every record would be there twice."""
    sink, topic, _, _, live = start_file_sink(
        connect_worker.url, create_topic, tmp_path, "live", "orders", 1
    )
    try:
        produce_json(kafka_broker.bootstrap, topic, records(300))
        assert len(wait_for_lines(live, 300)) == 300
        result = run_restore(topic, kafka_broker.bootstrap, str(live), "2021-01-19T15:00", "--yes")
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"topic {topic} already holds 300 records (1 partition)" in result.stderr
        assert end_offsets(kafka_broker.admin(), topic, 1) == [300]
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")


@pytest.fixture
def orders(kafka_broker, connect_worker, create_topic: Callable[..., str], tmp_path: Path):
    """A 3-partition topic of 4800 records (1800 before 15:30), sunk by its connector, with
    two other consumer groups: billing part way (3002), analytics at the end."""
    sink, topic, sink_path, name, live = start_file_sink(
        connect_worker.url, create_topic, tmp_path, "rb", "orders", 3
    )
    admin = kafka_broker.admin()
    try:
        for i, chunk in enumerate(records(4800)[p::3] for p in range(3)):
            produce_json_to(kafka_broker.bootstrap, topic, chunk, partition=i)
        assert end_offsets(admin, topic, 3) == [1600, 1600, 1600]
        assert len(wait_for_lines(live, 4800)) == 4800
        sink_group = consumer_group(topic, sink)
        eventually(  # Connect commits the sink's offsets every 10 s
            lambda: committed(admin, sink_group, topic),
            f"{sink_group}'s commit of 4800 records",
            timeout=60,
            until=lambda offsets: sum(offsets.values()) >= 4800,
            interval=0.5,
        )
        commit(admin, "billing", topic, {0: 1001, 1: 1001, 2: 1000})
        commit(admin, "analytics", topic, {0: 1600, 1: 1600, 2: 1600})
        yield {
            "topic": topic,
            "sink": sink,
            "sink_path": sink_path,
            "name": name,
            "admin": admin,
            "url": connect_worker.url,
            "common": [
                topic,
                kafka_broker.bootstrap,
                "--from",
                "2021-01-19T15:30",
                "--sink-name",
                sink,
                "--sink-path",
                str(sink_path),
                "--connect-url",
                connect_worker.url,
                "--state-dir",
                str(tmp_path / "state"),
            ],
        }
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")


def produce_json_to(
    bootstrap: str, topic: str, rows: list[dict[str, object]], partition: int
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for row in rows:
        producer.produce(topic, json.dumps(row).encode(), partition=partition)
        producer.poll(0)
    assert producer.flush(60) == 0


def test_runbook_plan_shows_the_topic_and_every_other_group_and_needs_force(orders) -> None:
    topic, admin, common = orders["topic"], orders["admin"], orders["common"]
    sink_group = consumer_group(topic, orders["sink"])

    dry = run_restore(*common, "--runbook", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    out = dry.stdout
    assert (
        f"  topic {topic} now: 3 partitions, 4800 records (offsets 0:0..1600, 1:0..1600, 2:0..1600)"
    ) in out
    assert (
        f"  the runbook deletes topic {topic} with its 4800 records, recreates it and replays "
        "3000 records"
    ) in out
    assert "  not replayed: 1800 before the from time, 0 at or after --to; their only copy" in out
    assert "  billing (committed 3002): LOSES ITS POSITION" in out
    assert "  analytics (committed 4800): LOSES ITS POSITION" in out
    assert f"  {sink_group} (committed 4800): reset to the start of the restored topic" in out
    assert f"warning: {topic} has 3 partitions and no --key-field is given" in out
    assert "dry run: no step was run" in out

    refused = run_restore(*common, "--runbook", "--yes")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert (
        f"refusing to continue: this deletes topic {topic} with its 4800 records and 2 "
        "consumer groups lose their position (analytics, billing); --yes alone does not "
        "confirm that: re-run with --yes --force"
    ) in refused.stderr
    assert end_offsets(admin, topic, 3) == [1600, 1600, 1600]
    assert committed(admin, "billing", topic) == {0: 1001, 1: 1001, 2: 1000}
    assert connector_states_of(orders) == ("RUNNING", ["RUNNING"])

    done = run_restore(
        *common, "--runbook", "--yes", "--force", "--reset-group", "billing",
        "--key-field", "user", "--summary-json", "-",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)  # stdout is the JSON alone; the report went to stderr
    assert f"restore of {topic} complete" in done.stderr
    assert summary["delivered"] == 3000
    target = summary["target"]
    assert (target["records_now"], target["end_offsets"], target["recreate"]) == (
        4800,
        [1600, 1600, 1600],
        True,
    )
    assert target["records_dropped"] == 1800
    assert target["not_replayed"] == {"before_from": 1800, "at_or_after_to": 0}
    fates = {
        g["group"]: (sum(g["committed"].values()), g["loses_position"]) for g in target["groups"]
    }
    assert fates == {"analytics": (4800, True), "billing": (3002, False), sink_group: (4800, False)}

    assert sum(end_offsets(admin, topic, 3)) == 3000
    assert committed(admin, "billing", topic) == {0: 0, 1: 0, 2: 0}  # the start, as asked
    # Lost, as said: no committed offset is left on the topic (an all(o < 0) over them, as
    # this read before, held for no offsets at all).
    assert committed(admin, "analytics", topic) == {}


def connector_states_of(orders: dict[str, object]) -> tuple[str, list[str]]:
    url, name = str(orders["url"]), str(orders["name"])
    return connector_states(url, [name])[name]


def test_a_stopped_connector_stays_stopped_across_commands_and_supervisors(
    orders, connect_worker, tmp_path: Path
) -> None:
    topic, name, sink_path = orders["topic"], orders["name"], orders["sink_path"]
    config = make_config(
        topics=[topic],
        sink=orders["sink"],
        sink_path=sink_path,
        connect_url=connect_worker.url,
        connect={"holdWarnAfter": "1s"},
    )
    stop = run_restore(*orders["common"], "--step", "stop-connectors", "--yes")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert connector_states(connect_worker.url, [name])[name] == ("STOPPED", [])
    assert held(sink_path, name)

    # The supervisor's reconciler (and a restarted one) leaves it stopped, and says so.
    logs = LogCapture()
    client = ConnectClient(connect_worker.url)
    clock = held_now()
    period = period_of(clock(), config.sink_rotation)
    patient = make_config(
        topics=[topic], sink=orders["sink"], sink_path=sink_path, connect_url=connect_worker.url
    )
    assert Reconciler(patient, client).reconcile(period).held == [name]
    time.sleep(1.5)
    # A restarted supervisor, holdWarnAfter 1s.
    supervisor = Supervisor(config, http=False, clock=clock)
    supervisor._reconcile()  # one tick of the daemon loop
    supervisor.reconcile_client.close()
    supervisor.cycle_client.close()
    assert connector_states(connect_worker.url, [name])[name] == ("STOPPED", [])
    assert [e["connector"] for e in logs.events("connector.held")] == [name, name]
    old = logs.events("connector.hold_old")
    assert [e["connector"] for e in old] == [name] and old[0]["age_seconds"] >= 1
    metrics = supervisor.metrics.render().decode()
    assert "kcb_connectors_held 1.0" in metrics

    # The next documented step, a separate command, finds it still stopped.
    moved = run_restore(*orders["common"], "--step", "move-files", "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    resumed = run_restore(*orders["common"], "--step", "resume-connectors", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not held(sink_path, name)
    assert connector_states(connect_worker.url, [name])[name][0] == "RUNNING"
    client.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_send_ends_with_the_true_count_and_its_summary(
    kafka_broker, create_topic: Callable[..., str], tmp_path: Path, signum: int
) -> None:
    topic = create_topic(f"interrupted-{uuid.uuid4().hex[:8]}", 1)
    source = write_sink(tmp_path / "events-bk-2021-01.sink", 1_000_000)
    summary_path = tmp_path / "summary.json"
    admin = kafka_broker.admin()
    # 1M records of about 60 bytes at 2 MB/s take about 30 s to send: the signal lands in the
    # middle of the send however fast this machine is (unthrottled it is over in about a second).
    with producers_throttled(kafka_broker.bootstrap, 2_000_000):
        proc = subprocess.Popen(
            [
                sys.executable, str(RESTORE_SCRIPT), topic, kafka_broker.bootstrap, str(source),
                "2021-01-19T15:00", "--yes", "--summary-json", str(summary_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        wait_for_first_record(admin, topic)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    summary = json.loads(summary_path.read_text())
    written = end_offsets(admin, topic, 1)[0]
    assert summary["interrupted"] is True
    assert 0 < written < 1_000_000, written  # stopped part way
    assert summary["delivered"] == written  # the topic's count, not the callbacks'
    assert summary["failed"] == 1_000_000 - written
    assert f"INTERRUPTED: {topic} holds the {written} delivered records" in out
