"""Foundation smoke test: the real broker and Connect worker sink a topic to the original's
file name, and a graceful stop commits the sink's offsets."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from kafka_connect_backup.config import SinkRotation
from kafka_connect_backup.layout.sinkfiles import (
    connector_name,
    consumer_group,
    period_of,
    sink_file,
)
from kafka_helpers import produce_json, put_connector, stop_connector, wait_for_lines

pytestmark = pytest.mark.integration


def test_filestream_sink_writes_every_record_in_order_and_commits_on_stop(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink_name = "smoke-sink"
    records = [
        {"id": i, "utcTime": f"2021-01-19T15:{i % 60:02d}:00Z", "payload": f"record-{i}"}
        for i in range(1000)
    ]
    lines = produce_json(kafka_broker.bootstrap, unique_topic, records)
    assert len(set(lines)) == 1000

    name = connector_name(unique_topic, sink_name)
    period = period_of(datetime.now(UTC), SinkRotation.MONTHLY)
    target = sink_file(tmp_path, unique_topic, sink_name, period)
    assert target.name == f"{unique_topic}-smoke-sink-{period}.sink"
    put_connector(
        connect_worker.url,
        name,
        {
            "connector.class": "FileStreamSink",
            "tasks.max": "1",
            "topics": unique_topic,
            "file": str(target),
        },
    )
    assert wait_for_lines(target, 1000) == lines

    # In standalone mode the tasks are stopped (flushed, committed) before the reply.
    stop_connector(connect_worker.url, name)

    group = consumer_group(unique_topic, sink_name)
    assert group == f"connect-{name}"
    admin = kafka_broker.admin()
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(unique_topic, 0)])]
    )
    committed = futures[group].result(30).topic_partitions
    assert [(tp.topic, tp.partition, tp.offset) for tp in committed] == [(unique_topic, 0, 1000)]
    assert target.read_text().splitlines() == lines
