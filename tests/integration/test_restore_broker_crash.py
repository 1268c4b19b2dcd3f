"""restore.py when its broker is SIGKILLed mid-replay and stays down past the delivery timeout:
the reported count is the topic's, from its end offsets (records reported failed but written
count as delivered), the outage is one line each way instead of librdkafka's flood, and with the
broker gone for good the summary says its count is only the acknowledged lower bound."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.restore.pipeline import COUNT_WAIT
from kafka_helpers import end_offsets, wait_for_first_record, write_sink
from kafka_stack import Broker, start_broker
from storage_helpers import RESTORE_SCRIPT

pytestmark = pytest.mark.integration

RECORDS = 1_000_000
DELIVERY_TIMEOUT = 4  # seconds: the broker stays down longer than this


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own, to kill and restart."""
    own = start_broker(tmp_path / "broker")
    yield own
    own.stop()


def start_restore(broker: Broker, topic: str, source: Path, summary: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, str(RESTORE_SCRIPT), topic, broker.bootstrap, str(source),
            "2021-01-19T15:00", "--yes", "--summary-json", str(summary),
            "--delivery-timeout", f"{DELIVERY_TIMEOUT}s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def kill_once_records_arrive(broker: Broker, topic: str) -> None:
    admin = broker.admin()
    wait_for_first_record(admin, topic)
    assert broker.process is not None
    broker.process.kill()  # SIGKILL: no shutdown, in-flight requests are lost or half done
    broker.process.wait()


def test_a_broker_killed_mid_replay_gives_the_topics_true_count(broker, tmp_path) -> None:
    topic = broker.create_topic(f"crash-{uuid.uuid4().hex[:8]}", 1)
    source = write_sink(tmp_path / "events-bk-2021-01.sink", RECORDS)
    summary_path = tmp_path / "summary.json"
    proc = start_restore(broker, topic, source, summary_path)
    kill_once_records_arrive(broker, topic)
    time.sleep(DELIVERY_TIMEOUT * 2)  # down past the delivery timeout: records expire
    broker.start()
    out, err = proc.communicate(timeout=300)

    assert proc.returncode == 1, out + err
    summary = json.loads(summary_path.read_text())
    written = end_offsets(broker.admin(), topic, 1)[0]
    assert 0 < written < RECORDS
    assert summary["delivered"] == written  # the topic's count, not the delivery reports'
    assert summary["failed"] == RECORDS - written
    assert summary["delivered_from"] == "end offsets"
    assert summary["kafka_outages"] == 1
    assert f"delivered {written}, failed {RECORDS - written}" in out
    # One line when Kafka went away, one when it came back; none of librdkafka's own.
    assert err.count("restore.py: Kafka unreachable (") == 1, err
    assert err.count("restore.py: Kafka reachable again after") == 1, err
    assert "Connect to ipv4" not in err, err
    assert "rdkafka" not in err, err
    assert len(err.splitlines()) <= 3, err


def test_a_broker_that_stays_down_leaves_an_acknowledged_lower_bound(broker, tmp_path) -> None:
    topic = broker.create_topic(f"gone-{uuid.uuid4().hex[:8]}", 1)
    source = write_sink(tmp_path / "events-bk-2021-01.sink", RECORDS)
    summary_path = tmp_path / "summary.json"
    proc = start_restore(broker, topic, source, summary_path)
    kill_once_records_arrive(broker, topic)
    out, err = proc.communicate(timeout=300)

    assert proc.returncode == 1, out + err
    summary = json.loads(summary_path.read_text())
    assert summary["delivered_from"] == "acknowledgements"
    assert summary["unverified"] == (
        f"Kafka at {broker.bootstrap} did not give the topic's end offsets (or gave ones below "
        f"what it acknowledged) for {COUNT_WAIT:.0f}s after the send"
    )
    assert f"delivered at least {summary['delivered']} (acknowledged), failed at most" in out
    assert err.count("restore.py: Kafka unreachable (") == 1, err
    assert "Connect to ipv4" not in err, err
    assert "rdkafka" not in err, err
    broker.start()
    written = end_offsets(broker.admin(), topic, 1)[0]
    # Acknowledged means written: the bound holds, and the rest is accounted for.
    assert summary["delivered"] <= written < RECORDS
    assert summary["delivered"] + summary["failed"] == RECORDS
