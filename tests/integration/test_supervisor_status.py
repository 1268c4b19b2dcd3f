"""`kcb status` and GET /status on the real broker and Connect: the sink's consumer-group lag
after producing with the connector stopped, the newest record of the current sink file, the
files' size, healthy after a good cycle and unhealthy (exit 1, with the fix) after a failed
one; the lag and newest-record gauges in /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kafka_connect_backup.config import load_config
from kafka_connect_backup.layout.sinkfiles import connector_name
from kafka_connect_backup.restore.cli import main as restore
from kafka_connect_backup.supervisor import volume_lock
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_helpers import produce_json, stop_connector, wait_for_lines
from kafka_stack import free_port
from local_config import write_config
from supervisor_helpers import LogCapture, config_data, delete_connectors, held_now, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration

KCB = str(Path(sys.executable).parent / "kcb")


def kcb_status(config_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KCB, "status", "--config", str(config_path), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def records(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"n": i, "utcTime": f"2026-03-14T12:{i // 60:02d}:{i % 60:02d}Z"}
        for i in range(first, first + count)
    ]


def wait_for_gauge(base: str, series: str, timeout: float = 60) -> str:
    """GET /metrics until it holds `series` (the loop's first observation); the text."""
    return eventually(
        lambda: requests.get(f"{base}/metrics", timeout=10).text,
        f"{series} in /metrics",
        timeout=timeout,
        until=lambda metrics: series in metrics,
        ignoring=(requests.ConnectionError,),
    )


def test_status_reports_lag_newest_record_and_health(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    port = free_port()
    data = config_data(
        topics=[unique_topic],
        sink=sink,
        sink_path=sink_path,
        connect_url=connect_worker.url,
        metrics_port=port,
        bootstrap_servers=kafka_broker.bootstrap,
    )
    config_path = write_config(tmp_path / "config.yaml", data)
    config = load_config(config_path)
    name = connector_name(unique_topic, sink)
    LogCapture()
    try:
        clock = held_now()  # both supervisors name one sink file
        assert Supervisor(config, http=False, clock=clock).run_once().ok  # the connector
        written = produce_json(kafka_broker.bootstrap, unique_topic, records(0, 50))
        live = next(sink_path.glob("*.sink"))
        assert wait_for_lines(live, 50) == written
        time.sleep(1)  # the sink commits its offsets (offset.flush.interval.ms) ...
        stop_connector(connect_worker.url, name)  # ... and on stop
        produce_json(kafka_broker.bootstrap, unique_topic, records(50, 30))

        # A supervisor runs on the data volume (its lock held) but its endpoint does not answer:
        # the status is read from the files and Kafka.
        held = volume_lock.acquire(config, "this test")
        result = kcb_status(config_path, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        doc = json.loads(result.stdout)
        assert doc["healthy"] is True and doc["reason"] == "the last cycle succeeded"
        assert doc["lastCycleOk"] is True and doc["lastFailure"] is None
        assert doc["lastSnapshot"] is None and doc["backupEnabled"] is False
        [topic] = doc["topics"]
        assert topic["lag_records"] == 30  # produced while the connector was stopped
        assert topic["newest_record_time"] == "2026-03-14T12:00:49Z"
        assert (topic["files"], topic["bytes"]) == (1, live.stat().st_size)
        assert doc["errors"][-1].startswith("no supervisor answers at http://127.0.0.1:")

        readable = kcb_status(config_path)
        assert readable.returncode == 0
        assert readable.stdout.startswith("backup: HEALTHY: the last cycle succeeded\n")
        assert f"  {unique_topic}: lag 30 records, newest record 2026-03-14T12:00:49Z (" in (
            readable.stdout
        )
        held.release()

        # The running supervisor answers the same document, and exports the gauges.
        supervisor = Supervisor(config, clock=clock)
        loop = threading.Thread(target=supervisor.run, daemon=True)
        loop.start()
        try:
            base = f"http://127.0.0.1:{port}"
            metrics = wait_for_gauge(base, f'kcb_backup_lag_records{{topic="{unique_topic}"}}')
            served = requests.get(f"{base}/status", timeout=30).json()
            assert served["healthy"] is True and served["supervisor"]["cyclesCompleted"] == 0
            assert [t["topic"] for t in served["topics"]] == [unique_topic]
            age = datetime(2026, 3, 14, 12, 0, 49, tzinfo=UTC).timestamp()
            assert f'kcb_backup_newest_record_age_seconds{{topic="{unique_topic}"}}' in metrics
            line = next(
                m for m in metrics.splitlines() if m.startswith("kcb_backup_newest_record_age")
            )
            assert abs(float(line.split()[-1]) - (time.time() - age)) < 120
        finally:
            supervisor.request_stop()
            loop.join(60)

        # A failed cycle: unhealthy, exit 1, the cause and its fix.
        broken = load_config(
            write_config(
                tmp_path / "broken.yaml",
                {**data, "connect": {**data["connect"], "url": "http://127.0.0.1:9"}},
            )
        )
        assert not Supervisor(broken, http=False, connect_attempts=1).run_once().ok
        held = volume_lock.acquire(config, "this test")
        failed = kcb_status(config_path)
        held.release()
        assert failed.returncode == 1, failed.stdout
        first = failed.stdout.splitlines()[0]
        assert first.startswith("backup: UNHEALTHY: the last cycle failed (connect_unreachable): ")
        assert "last failure: " in failed.stdout and " connect_unreachable in " in failed.stdout
    finally:
        delete_connectors(connect_worker.url, sink)


T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MICROS_BY_MISTAKE = 1_796_083_200_000_000  # 2026-12-01 in microseconds: the year 58885


def test_a_record_time_no_clock_can_show_ends_neither_status_nor_the_supervisor(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path, capsys
) -> None:
    """A producer's timestamp in microseconds by mistake, last in the live envelope file: the
    newest record is the one before it, the supervisor keeps running and answering, and a
    restore takes it as a record without a readable time (--missing-timestamp)."""
    # Every topic took such timestamps before Kafka 4.0; since then a topic must allow them.
    allow = ConfigResource(
        ResourceType.TOPIC,
        unique_topic,
        incremental_configs=[
            ConfigEntry(
                "message.timestamp.after.max.ms",
                str(2**63 - 1),
                incremental_operation=AlterConfigOpType.SET,
            )
        ],
    )
    admin = kafka_broker.admin()  # keep a reference: a collected client cancels its futures
    admin.incremental_alter_configs([allow])[allow].result(30)
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    port = free_port()
    data = config_data(
        topics=[unique_topic],
        sink=sink,
        sink_path=sink_path,
        connect_url=connect_worker.url,
        metrics_port=port,
        bootstrap_servers=kafka_broker.bootstrap,
        sinkFormat="envelope",
    )
    config_path = write_config(tmp_path / "config.yaml", data)
    config = load_config(config_path)
    LogCapture()
    try:
        clock = held_now()  # both supervisors name one sink file
        assert Supervisor(config, http=False, clock=clock).run_once().ok  # the connector
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
        producer.produce(unique_topic, b'{"n":1}', timestamp=T0)
        producer.produce(unique_topic, b'{"n":2}', timestamp=MICROS_BY_MISTAKE)
        assert producer.flush(30) == 0
        live = next(sink_path.glob("*.envelope.sink"))
        lines = wait_for_lines(live, 2)
        assert [json.loads(line)["timestamp"] for line in lines] == [T0, MICROS_BY_MISTAKE]

        held = volume_lock.acquire(config, "this test")  # as a running supervisor does
        result = kcb_status(config_path, "--json")
        held.release()
        assert result.returncode == 0, result.stdout + result.stderr
        [topic] = json.loads(result.stdout)["topics"]
        assert topic["newest_record_time"] == "2026-01-01T00:00:00Z"

        supervisor = Supervisor(config, clock=clock)
        loop = threading.Thread(target=supervisor.run, daemon=True)
        loop.start()
        try:
            base = f"http://127.0.0.1:{port}"
            series = f'kcb_backup_newest_record_age_seconds{{topic="{unique_topic}"}}'
            wait_for_gauge(base, series)
            served = requests.get(f"{base}/status", timeout=30)
            assert served.status_code == 200
            assert served.json()["topics"][0]["newest_record_time"] == "2026-01-01T00:00:00Z"
            time.sleep(2)  # reconciles every 0.5 s
            assert loop.is_alive()
        finally:
            supervisor.request_stop()
            loop.join(60)

        capsys.readouterr()
        args = [unique_topic, kafka_broker.bootstrap, str(live), "2025-12-01", "--dry-run"]
        assert restore(args) == 0
        assert "records: 2 read, 1 to send, 1 skipped (missing_timestamp 1)" in (
            capsys.readouterr().out
        )
        assert restore([*args, "--missing-timestamp", "fail"]) == 2
        assert (
            f"{live} line 2 has no readable 'record timestamp' time (--missing-timestamp fail)"
            in capsys.readouterr().err
        )
    finally:
        delete_connectors(connect_worker.url, sink)


def _kcb(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KCB, *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_one_supervisor_per_data_volume_and_status_without_one(kafka_broker, tmp_path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    # No Connect answers (the supervisor waits for it): only the data volume is shared here.
    data = config_data(
        topics=["orders"],
        sink=sink_name(),
        sink_path=sink,
        connect_url=f"http://127.0.0.1:{free_port()}",
        bootstrap_servers=kafka_broker.bootstrap,
    )
    config_path = write_config(tmp_path / "config.yaml", data)
    lock: Path = sink / ".kcb-supervisor.lock"
    first = subprocess.Popen(
        [KCB, "supervise", "--config", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:

        def holder() -> str | None:
            if lock.exists():
                return lock.read_text()
            assert first.poll() is None, "the first supervisor ended without a lock"
            return None

        eventually(
            holder,
            f"the lock held by pid {first.pid}",
            timeout=60,
            until=lambda text: text == f"{first.pid}\n",
            interval=0.1,
        )
        holds = (
            f"kcb: another supervisor (pid {first.pid}) is running on the data volume {sink} "
            f"(it holds {lock}): not starting"
        )
        second = _kcb(config_path, "supervise")
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(f"{holds} a supervisor beside it (fix: use that "), (
            second.stderr
        )
        local = _kcb(config_path, "backup-now", "--local")
        assert local.returncode == 2, local.stderr
        assert local.stderr.startswith(f"{holds} a local cycle (--local) beside it"), local.stderr
        assert "Traceback" not in second.stderr + local.stderr
        running = kcb_status(config_path, "--json")
        assert running.returncode == 0, running.stdout + running.stderr
        assert (
            f"no supervisor answers at (metrics.port 0) (pid {first.pid} runs on the data volume)"
            ": read from the files"
        ) in json.loads(running.stdout)["errors"]
    finally:
        first.terminate()
        first.wait(timeout=60)
    stopped = kcb_status(config_path)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert stopped.stdout.startswith(
        f"backup: UNHEALTHY: no supervisor is running on the data volume {sink}: nothing backs "
        "up until one starts"
    ), stopped.stdout


def test_backup_now_local_with_a_missing_sink_path_fails_at_once(tmp_path) -> None:
    sink = tmp_path / "not-mounted"
    data = config_data(
        topics=["orders"], sink=sink_name(), sink_path=sink, connect_url="http://127.0.0.1:9"
    )
    config_path = write_config(tmp_path / "config.yaml", data)
    began = time.monotonic()
    local = _kcb(config_path, "backup-now", "--local")
    assert time.monotonic() - began < 30
    assert local.returncode == 2, local.stderr
    assert local.stderr == (
        f"kcb: sinkPath {sink} does not exist or is not a directory (fix: mount the data volume "
        "there (the connect container writes the sink files to it), or correct sinkPath in the "
        "config)\n"
    )
