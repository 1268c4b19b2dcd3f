"""The supervisor's HTTP endpoint (/healthz, /metrics, /status, POST /backup-now) and the `kcb`
commands that use it: `backup-now` through a running supervisor, or alone when none answers."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from kafka_connect_backup.config import load_config
from kafka_connect_backup.connect.connectors import connector_names
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_connect_backup.supervisor.health import HealthServer, is_loopback
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import free_port, wait_running
from local_config import write_config
from supervisor_helpers import LogCapture, config_data, delete_connectors, held_now, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration

KCB = str(Path(sys.executable).parent / "kcb")


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


def test_health_metrics_status_and_backup_now(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    port = free_port()
    config_path = write_config(
        tmp_path / "config.yaml",
        config_data(
            topics=[unique_topic],
            sink=sink,
            sink_path=sink_path,
            connect_url=connect_worker.url,
            metrics_port=port,
        ),
    )
    config = load_config(config_path)
    names = connector_names(config)
    base = f"http://127.0.0.1:{port}"
    LogCapture()
    clock = held_now()
    supervisor = Supervisor(config, clock=clock)
    loop = threading.Thread(target=supervisor.run, daemon=True)
    loop.start()
    try:
        wait_running(connect_worker.url, names)
        health = requests.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["cycleInProgress"] is False
        before = requests.get(f"{base}/metrics", timeout=10)
        assert before.headers["Content-Type"].startswith("text/plain")
        assert _metric(before.text, "kcb_up") == 1.0
        assert _metric(before.text, "kcb_last_success_timestamp_seconds") == 0.0
        assert 'kcb_reconcile_actions_total{action="created"} 1.0' in before.text

        path = sink_file(sink_path, unique_topic, sink, period_of(clock(), config.sink_rotation))
        lines = produce_json(kafka_broker.bootstrap, unique_topic, [{"id": i} for i in range(50)])
        assert wait_for_lines([path], 50) == lines

        started = time.time()
        answer = requests.post(f"{base}/backup-now", params={"wait": "1"}, timeout=120)
        assert answer.status_code == 200
        cycle = answer.json()["cycle"]
        assert cycle["ok"] is True and cycle["stopped"] == names and cycle["resumed"] == names
        assert cycle["connectDowntimeSeconds"] > 0

        after = requests.get(f"{base}/metrics", timeout=10).text
        assert _metric(after, "kcb_last_success_timestamp_seconds") >= started
        assert _metric(after, 'kcb_cycles_total{result="success"}') == 1.0
        assert _metric(after, "kcb_connect_downtime_seconds_count") == 1.0
        downtime = _metric(after, "kcb_last_connect_downtime_seconds")
        assert downtime == pytest.approx(cycle["connectDowntimeSeconds"], abs=0.001)
        assert _metric(after, "kcb_cycle_duration_seconds_count") == 1.0
        assert _metric(after, "kcb_cycle_in_progress") == 0.0

        status = requests.get(f"{base}/status", timeout=10).json()
        assert status["cyclesCompleted"] == 1 and status["lastCycle"]["cycleId"] == cycle["cycleId"]
        assert requests.get(f"{base}/nope", timeout=10).status_code == 404

        # The CLI goes through the running supervisor (no second cycle runner).
        done = subprocess.run(
            [KCB, "backup-now", "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # The readable summary: the cycle, the snapshot it took, Connect's downtime.
        line = done.stdout.strip()
        assert line.startswith("cycle ") and " OK in " in line, line
        assert ": no snapshot (backup.enabled is false); Connect down " in line, line
        assert f"(connectors {', '.join(names)})" in line, line
        assert done.stderr == ""
        assert requests.get(f"{base}/status", timeout=10).json()["cyclesCompleted"] == 2

        # Without waiting: accepted at once, the loop runs it.
        quick = requests.post(f"{base}/backup-now", timeout=10)
        assert quick.status_code == 202 and quick.json()["accepted"] is True
        eventually(
            lambda: requests.get(f"{base}/status", timeout=10).json()["cyclesCompleted"],
            "a third completed cycle",
            timeout=60,
            until=lambda completed: completed >= 3,
        )
    finally:
        supervisor.request_stop()
        loop.join(60)
    assert not loop.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)

    try:
        # No supervisor answers any more: backup-now says so and changes nothing...
        refused = subprocess.run(
            [KCB, "backup-now", "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("kcb: no supervisor answers at http://127.0.0.1:")
        assert "--local runs one cycle in this process instead" in refused.stderr
        # ...and runs one cycle itself only when asked to.
        alone = subprocess.run(
            [KCB, "backup-now", "--local", "--json", "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert alone.returncode == 0, alone.stderr
        assert json.loads(alone.stdout)["ok"] is True
        wait_running(connect_worker.url, names)
        more = produce_json(
            kafka_broker.bootstrap, unique_topic, [{"id": i} for i in range(50, 60)]
        )
        assert wait_for_lines([path], 60) == lines + more
    finally:
        delete_connectors(connect_worker.url, f"-{sink}")


def _kcb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KCB, *args], capture_output=True, text=True, timeout=60, check=False)


def test_check_config_command(tmp_path: Path) -> None:
    good = write_config(
        tmp_path / "good.yaml",
        config_data(
            topics=["a", "b"], sink="s", sink_path=tmp_path, connect_url="http://127.0.0.1:1"
        ),
    )
    done = subprocess.run(
        [KCB, "check-config", "--config", str(good)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "valid (2 topic(s)" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [a]\nrestartTimeout: 2x\nconnect: {stopTimeoutSecs: 3}\n")
    done = subprocess.run(
        [KCB, "check-config", "--config", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "restartTimeout" in done.stderr and "30s, 90m, 23h, 1d" in done.stderr
    assert "connect.stopTimeoutSecs: unknown key" in done.stderr
    # Nothing starts on an invalid config.
    done = _kcb("supervise", "--config", str(bad))
    assert done.returncode == 2 and "restartTimeout" in done.stderr


def test_supervise_refuses_a_taken_metrics_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path / "config.yaml",
            config_data(
                topics=["a"],
                sink="s",
                sink_path=tmp_path,
                connect_url="http://127.0.0.1:1",
                metrics_port=port,
            ),
        )
        done = _kcb("supervise", "--config", str(config))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "metrics.port" in done.stderr


class _CountingSupervised:
    """The daemon side of the endpoint, counting the cycles asked for (the HTTP layer is what
    is under test: a refused POST must never reach the daemon)."""

    def __init__(self) -> None:
        self.requests = 0

    def health(self) -> tuple[bool, dict[str, object]]:
        return True, {}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        return True, {}

    def backup_status(self) -> dict[str, object]:
        return {"cyclesCompleted": 0}

    def request_cycle(self, wait: bool, timeout: float) -> dict[str, object]:
        self.requests += 1
        return {"accepted": True}


def _own_address() -> str | None:
    """A non-loopback IPv4 address of this machine (`hostname -I`), if it has one."""
    done = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    for word in done.stdout.split():
        try:
            ip = ipaddress.ip_address(word)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback:
            return word
    return None


def _post_from(source: str, target: str, port: int) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection(target, port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", "/backup-now")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_backup_now_refuses_a_non_loopback_client() -> None:
    own = _own_address()
    if own is None:
        pytest.skip("no non-loopback address on this machine (the unit test covers the check)")
    supervised = _CountingSupervised()
    server = HealthServer("0.0.0.0", 0, supervised, Metrics()).start()
    try:
        status, body = _post_from(own, own, server.port)
        assert status == 403
        assert body["error"] == f"POST is accepted from loopback only, not from {own}"
        assert "kcb backup-now" in str(body["fix"])
        assert supervised.requests == 0
        # Reads stay open to the cluster (probes, Prometheus).
        assert requests.get(f"http://{own}:{server.port}/healthz", timeout=10).status_code == 200

        status, body = _post_from("127.0.0.1", "127.0.0.1", server.port)
        assert status == 202 and body == {"accepted": True}
        assert supervised.requests == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.244.1.7", False),
        ("::ffff:10.0.0.1", False),
        ("fd00::2", False),
        ("0.0.0.0", False),
        ("not an address", False),
    ],
)
def test_loopback_check(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0", "8d"])
def test_backup_now_refuses_a_timeout_that_is_no_wait_before_asking(
    tmp_path: Path, timeout: str
) -> None:
    """nan and inf were tracebacks; -1 printed the raw answer while the cycle ran anyway."""
    supervised = _CountingSupervised()
    server = HealthServer("127.0.0.1", 0, supervised, Metrics()).start()
    try:
        config = write_config(
            tmp_path / "config.yaml",
            config_data(
                topics=["a"],
                sink="s",
                sink_path=tmp_path,
                connect_url="http://127.0.0.1:1",
                metrics_port=server.port,
            ),
        )
        done = _kcb("backup-now", "--config", str(config), f"--timeout={timeout}")
        assert done.returncode == 2, done.stdout
        assert done.stderr.splitlines()[-1].startswith(
            f"kcb backup-now: error: argument --timeout: '{timeout}' "
        )
        assert "Traceback" not in done.stderr and done.stdout == ""
        # The endpoint itself refuses them too, before the daemon hears of a cycle.
        answer = requests.post(
            f"http://127.0.0.1:{server.port}/backup-now",
            params={"wait": "1", "timeout": timeout},
            timeout=10,
        )
        if timeout != "8d":
            assert answer.status_code == 400
            assert answer.json()["error"].startswith(f"timeout '{timeout}' ")
        assert supervised.requests == (1 if timeout == "8d" else 0)
    finally:
        server.stop()
