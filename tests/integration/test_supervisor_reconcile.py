"""The reconciler against a real Connect worker: connectors recreated after a worker restart
(standalone forgets them), wrong configs corrected, paused/stopped ones resumed, held ones left
alone, removed topics' connectors deleted."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from kafka_connect_backup.connect.connectors import Reconciler, ReconcileResult, desired_connectors
from kafka_connect_backup.connect.hold import place_holds, release_holds
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of, sink_file
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import ConnectWorker, connector_states, wait_running
from supervisor_helpers import LogCapture, delete_connectors, held_now, make_config, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration


def _records(prefix: str, count: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}-{i}", "utcTime": "2026-11-02T08:00:00Z"} for i in range(count)]


def test_supervisor_recreates_connectors_after_a_connect_restart(
    kafka_broker, own_worker: ConnectWorker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=sink_path, connect_url=own_worker.url
    )
    logs = LogCapture()
    clock = held_now()
    supervisor = Supervisor(config, http=False, clock=clock)
    loop = threading.Thread(target=supervisor.run, daemon=True)
    loop.start()
    name = connector_name(unique_topic, sink)
    path = sink_file(sink_path, unique_topic, sink, period_of(clock(), config.sink_rotation))
    try:
        wait_running(own_worker.url, [name])
        first = produce_json(kafka_broker.bootstrap, unique_topic, _records("a", 300))
        assert wait_for_lines([path], 300) == first

        own_worker.restart()  # standalone: the connector is gone after this
        wait_running(own_worker.url, [name])
        second = produce_json(kafka_broker.bootstrap, unique_topic, _records("b", 300))
        assert wait_for_lines([path], 600) == first + second
    finally:
        supervisor.request_stop()
        loop.join(60)
    assert not loop.is_alive()
    created = [e for e in logs.events("connector.created") if e["connector"] == name]
    assert len(created) == 2  # at start and after the restart
    assert (
        'kcb_reconcile_actions_total{action="created"} 2.0' in supervisor.metrics.render().decode()
    )


def test_reconcile_fixes_wrong_config_resumes_paused_and_respects_holds(
    kafka_broker, connect_worker, create_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    topics = [create_topic(f"rec-{sink}-{i}", 1) for i in range(3)]
    config = make_config(
        topics=topics, sink=sink, sink_path=tmp_path, connect_url=connect_worker.url
    )
    period = period_of(datetime.now(UTC), config.sink_rotation)
    desired = desired_connectors(config, period)
    names = list(desired)
    client = ConnectClient(connect_worker.url)
    reconciler = Reconciler(config, client)
    stray = f"gone-topic-{sink}"
    try:
        first = reconciler.reconcile(period)
        assert first.created == names
        wait_running(connect_worker.url, names)
        assert reconciler.reconcile(period) == ReconcileResult()  # idempotent: no action

        # Drift: a wrong file, a paused and a stopped connector, a connector of a topic that
        # left the config, and a held connector (restore at work) that must stay stopped.
        wrong = dict(desired[names[0]], file=str(tmp_path / "elsewhere.sink"))
        client.put_config(names[0], wrong)
        requests.put(f"{connect_worker.url}/connectors/{names[1]}/pause", timeout=10)
        client.stop(names[2])
        client.put_config(stray, dict(desired[names[0]], name=stray))
        eventually(
            lambda: connector_states(connect_worker.url, [names[1]])[names[1]],
            f"{names[1]} PAUSED",
            timeout=30,
            until=lambda state: state[0] == "PAUSED",
        )
        journal = tmp_path / "restore-journal.json"
        journal.write_text("{}")
        place_holds(tmp_path, [names[2]], "test", journal)
        result = reconciler.reconcile(period)
        assert result.updated == [names[0]]
        assert result.resumed == [names[1]]
        assert result.held == [names[2]]
        assert [h.journal for h in result.holds] == [journal.resolve()]
        assert result.removed == [stray]
        time.sleep(1)
        assert connector_states(connect_worker.url, [names[2]])[names[2]] == ("STOPPED", [])
        # A second reconciler (a restarted supervisor) honours the same hold.
        assert Reconciler(config, client).reconcile(period).held == [names[2]]
        release_holds(tmp_path, [names[2]])
        assert client.config(names[0]) == desired[names[0]]
        assert reconciler.reconcile(period).resumed == [names[2]]
        wait_running(connect_worker.url, names)
        assert (
            requests.get(f"{connect_worker.url}/connectors/{stray}", timeout=10).status_code == 404
        )
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
        client.close()


def test_reconcile_restarts_a_failed_task_once_its_cause_is_gone(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "not-yet"  # the task cannot open its file: it fails
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=sink_path, connect_url=connect_worker.url
    )
    period = period_of(datetime.now(UTC), config.sink_rotation)
    name = connector_name(unique_topic, sink)
    client = ConnectClient(connect_worker.url)
    reconciler = Reconciler(config, client)
    logs = LogCapture()
    try:
        assert reconciler.reconcile(period).created == [name]
        eventually(
            lambda: connector_states(connect_worker.url, [name])[name],
            f"a FAILED task of {name}",
            timeout=30,
            until=lambda state: "FAILED" in state[1],
        )
        sink_path.mkdir()
        result = reconciler.reconcile(period)
        assert result.restarted == [name]
        wait_running(connect_worker.url, [name])
        restarted = logs.events("connector.restarted")
        assert restarted and "not-yet" in restarted[0]["trace"]
        lines = produce_json(kafka_broker.bootstrap, unique_topic, _records("r", 20))
        path = sink_file(sink_path, unique_topic, sink, period)
        assert wait_for_lines([path], 20) == lines
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")
        client.close()


def test_a_connect_still_starting_is_waited_for_not_counted_as_a_failure(
    kafka_broker, unique_topic, tmp_path: Path
) -> None:
    # The pod's two containers start together: Connect's REST answers seconds later.
    sink = sink_name()
    worker = ConnectWorker("connect", tmp_path / "connect", bootstrap=kafka_broker.bootstrap)
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=tmp_path, connect_url=worker.url
    )
    logs = LogCapture()
    supervisor = Supervisor(config, http=False)
    loop = threading.Thread(target=supervisor.run, daemon=True)
    loop.start()
    name = connector_name(unique_topic, sink)
    try:
        eventually(
            lambda: logs.events("reconcile.waiting_for_connect"), "a waiting event", timeout=30
        )
        time.sleep(2)  # several reconcile rounds against the closed port
        worker.start()
        wait_running(worker.url, [name])
        assert logs.events("reconcile.failed") == []
        # Not one error line while the worker came up (its REST may answer 404 at first).
        assert [e for e in logs.events() if e["level"] == "error"] == []
        waits = logs.events("reconcile.waiting_for_connect")
        assert waits and all(e["level"] == "info" for e in waits)
        assert "unreachable" in waits[0]["error"]
        assert len(logs.events("reconcile.connect_ready")) == 1
        assert logs.events("reconcile.recovered") == []
        assert "kcb_failures_total{" not in supervisor.metrics.render().decode()

        # Once Connect has answered, losing it is an error again, logged and counted.
        worker.stop()
        eventually(lambda: logs.events("reconcile.failed"), "a reconcile.failed event", timeout=30)
        failed = logs.events("reconcile.failed")[0]
        assert failed["cause"] == "connect_unreachable" and failed["level"] == "error"
        metrics = supervisor.metrics.render().decode()
        assert 'kcb_failures_total{cause="connect_unreachable",step="reconcile"}' in metrics
    finally:
        supervisor.request_stop()
        loop.join(60)
        worker.stop()
    assert not loop.is_alive()
