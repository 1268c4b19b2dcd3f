"""The status document's rules without Kafka: health from the saved state (a failed last
cycle, a last success older than 2 x restartTimeout), the newest record of a sink file (a torn
last line skipped), holds and restores in progress, and the readable forms of a status and of
a cycle's summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kafka_connect_backup.cli import describe_cycle
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.connect.hold import place_holds
from kafka_connect_backup.layout.names import LOCK_NAME, STATE_NAME
from kafka_connect_backup.supervisor import status, volume_lock

pytestmark = pytest.mark.unit

NOW = 1_773_489_600.0  # 2026-03-14T12:00:00Z


def config(tmp_path: Path):
    return parse_config(
        {
            "topics": ["orders"],
            "sinkName": "sink",
            "sinkPath": str(tmp_path),
            "restartTimeout": "1h",
        }
    )


def save(tmp_path: Path, **state: object) -> None:
    body = {"lastCycleEnd": NOW - 60, "lastSuccess": NOW - 60, "lastCycleOk": True, **state}
    (tmp_path / STATE_NAME).write_text(json.dumps(body))


def test_healthy_stale_and_failed(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert (doc["healthy"], doc["lastSuccess"], doc["nextCycleInSeconds"]) == (True, None, None)
    assert doc["reason"].startswith("no cycle has run yet")
    save(tmp_path)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert (
        doc["healthy"] and doc["lastSuccessAgeSeconds"] == 60 and doc["nextCycleInSeconds"] == 3540
    )
    save(tmp_path, lastSuccess=NOW - 7201)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert not doc["healthy"]
    assert doc["reason"] == (
        "the last successful cycle is 7201s old, more than 2 x restartTimeout (7200s)"
    )
    failure = {"time": NOW - 5, "cycleId": "c1", "cause": "wrong_password", "step": "backup",
               "error": "cannot mount", "fix": "check the Secret"}  # fmt: skip
    save(tmp_path, lastCycleOk=False, lastFailure=failure)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert not doc["healthy"]
    assert doc["reason"] == "the last cycle failed (wrong_password): check the Secret"
    text = status.render(doc)
    assert text.splitlines()[0] == (
        "backup: UNHEALTHY: the last cycle failed (wrong_password): check the Secret"
    )
    assert (
        "last failure: 2026-03-14T11:59:55Z wrong_password in backup: cannot mount (fix: " in text
    )


def test_topics_files_holds_and_restores(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    live = tmp_path / "orders-sink-2026-03.sink"
    live.write_text('{"utcTime":"2026-03-14T11:00:00Z"}\n{"utcTime":"2026-03-14T11:30:00Z"}\n{"utc')
    (tmp_path / "orders-sink-2026-02.sink-1772000000.gz").write_bytes(b"x" * 10)
    (tmp_path / "payments-sink-2026-03.sink").write_text("{}\n")  # another connector's
    journal = tmp_path / ".kcb-restore" / "restore-orders.json"
    journal.parent.mkdir()
    journal.write_text("{}")
    (tmp_path / ".kcb-restore" / "restore-orders.1.done.json").write_text("{}")
    place_holds(tmp_path, ["orders-sink"], "restore orders", journal)
    save(
        tmp_path, lastSnapshot={"time": NOW - 60, "files": 2, "bytes": 2048, "engine": "gocryptfs"}
    )
    doc = status.collect(cfg, admin=None, now=NOW)
    [topic] = doc["topics"]
    assert topic["newest_record_time"] == "2026-03-14T11:30:00Z"  # the torn line is skipped
    assert topic["newest_record_age_seconds"] == 1800
    assert (topic["files"], topic["bytes"]) == (2, live.stat().st_size + 10)
    assert topic["lag_records"] is None and topic["current_file"] == str(live)
    assert [h["connector"] for h in doc["holds"]] == ["orders-sink"]
    assert doc["restoresInProgress"] == [str(journal)]
    text = status.render(doc)
    assert "last snapshot: alpha.0 at 2026-03-14T11:59:00Z, 2 files, 2.0 KiB (gocryptfs)" in text
    assert "  orders: lag unknown records, newest record 2026-03-14T11:30:00Z (30.0m ago)" in text
    assert "held: orders-sink by restore orders for " in text
    assert f"restore in progress: {journal}" in text


def test_a_cycles_summary_reads_as_one_line() -> None:
    ok = {"cycleId": "abc", "ok": True, "durationSeconds": 12.34, "connectDowntimeSeconds": 1.5,
          "stopped": ["a", "b"], "snapshot": {"name": "alpha.0", "files": 3, "bytes": 3 << 20,
          "engine": "gocryptfs"}}  # fmt: skip
    assert describe_cycle(ok) == (
        "cycle abc OK in 12.3s: snapshot alpha.0: 3 files, 3.0 MiB (gocryptfs); Connect down "
        "1.5s (connectors a, b)"
    )
    failed = {"cycleId": "def", "ok": False, "aborted": False, "durationSeconds": 2.0,
              "step": "backup", "cause": "target_not_mounted", "error": "no NFS",
              "fix": "mount it"}  # fmt: skip
    assert describe_cycle(failed) == (
        "cycle def FAILED in 2.0s, in step backup (target_not_mounted): no NFS (fix: mount it)"
    )


def test_the_last_drill_is_in_the_status(tmp_path: Path) -> None:
    from kafka_connect_backup.inspect.drill_record import DrillRecord, save_drill

    cfg = config(tmp_path)
    assert status.collect(cfg, admin=None, now=NOW)["lastDrill"] is None
    failed = DrillRecord(
        NOW - 30, False, NOW - 86400, topics=("orders",), error="read back 9 of 10"
    )
    assert save_drill(cfg, failed)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert doc["lastDrill"] == {
        "time": "2026-03-14T11:59:30Z", "ok": False, "skipped": False, "snapshot": "alpha.0",
        "topics": ["orders"], "lastSuccess": "2026-03-13T12:00:00Z",
        "error": "read back 9 of 10",
    }  # fmt: skip
    assert "last drill:   2026-03-14T11:59:30Z on alpha.0, FAILED: read back 9 of 10" in (
        status.render(doc)
    )
    idle = DrillRecord(NOW - 20, True, NOW - 20, topics=("orders",), skipped=True)
    assert save_drill(cfg, idle)
    assert (
        "last drill:   2026-03-14T11:59:40Z on alpha.0, skipped (every topic idle: no record "
        "in the snapshot)"
    ) in status.render(status.collect(cfg, admin=None, now=NOW))


def test_the_last_verify_is_in_the_status_and_the_metrics(tmp_path: Path) -> None:
    from kafka_connect_backup.layout.names import VERIFY_NAME
    from kafka_connect_backup.supervisor.daemon import Supervisor

    cfg = config(tmp_path)
    supervisor = Supervisor(cfg, http=False)
    supervisor._observe_verify()  # no record yet: -1
    assert supervisor.metrics.verify_last_result._value.get() == -1
    body = {"finishedAt": NOW - 10, "ok": False, "deep": True, "snapshots": ["alpha.0"],
            "problems": 2}  # fmt: skip
    (tmp_path / VERIFY_NAME).write_text(json.dumps(body))
    supervisor._observe_verify()
    metrics = supervisor.metrics
    assert metrics.verify_last_result._value.get() == 0
    assert metrics.verify_problems._value.get() == 2
    assert metrics.verify_last_end._value.get() == NOW - 10
    doc = status.collect(cfg, admin=None, now=NOW)
    assert doc["lastVerify"] == {
        "time": "2026-03-14T11:59:50Z", "ok": False, "deep": True, "snapshots": ["alpha.0"],
        "problems": 2,
    }  # fmt: skip
    assert "last verify --deep: 2026-03-14T11:59:50Z of alpha.0: 2 problems" in status.render(doc)


def test_at_a_new_period_the_newest_record_is_the_previous_files(tmp_path: Path) -> None:
    """The 1st of a month: the new month's file has no record yet (or does not exist), so the
    newest record is the last one of the previous month's file."""
    cfg = config(tmp_path)
    (tmp_path / "orders-sink-2026-01.sink").write_text('{"utcTime":"2026-01-31T23:00:00Z"}\n')
    (tmp_path / "orders-sink-2026-02.sink").write_text('{"utcTime":"2026-02-28T23:59:00Z"}\n')
    (tmp_path / "orders-sink-2026-02.sink-1772000000.gz").write_bytes(b"not read")
    [topic] = status.collect(cfg, admin=None, now=NOW)["topics"]
    assert topic["newest_record_time"] == "2026-02-28T23:59:00Z"
    assert topic["current_file"] == str(tmp_path / "orders-sink-2026-03.sink")
    (tmp_path / "orders-sink-2026-03.sink").write_text("")  # created, nothing in it yet
    [topic] = status.collect(cfg, admin=None, now=NOW)["topics"]
    assert topic["newest_record_time"] == "2026-02-28T23:59:00Z"


