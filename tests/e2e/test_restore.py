"""`kubectl exec ... restore.py` as on a bad day: the whole runbook from a time, run twice, and a
restore from an older snapshot into a new topic."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition

from e2e.release import Release
from e2e.scenario import BASE_TIME, PASSWORD, produce, wait_for_sink
from kafka_helpers import consume_all

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

TOPIC = "e2e-restore-orders"
SINK = "file-sink"


def _values_of(bootstrap: str, topic: str, expected: int) -> list[str]:
    return [(value or b"").decode() for _, value in consume_all(bootstrap, topic, expected)]


def _end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-offsets"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        consumer.close()


def test_runbook_from_a_time_then_again_then_an_older_snapshot_into_a_new_topic(
    release: Release,
) -> None:
    data = release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret("kafka-backup-password", PASSWORD)
    release.broker.create_topic(TOPIC)
    values = {
        "topicList": TOPIC,
        "sinkName": SINK,
        "backup": {
            "enabled": True,
            "retention": 3,
            "encryption": {"existingSecret": "kafka-backup-password"},
        },
        "targetPvcName": "kafka-backup-nfs",
    }
    release.install(values)
    release.wait_ready()
    bootstrap = release.broker.bootstrap
    sink_dir = data / "filesink"

    first = produce(release, TOPIC, "o", 100)  # utcTime BASE_TIME + 0..99 s
    assert wait_for_sink(sink_dir, TOPIC, SINK, 100) == first
    assert json.loads(release.exec("kcb", "backup-now", "--json").stdout)["ok"] is True
    later = produce(release, TOPIC, "p", 50, BASE_TIME + timedelta(seconds=100))
    assert wait_for_sink(sink_dir, TOPIC, SINK, 150) == first + later
    assert json.loads(release.exec("kcb", "backup-now", "--json").stdout)["ok"] is True

    # The whole runbook from BASE_TIME + 60 s: records at or after it, from both batches.
    since = (BASE_TIME + timedelta(seconds=60)).isoformat()
    command = ["restore.py", TOPIC, bootstrap, "--from", since, "--runbook", "--yes", "--force"]
    run = release.exec(*command)
    kept = first[60:] + later
    assert _values_of(bootstrap, TOPIC, len(kept)) == kept
    assert _end_offset(bootstrap, TOPIC) == len(kept)
    # Connect was reset to the start of the restored topic and rewrote its sink file from it.
    assert wait_for_sink(sink_dir, TOPIC, SINK, len(kept)) == kept
    set_aside = sorted(sink_dir.glob(f"snapshot-{TOPIC}-*"))
    assert len(set_aside) == 1 and "snapshot-" in run.stdout

    again = release.exec(*command)
    assert f"this restore of {TOPIC} already completed" in again.stdout, again.stdout
    assert _end_offset(bootstrap, TOPIC) == len(kept)  # a no-op: nothing sent twice
    assert sorted(sink_dir.glob(f"snapshot-{TOPIC}-*")) == set_aside

    # alpha.1 is the first backup (100 records); restore it into a new topic.
    copy = f"{TOPIC}-copy"
    release.exec(
        "restore.py", copy, bootstrap, "--snapshot", "alpha.1", "--source-topic", TOPIC,
        "--from", BASE_TIME.isoformat(), "--create-topic", "--yes",
    )  # fmt: skip
    assert _values_of(bootstrap, copy, 100) == first
    assert _end_offset(bootstrap, copy) == 100
