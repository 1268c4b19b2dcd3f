"""The schedule survives a restart: the supervisor persists when the last cycle ended and when
one last succeeded (`{sinkPath}/.kcb-state.json`), so a pod restarted more often than
restartTimeout still backs up, and the last-success metric does not fall back to zero."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from kafka_connect_backup.layout.names import STATE_NAME
from kafka_connect_backup.supervisor.daemon import Supervisor
from supervisor_helpers import LogCapture, delete_connectors, make_config, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration


def _run(supervisor: Supervisor) -> threading.Thread:
    loop = threading.Thread(target=supervisor.run, daemon=True)
    loop.start()
    return loop


def test_an_overdue_cycle_runs_soon_after_start_and_state_is_kept(
    connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=tmp_path, connect_url=connect_worker.url
    )
    earlier = time.time() - 86400 - 600  # restartTimeout is 1d: this cycle is overdue
    (tmp_path / STATE_NAME).write_text(
        json.dumps({"lastCycleEnd": earlier, "lastSuccess": earlier - 5})
    )
    logs = LogCapture()
    supervisor = Supervisor(config, http=False)
    started = time.time()
    loop = _run(supervisor)
    try:
        eventually(lambda: supervisor.status()["cyclesCompleted"], "the overdue cycle", timeout=60)
        assert supervisor.status()["lastCycle"]["ok"] is True
    finally:
        supervisor.request_stop()
        loop.join(60)
        delete_connectors(connect_worker.url, f"-{sink}")
    schedule = logs.events("supervisor.schedule")[0]
    assert schedule["last_success"] == pytest.approx(earlier - 5)
    assert schedule["next_cycle_in_seconds"] <= 2 * config.reconcile_interval_seconds
    # A reconcile ran before the cycle (connectors exist before they are stopped).
    names = [e["event"] for e in logs.events()]
    assert names.index("connector.created") < names.index("cycle.start")
    saved = json.loads((tmp_path / STATE_NAME).read_text())
    assert saved["lastSuccess"] >= started and saved["lastCycleEnd"] >= saved["lastSuccess"]


def test_a_fresh_install_waits_restart_timeout_and_keeps_the_last_success(
    connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    config = make_config(
        topics=[unique_topic], sink=sink, sink_path=tmp_path, connect_url=connect_worker.url
    )
    recent = time.time() - 3600
    supervisor = Supervisor(config, http=False)
    loop = _run(supervisor)
    try:
        time.sleep(2)
        status = supervisor.status()
        assert status["cyclesCompleted"] == 0 and status["nextCycleInSeconds"] > 86000
    finally:
        supervisor.request_stop()
        loop.join(60)
    # A restart with a recent success: its metric is restored, the next cycle is ~23h away.
    (tmp_path / STATE_NAME).write_text(json.dumps({"lastCycleEnd": recent, "lastSuccess": recent}))
    again = Supervisor(config, http=False)
    loop = _run(again)
    try:
        time.sleep(2)
        assert 82000 < again.status()["nextCycleInSeconds"] < 83000
        text = again.metrics.render().decode()
        value = re.search(r"^kcb_last_success_timestamp_seconds (\S+)$", text, re.MULTILINE)
        assert value and float(value.group(1)) == pytest.approx(recent, abs=1)
    finally:
        again.request_stop()
        loop.join(60)
        delete_connectors(connect_worker.url, f"-{sink}")
