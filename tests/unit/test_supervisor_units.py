"""Supervisor pieces that need no broker: desired connectors, holds, error classification, the
REST client's bounded retries against a closed port, metrics names, the CLI parser."""

from __future__ import annotations

import errno
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.cli import build_parser
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.connect.connectors import (
    FILE_SINK_CLASS,
    connector_names,
    current_files,
    desired_connectors,
)
from kafka_connect_backup.connect.hold import held, hold_of, place_holds, release_holds
from kafka_connect_backup.connect.rest import ConnectClient, ConnectError, ConnectorStatus
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.layout.names import HOLD_DIR
from kafka_connect_backup.supervisor.cycle import CycleResult, classify
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import free_port
from local_config import local_config

pytestmark = pytest.mark.unit


def _config(**extra: Any):
    return parse_config(
        local_config(topics=["orders", "audit.log"], sink_name="bk", sink_path="/data/s", **extra)
    )


def test_desired_connectors_follow_the_original_naming() -> None:
    desired = desired_connectors(_config(), "2026-11")
    assert desired == {
        "orders-bk": {
            "name": "orders-bk",
            "connector.class": FILE_SINK_CLASS,
            "tasks.max": "1",
            "topics": "orders",
            "file": "/data/s/orders-bk-2026-11.sink",
        },
        "audit.log-bk": {
            "name": "audit.log-bk",
            "connector.class": FILE_SINK_CLASS,
            "tasks.max": "1",
            "topics": "audit.log",
            "file": "/data/s/audit.log-bk-2026-11.sink",
        },
    }
    assert connector_names(_config()) == ["orders-bk", "audit.log-bk"]
    assert current_files(_config(), "2026-12") == {
        Path("/data/s/orders-bk-2026-12.sink"),
        Path("/data/s/audit.log-bk-2026-12.sink"),
    }


def test_connector_config_is_merged_into_every_sink() -> None:
    """Extra keys only: the config refuses the keys the supervisor owns (test_config)."""
    config = _config(connect={"connectorConfig": {"consumer.override.max.poll.records": "2000"}})
    orders = desired_connectors(config, "2026-11")["orders-bk"]
    assert orders["consumer.override.max.poll.records"] == "2000"
    assert orders["tasks.max"] == "1" and orders["file"] == "/data/s/orders-bk-2026-11.sink"


def test_holds_last_while_their_journal_exists(tmp_path: Path) -> None:
    journal = tmp_path / ".kcb-restore" / "restore-orders.json"
    journal.parent.mkdir()
    journal.write_text("{}")
    assert not held(tmp_path, "orders-bk")
    before = time.time()
    place_holds(tmp_path, ["orders-bk"], "restore orders", journal)
    hold = hold_of(tmp_path, "orders-bk")
    assert hold is not None and not held(tmp_path, "audit.log-bk")
    assert (hold.reason, hold.journal) == ("restore orders", journal.resolve())
    assert before <= hold.since <= time.time()
    assert hold.age(hold.since + 90) == 90
    # A later command (another process) still sees it; releasing lifts it.
    release_holds(tmp_path, ["orders-bk"])
    assert not held(tmp_path, "orders-bk")
    # The journal archived (or removed by hand): the hold is stale, not binding.
    place_holds(tmp_path, ["audit.log-bk"], "restore audit.log", journal)
    assert held(tmp_path, "audit.log-bk")
    journal.rename(journal.with_suffix(".done.json"))
    assert not held(tmp_path, "audit.log-bk")
    (tmp_path / HOLD_DIR / "audit.log-bk").write_text("garbage")
    assert not held(tmp_path, "audit.log-bk")


def test_classify_names_cause_and_fix() -> None:
    assert classify(KcbError("x", fix="do y", cause="wrong_password")) == ("wrong_password", "do y")
    assert classify(OSError(errno.ENOSPC, "No space left"))[0] == "disk_full"
    assert classify(OSError(errno.EACCES, "denied"))[0] == "permission_denied"
    cause, fix = classify(RuntimeError("boom"))
    assert cause == "unexpected" and "bug" in fix


def test_rest_client_retries_a_bounded_number_of_times_and_logs_each_retry() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    client = ConnectClient(
        f"http://127.0.0.1:{free_port()}", attempts=3, backoff_initial=0.01, backoff_max=0.05
    )
    with pytest.raises(ConnectError) as caught:
        client.connectors()
    assert caught.value.cause == "connect_unreachable"
    assert "after 3 attempts" in caught.value.message and "connect container" in caught.value.fix
    retries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["attempt"] for r in retries if r["event"] == "connect.retry"] == [1, 2]
    assert all(r["call"] == "GET /connectors" for r in retries)


def test_connector_status_states() -> None:
    assert ConnectorStatus("a", "STOPPED", ()).stopped
    assert not ConnectorStatus("a", "STOPPED", ("RUNNING",)).stopped
    assert ConnectorStatus("a", "RUNNING", ("RUNNING",)).running
    assert not ConnectorStatus("a", "RUNNING", ()).running
    assert not ConnectorStatus("a", "RUNNING", ("FAILED",)).running


def test_metrics_expose_every_documented_series() -> None:
    metrics = Metrics()
    metrics.failures.labels(cause="disk_full", step="backup").inc()
    text = metrics.render().decode()
    for name in (
        "kcb_last_success_timestamp_seconds",
        "kcb_cycle_duration_seconds_bucket",
        "kcb_snapshot_duration_seconds",
        "kcb_rsnapshot_duration_seconds",  # the deprecated alias, one more release
        "kcb_connect_downtime_seconds_bucket",
        "kcb_last_connect_downtime_seconds",
        "kcb_backup_bytes",
        "kcb_backup_files",
        "kcb_backed_up_bytes_total",
        'kcb_failures_total{cause="disk_full",step="backup"} 1.0',
        "kcb_cycle_in_progress",
        "kcb_up",
    ):
        assert name in text
    assert Metrics().render() != text.encode()  # each supervisor has its own registry


def test_cycle_summary_is_json_ready() -> None:
    summary = CycleResult(cycle_id="abc", ok=True, connect_downtime_seconds=1.23456).summary()
    assert json.loads(json.dumps(summary))["connectDowntimeSeconds"] == 1.235


def test_cli_accepts_config_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["supervise", "--config", "/x.yaml"]).config == Path("/x.yaml")
    assert parser.parse_args(["--config", "/y.yaml", "check-config"]).config == Path("/y.yaml")
    now = parser.parse_args(["backup-now", "--no-wait", "--config", "/z.yaml"])
    assert now.no_wait and not now.local and now.config == Path("/z.yaml")