def test_nothing_observed_ends_the_status_or_the_supervisor(tmp_path: Path, monkeypatch) -> None:
    """A file or an answer the observation did not expect is the topic's error in the document,
    an error event and a failure count in the daemon, a 500 answer from GET /status: never an
    exception that drops the connection or ends the supervisor's loop."""
    import requests

    from kafka_connect_backup.supervisor.daemon import Supervisor
    from kafka_connect_backup.supervisor.health import HealthServer
    from supervisor_helpers import LogCapture

    def unexpected(*_args: object) -> None:
        raise RuntimeError("something new")

    cfg = config(tmp_path)
    monkeypatch.setattr(status, "topic_status", unexpected)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert doc["errors"] == ["orders: not observed (RuntimeError: something new); please report it"]
    assert doc["topics"][0]["newest_record_time"] is None
    assert "error: orders: not observed (RuntimeError: something new)" in status.render(doc)

    logs = LogCapture()
    supervisor = Supervisor(cfg, http=False)
    monkeypatch.setattr(supervisor.drills, "refresh", unexpected)
    supervisor._observe(supervisor.drills.refresh, supervisor._observe_verify)  # no raise
    [event] = logs.events("observe.error")
    assert (event["what"], event["error"]) == ("unexpected", "RuntimeError: something new")
    failures = {"cause": "unexpected", "step": "observe"}
    assert supervisor.metrics.registry.get_sample_value("kcb_failures_total", failures) == 1

    monkeypatch.setattr(supervisor, "backup_status", unexpected)
    server = HealthServer("127.0.0.1", 0, supervisor, supervisor.metrics).start()
    try:
        answer = requests.get(f"http://127.0.0.1:{server.port}/status", timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 500
    assert answer.json()["error"] == ("the status could not be read (RuntimeError: something new)")


def test_a_corrupt_state_file_is_unhealthy_and_named(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (tmp_path / STATE_NAME).write_text('{"lastCycleEnd": 17734896')  # torn by a full disk
    doc = status.collect(cfg, admin=None, now=NOW)
    assert not doc["healthy"]
    assert doc["reason"].startswith(
        f"the supervisor's state file {tmp_path / STATE_NAME} is unreadable (JSONDecodeError: "
    )
    assert doc["reason"].endswith(
        "the last cycle and success are unknown (fix: the supervisor rewrites it at its next "
        "cycle; `kcb backup-now` runs one now)"
    )
    assert status.render(doc).startswith("backup: UNHEALTHY: the supervisor's state file ")


def test_a_missing_sink_path_is_unhealthy(tmp_path: Path) -> None:
    cfg = config(tmp_path / "not-mounted")
    save(tmp_path)  # a good last cycle elsewhere changes nothing
    doc = status.collect(cfg, admin=None, now=NOW)
    assert not doc["healthy"]
    assert doc["reason"] == (
        f"sinkPath {tmp_path / 'not-mounted'} does not exist or is not a directory (fix: mount "
        "the data volume there (the connect container writes the sink files to it), or "
        "correct sinkPath in the config)"
    )


def test_without_a_supervisor_the_files_status_is_unhealthy(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    save(tmp_path)
    doc = status.collect(cfg, admin=None, now=NOW)
    assert doc["healthy"]
    status.without_supervisor(cfg, doc, "http://127.0.0.1:9404")
    assert not doc["healthy"]
    assert doc["reason"] == (
        f"no supervisor is running on the data volume {tmp_path}: nothing backs up until one "
        "starts (fix: start it; kcb supervise, or check the supervisor container's log)"
    )
    # One running beside the files (metrics.port 0): its health stands, and who runs is said.
    lock = volume_lock.acquire(cfg, "a supervisor")
    try:
        doc = status.collect(cfg, admin=None, now=NOW)
        status.without_supervisor(cfg, doc, None)
        assert doc["healthy"]
        running = (
            f"no supervisor answers at (metrics.port 0) (pid {os.getpid()} runs on the data "
            "volume): read from the files"
        )
        assert doc["errors"] == [running]
    finally:
        lock.release()


def test_the_volume_lock_refuses_a_second_holder_by_pid(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first = volume_lock.acquire(cfg, "a supervisor")
    try:
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(volume_lock.SupervisorRunning) as refused:
            volume_lock.acquire(cfg, "a local cycle (--local)")
        assert refused.value.message == (
            f"another supervisor (pid {os.getpid()}) is running on the data volume {tmp_path} "
            f"(it holds {tmp_path / LOCK_NAME}): not starting a local cycle "
            "(--local) beside it"
        )
        assert volume_lock.holder(cfg) == str(os.getpid())
    finally:
        first.release()
    assert volume_lock.holder(cfg) is None
    volume_lock.acquire(cfg, "a supervisor").release()  # free again
    with pytest.raises(volume_lock.SinkPathMissing):
        volume_lock.acquire(config(tmp_path / "gone"), "a supervisor")


def test_every_key_is_camel_case_and_the_old_topic_keys_stay_one_release(tmp_path: Path) -> None:
    """`kcb status --json` uses camelCase throughout; a topic's snake_case keys of the release
    before are still written beside them, with the same values, until the next release."""
    cfg = config(tmp_path)
    live = tmp_path / "orders-sink-2026-03.sink"
    live.write_text('{"utcTime":"2026-03-14T11:30:00Z"}\n')
    [topic] = status.collect(cfg, admin=None, now=NOW)["topics"]
    assert {
        "topic": "orders",
        "connector": "orders-sink",
        "group": "connect-orders-sink",
        "lagRecords": None,
        "newestRecordTime": "2026-03-14T11:30:00Z",
        "newestRecordAgeSeconds": 1800,
        "files": 1,
        "bytes": live.stat().st_size,
        "currentFile": str(live),
    }.items() <= topic.items()
    deprecated = {
        "lag_records": "lagRecords",
        "newest_record_time": "newestRecordTime",
        "newest_record_age_seconds": "newestRecordAgeSeconds",
        "current_file": "currentFile",
    }
    assert deprecated == status.DEPRECATED_TOPIC_KEYS
    assert {old: topic[old] for old in deprecated} == {
        old: topic[new] for old, new in deprecated.items()
    }
    assert set(topic) == {
        *deprecated,
        *deprecated.values(),
        "topic",
        "connector",
        "group",
        "files",
        "bytes",
        "recoveryPoint",  # issue 27: null until a backup measured it
    }
