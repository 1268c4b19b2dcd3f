"""Readiness (`/readyz`, alias `/ready`) against a real Connect worker: ready while Connect's REST
API answers, also all through a backup cycle that stops every connector; not ready when the
worker is gone or the URL answers but is no Connect; liveness (`/healthz`) unaffected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from kafka_connect_backup.config import load_config
from kafka_connect_backup.connect.connectors import connector_names
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_stack import ConnectWorker, free_port, wait_running
from local_config import write_config
from supervisor_helpers import LogCapture, config_data, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration


@contextmanager
def _running(config_path: Path) -> Iterator[Supervisor]:
    LogCapture()
    supervisor = Supervisor(load_config(config_path))
    loop = threading.Thread(target=supervisor.run, daemon=True)
    loop.start()
    try:
        yield supervisor
    finally:
        supervisor.request_stop()
        loop.join(60)
    assert not loop.is_alive()


def _get(base: str, path: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{base}{path}", timeout=10)
    return response.status_code, response.json()


def _wait_for(base: str, path: str, code: int, timeout: float = 30) -> dict[str, Any]:
    seen = eventually(
        lambda: _get(base, path),
        f"{path} to answer {code}",
        timeout=timeout,
        until=lambda seen: seen[0] == code,
    )
    return seen[1]


def test_ready_through_a_cycle_unready_without_connect_alive_all_along(
    own_worker: ConnectWorker, create_topic: Any, tmp_path: Path
) -> None:
    sink = sink_name()
    topics = [create_topic(f"ready-{sink}-{i}", 1) for i in range(3)]
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    port = free_port()
    config_path = write_config(
        tmp_path / "config.yaml",
        config_data(
            topics=topics,
            sink=sink,
            sink_path=sink_path,
            connect_url=own_worker.url,
            metrics_port=port,
        ),
    )
    names = connector_names(load_config(config_path))
    base = f"http://127.0.0.1:{port}"
    with _running(config_path):
        wait_running(own_worker.url, names)
        body = _wait_for(base, "/readyz", 200)
        assert body["status"] == "ready" and body["connect"]["answers"] is True
        assert body["connect"]["url"] == f"{own_worker.url}/connectors"
        assert _get(base, "/ready")[0] == 200

        # A backup cycle stops every connector: the pod must stay ready all through it.
        answers: list[dict[str, Any]] = []
        cycle: dict[str, Any] = {}

        def backup_now() -> None:
            reply = requests.post(f"{base}/backup-now", params={"wait": "1"}, timeout=120)
            cycle.update(reply.json())

        runner = threading.Thread(target=backup_now)
        runner.start()
        while runner.is_alive():
            code, body = _get(base, "/readyz")
            answers.append({"code": code, **body})
        runner.join()
        assert cycle["done"] is True and cycle["cycle"]["ok"] is True, cycle
        assert cycle["cycle"]["stopped"] == names and cycle["cycle"]["resumed"] == names
        assert any(a["cycleInProgress"] for a in answers), "no probe landed inside the cycle"
        assert [a for a in answers if a["code"] != 200] == []

        # The worker goes away: not ready, naming Connect; the loop itself is still alive.
        own_worker.stop()
        body = _wait_for(base, "/readyz", 503)
        assert body["status"] == "not ready" and body["connect"]["answers"] is False
        assert "ConnectionError" in body["connect"]["error"]
        code, health = _get(base, "/healthz")
        assert code == 200 and health["status"] == "ok"

        # Back on the same port: ready again without a supervisor restart.
        own_worker.start()
        assert _wait_for(base, "/readyz", 200, timeout=60)["connect"]["answers"] is True


def test_not_ready_when_the_url_answers_but_is_no_connect(tmp_path: Path) -> None:
    port = free_port()
    # The supervisor's own HTTP server stands at the Connect URL: it answers, with a 404.
    config_path = write_config(
        tmp_path / "config.yaml",
        config_data(
            topics=["t"],
            sink="s",
            sink_path=tmp_path,
            connect_url=f"http://127.0.0.1:{port}/not-connect",
            metrics_port=port,
        ),
    )
    base = f"http://127.0.0.1:{port}"
    with _running(config_path) as supervisor:
        body = _wait_for(base, "/readyz", 503)
        assert body["connect"]["answers"] is False
        assert body["connect"]["error"].startswith("HTTP 404")
        assert _get(base, "/healthz")[0] == 200
        # Stopping: never ready again, whatever Connect says.
        supervisor.request_stop()
        ready, detail = supervisor.readiness()
        assert ready is False and detail["stopping"] is True
