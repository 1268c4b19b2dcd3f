"""The outage reporter's rules, fed librdkafka's real error and statistics shapes: one line
when Kafka goes away, one when it is back with the count of errors not repeated, every other
error once; and the record-size rules the send is configured by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from kafka_connect_backup.kafka.producer import size_settings
from kafka_connect_backup.restore.outage import OutageReporter
from kafka_connect_backup.restore.pipeline import oversized
from kafka_connect_backup.restore.plan import FilePlan, Plan
from kafka_connect_backup.restore.sources import SourceFile

pytestmark = pytest.mark.unit

REFUSED = "127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"


def stats(state: str, nodeid: int = 1) -> str:
    return json.dumps(
        {
            "brokers": {
                "127.0.0.1:9092/bootstrap": {"state": "INIT", "nodeid": -1},
                f"127.0.0.1:9092/{nodeid}": {"state": state, "nodeid": nodeid},
            }
        }
    )


def test_an_outage_is_one_line_each_way() -> None:
    lines: list[str] = []
    reporter = OutageReporter(lines.append, delivery_timeout=120)
    reporter.on_stats(stats("UP"))  # no outage: nothing to say
    for _ in range(50):
        reporter.on_error(KafkaError(KafkaError._TRANSPORT, REFUSED))
        reporter.on_log("FAIL", REFUSED)
    reporter.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    reporter.on_stats(stats("CONNECT"))
    assert lines == [
        (
            f"restore.py: Kafka unreachable ({REFUSED}); retrying: a record not delivered "
            "within the delivery timeout (120s) is counted as failed"
        )
    ]
    reporter.on_stats(stats("UP"))
    assert lines[1].startswith("restore.py: Kafka reachable again after ")
    assert lines[1].endswith("s; 50 repeated connection errors not shown")
    reporter.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert lines[2].startswith("restore.py: Kafka unreachable (no broker answers)")
    assert reporter.outages == 2


def test_other_errors_and_log_lines_are_shown_once_each() -> None:
    lines: list[str] = []
    reporter = OutageReporter(lines.append, delivery_timeout=5)
    for _ in range(3):
        reporter.on_error(KafkaError(KafkaError._FATAL, "idempotence: fatal"))
        reporter.on_log("PRODUCE", "[thrd:x]: something odd")
    assert lines == [
        "restore.py: Kafka error: idempotence: fatal",
        "restore.py: librdkafka: [thrd:x]: something odd",
    ]
    reporter.recovered()  # not down: nothing to say
    assert len(lines) == 2 and reporter.outages == 0


def test_librdkafkas_log_records_reach_the_reporter() -> None:
    lines: list[str] = []
    reporter = OutageReporter(lines.append, delivery_timeout=5)
    # confluent-kafka logs "FAC [client] [thread]: text" through the configured logger.
    reporter.logger.error("%s %s", "FAIL", f"[rdkafka#producer-1] {REFUSED}")
    reporter.logger.warning("%s %s", "CONFWARN", "[rdkafka#producer-1] property ignored")
    assert lines == ["restore.py: librdkafka: [rdkafka#producer-1] property ignored"]
    assert reporter.producer_config()["logger"] is reporter.logger


@pytest.mark.parametrize(
    ("max_message_bytes", "batch", "largest_request"),
    [
        (1_048_588, 1_000_000, 1_049_612),  # Kafka's default: full batches
        (2000, 1900, 1_000_000),  # a small topic: batches it accepts
        (10_000_000, 1_000_000, 10_001_024),  # large records: requests that hold them
        (50, 1, 1_000_000),
    ],
)
def test_batches_and_requests_fit_the_topic(
    max_message_bytes: int, batch: int, largest_request: int
) -> None:
    expected = {"batch.size": batch, "message.max.bytes": largest_request}
    assert size_settings(max_message_bytes) == expected


def test_the_largest_record_over_the_limit_is_named(tmp_path: Path) -> None:
    def planned(name: str, largest: int, line: int) -> FilePlan:
        path = tmp_path / name
        return FilePlan(SourceFile(path, 0, False, None), largest=largest, largest_line=line)

    plan = Plan([planned("a.sink", 1900, 4), planned("b.sink", 5000, 7), planned("c.sink", 30, 2)])
    assert oversized(plan, 2000, "t") == (
        f"{tmp_path / 'b.sink'} line 7 is a record of 4.9 KiB (5000 bytes), more than topic t "
        "takes: its max.message.bytes is 2000, less 100 bytes of framing"
        "; raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type "
        "topics --entity-name t --add-config max.message.bytes=N), or leave those records out "
        "with --from / --to"
    )
    assert oversized(plan, 5100, "t") is None
    # 1901 bytes is one over 2000 less the framing: both files are counted, b.sink named.
    plan.files[0].largest = 1901
    reason = str(oversized(plan, 2000, "t"))
    assert "bytes of framing (2 files hold records over it); raise" in reason
