"""A Kafka broker stopped and restarted under a running supervisor, with a broker and a Connect
worker of the test's own. While the broker is away each connector's stop window must not wait
out the kept Admin client's timeout (it did: 10 s of Connect down per connector, reported OK);
the outage is reported once; after the restart the windows are normal and the offsets read
again. A connector stopped while the broker was away leaves its task's member in the sink group,
and new tasks wait for it until the broker drops it (session.timeout.ms): a stop that outlasts
Connect's graceful task shutdown meanwhile is reported, not a silent OK."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.layout.sinkfiles import period_of
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.cycle import Cycle, CycleResult
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.supervisor.stop_window import SLOW_STOP_SECONDS
from kafka_stack import Broker, ConnectWorker, start_broker, start_connect, wait_running
from storage_helpers import storage_env
from supervisor_helpers import Clock, LogCapture, make_config, sink_name

pytestmark = pytest.mark.integration

# The broker keeps a member that left without a word this long (the consumers' default).
SESSION_TIMEOUT = 45.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Broker, ConnectWorker]]:
    broker = start_broker(tmp_path / "broker")
    try:
        worker = start_connect(tmp_path / "connect", broker.bootstrap)
        try:
            yield broker, worker
        finally:
            worker.stop()
    finally:
        broker.stop()


def _normal(result: CycleResult) -> bool:
    return (
        result.ok
        and result.slow_stops == {}
        and result.connect_downtime_seconds is not None
        and result.connect_downtime_seconds < SLOW_STOP_SECONDS
    )


def test_a_broker_restart_keeps_stop_windows_short_and_is_reported(stack, tmp_path) -> None:
    broker, worker = stack
    tag = uuid.uuid4().hex[:6]
    topics = [broker.create_topic(f"restart-{tag}-{i}", 1) for i in range(2)]
    (tmp_path / "storage").mkdir()
    with storage_env(tmp_path / "storage") as env:
        config = make_config(
            topics=topics,
            sink=sink_name(),
            sink_path=env.sink,
            connect_url=worker.url,
            backup=env.backup(),
            bootstrap_servers=broker.bootstrap,
        )
        names = connector_names(config)
        clock = Clock()
        client = ConnectClient(worker.url)
        Reconciler(config, client).reconcile(period_of(clock(), config.sink_rotation))
        wait_running(worker.url, names)
        metrics = Metrics()
        cycle = Cycle(config, client, metrics, clock=clock, staging_margin=staging.Margin(0, 0.0))
        first = cycle.run()
        assert _normal(first), first.summary()  # the Admin client is made and kept

        broker.stop()
        logs = LogCapture()
        down = cycle.run()
        assert _normal(down), down.summary()  # was 10 s per connector
        assert down.stopped == names and down.resumed == names
        outage = logs.events("kafka.unavailable")
        assert len(outage) == 1 and outage[0]["cause"] == "kafka_unreachable", outage
        assert outage[0]["error"] == f"no Kafka server listens at {broker.bootstrap}"
        text = metrics.render().decode()
        assert 'kcb_failures_total{cause="kafka_unreachable",step="record_offsets"} 1.0' in text

        broker.start()
        wait_running(worker.url, names)
        time.sleep(3)  # the tasks resumed meanwhile join their groups, and wait
        logs = LogCapture()
        slow = cycle.run()
        # The tasks stopped while the broker was away are still members: each stop waits out
        # Connect's graceful task shutdown, and says so.
        assert slow.ok and sorted(slow.slow_stops) == names, slow.summary()
        warned = logs.events("connector.stop_slow")
        assert sorted(e["connector"] for e in warned) == names
        assert warned[0]["level"] == "warning" and "session.timeout.ms" in warned[0]["note"]
        text = metrics.render().decode()
        assert 'kcb_failures_total{cause="connect_stop_slow",step="stop"} 2.0' in text
        assert logs.events("kafka.available")  # the outage's end, once

        # Once the broker dropped those members, every window is normal again.
        time.sleep(SESSION_TIMEOUT)
        logs = LogCapture()
        again = cycle.run()
        assert _normal(again), again.summary()
        assert logs.events("cycle.offsets_read")[0]["recorded"] is True
