"""`kcb drill` against the real broker and the real encrypted backup (gocryptfs, rsnapshot): the
newest records of a topic in alpha.0 restored into a scratch topic and read back exactly; a
damaged ciphertext, a truncated .gz and a record too large for the scratch topic fail it,
naming the file or the cause; the scratch topic never outlives the drill; the result is kept
for the supervisor's metrics; the supervisor drills after a successful cycle when one is due."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.config import load_config
from kafka_connect_backup.inspect.drill import run_drill
from kafka_connect_backup.inspect.drill_record import load_last_drill
from kafka_connect_backup.layout.names import DRILL_NAME
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_connect_backup.supervisor.drills import ScheduledDrills
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import wait_running
from local_config import local_config, write_config
from storage_helpers import PASSWORD, StorageEnv, fuse_mounts, storage_env
from supervisor_helpers import LogCapture, delete_connectors, held_now, make_config, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration

NOVEMBER = "orders-sink-2026-11.sink"
OCTOBER_GZ = "orders-sink-2026-10.sink-1790000000.gz"
OCTOBER_LINE = '{"utcTime": "2026-10-31T23:59:59Z", "n": -1}'
NOVEMBER_LINES = [json.dumps({"utcTime": f"2026-11-01T00:00:{i:02d}Z", "n": i}) for i in range(50)]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as created:
        yield created


def sha256_of(lines: list[str]) -> str:
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


def drill_topics(broker: Any) -> list[str]:
    return sorted(t for t in broker.admin().list_topics(timeout=10).topics if "kcb-drill-" in t)


def backed_up(env: StorageEnv, bootstrap: str) -> Path:
    """orders' October (.gz, 1 record) and November (50) files in alpha.0 of a gocryptfs
    backup; the config file of the pod (backup enabled, this broker)."""
    (env.sink / NOVEMBER).write_text("".join(f"{line}\n" for line in NOVEMBER_LINES))
    (env.sink / OCTOBER_GZ).write_bytes(gzip.compress(f"{OCTOBER_LINE}\n".encode()))
    data = env.config_data(engine="gocryptfs")
    data["kafka"] = {"bootstrapServers": bootstrap}
    path = write_config(env.root / "config.yaml", data)
    backup_snapshot(load_config(path))
    return path


def drill_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = kcb(["drill", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in the metrics"
    return float(found.group(1))


def test_a_drill_restores_the_newest_records_exactly_and_leaves_no_scratch_topic(
    env: StorageEnv, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = backed_up(env, kafka_broker.bootstrap)
    # The live file changes after the backup: the drill must sample the snapshot.
    (env.sink / NOVEMBER).write_text('{"utcTime": "2026-11-30T00:00:00Z"}\n')
    capsys.readouterr()
    started = time.time()

    code, report, err = drill_json(capsys, "--config", str(path), "--records", "20")
    assert code == 0, report
    [orders] = report["topics"]
    assert orders["ok"] is True and orders["error"] is None
    assert (orders["read"], orders["records"], orders["readBack"]) == (51, 20, 20)
    assert orders["snapshotSha256"] == sha256_of(NOVEMBER_LINES[-20:])
    assert orders["readBackSha256"] == orders["snapshotSha256"] and orders["hashMatch"] is True
    assert [Path(f).name for f in orders["files"]] == [OCTOBER_GZ, NOVEMBER]
    assert orders["files"][0].startswith("alpha.0/localhost/")
    assert re.fullmatch(r"kcb-drill-orders-\d{10}", orders["scratchTopic"])
    assert report["mountedFrom"] == str(env.target)
    assert drill_topics(kafka_broker) == []
    assert fuse_mounts(env) == []
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    passed = [e for e in events if e["event"] == "drill.passed"]
    assert len(passed) == 1 and passed[0]["records"] == 20 and passed[0]["topics"] == ["orders"]
    assert PASSWORD not in err

    record = load_last_drill(load_config(path))
    assert record is not None and record.ok is True and record.error is None
    assert record.topics == ("orders",) and record.snapshot == "alpha.0"
    assert started <= record.finished_at <= time.time()
    assert record.last_success == record.finished_at
    assert json.loads((env.sink / DRILL_NAME).read_text())["results"][0]["records"] == 20

    # More records asked than the snapshot holds: all 51, the .gz's first, in file order.
    code = kcb(["drill", "--config", str(path), "--records", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"sha256 {sha256_of([OCTOBER_LINE, *NOVEMBER_LINES])[:16]} matches" in out
    assert "  orders: passed, 51 records (newest of 51 in 2 files) restored and read back" in out
    assert out.splitlines()[-1].startswith("drill PASSED: 1 of 1 topics restored exactly (")
    assert drill_topics(kafka_broker) == []

    # The supervisor's metrics read the record; a drill after it is counted.
    metrics = Metrics()
    drills = ScheduledDrills(load_config(path), metrics)
    assert metric(metrics.render().decode(), "kcb_drill_last_result") == -1
    drills.refresh()
    text = metrics.render().decode()
    last = load_last_drill(load_config(path))
    assert last is not None
    assert metric(text, "kcb_drill_last_result") == 1
    assert metric(text, "kcb_drill_last_success_timestamp_seconds") == last.finished_at
    assert 'kcb_drills_total{result="passed"}' not in text  # the one there at start
    assert kcb(["drill", "--config", str(path), "--records", "5"]) == 0
    drills.refresh()
    drills.refresh()  # the same record again is not counted twice
    assert 'kcb_drills_total{result="passed"} 1.0' in metrics.render().decode()


def test_a_damaged_ciphertext_fails_the_drill_naming_the_file(
    env: StorageEnv, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = backed_up(env, kafka_broker.bootstrap)
    assert kcb(["drill", "--config", str(path)]) == 0
    first = load_last_drill(load_config(path))
    assert first is not None and first.ok
    # The November file's ciphertext is the largest file of the volume: flip one byte of it.
    cipher = max(
        (p for p in env.target.rglob("*") if p.is_file() and p.name != "gocryptfs.conf"),
        key=lambda p: p.stat().st_size,
    )
    stamp = cipher.stat()
    data = bytearray(cipher.read_bytes())
    data[len(data) // 2] ^= 0x01
    cipher.write_bytes(bytes(data))
    # Bit rot keeps the mtime: the snapshot still matches its completeness marker, so only
    # reading the damaged block finds it.
    os.utime(cipher, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    metrics = Metrics()
    drills = ScheduledDrills(load_config(path), metrics)
    drills.refresh()
    capsys.readouterr()

    code, report, err = drill_json(capsys, "--config", str(path))
    assert code == 1
    [orders] = report["topics"]
    assert orders["ok"] is False and orders["readBack"] == 0
    assert orders["error"] == f"cannot read alpha.0/localhost/{NOVEMBER}: Input/output error"
    assert orders["scratchTopic"] == ""  # nothing was created: the snapshot failed first
    assert drill_topics(kafka_broker) == []
    assert fuse_mounts(env) == []
    failed = [json.loads(x) for x in err.splitlines() if '"drill.failed"' in x]
    assert len(failed) == 1 and failed[0]["failed"] == ["orders"]
    assert failed[0]["error"] == f"orders: {orders['error']}"

    record = load_last_drill(load_config(path))
    assert record is not None and record.ok is False
    assert record.error == f"orders: {orders['error']}"
    assert record.last_success == first.finished_at  # the last passing drill is kept
    drills.refresh()
    text = metrics.render().decode()
    assert metric(text, "kcb_drill_last_result") == 0
    assert metric(text, "kcb_drill_last_success_timestamp_seconds") == first.finished_at
    assert 'kcb_drills_total{result="failed"} 1.0' in text

    # The readable form names the topic and the file too.
    assert kcb(["drill", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "  orders: FAILED, cannot read alpha.0/localhost/" in out
    assert out.splitlines()[-1].startswith("drill FAILED: 0 of 1 topics restored exactly")


def test_a_plain_tree_with_a_truncated_gz_and_an_oversized_record_fails_and_cleans_up(
    tmp_path: Path, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    orders, payments = f"orders-{tag}", f"payments-{tag}"
    live = tmp_path / "filesink"
    live.mkdir()
    localhost = tmp_path / "snapshots" / "alpha.0" / "localhost" / "data" / "filesink"
    localhost.mkdir(parents=True)
    whole = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(2000)))
    (localhost / f"{orders}-sink-2026-10.sink-1790000000.gz").write_bytes(whole[: len(whole) // 2])
    (localhost / f"{orders}-sink-2026-11.sink").write_text('{"n": 2000}\n')
    big = '{"blob": "' + "x" * 1_200_000 + '"}'
    (localhost / f"{payments}-sink-2026-11.sink").write_text(f'{{"n": 1}}\n{big}\n')
    empty = f"empty-{tag}"
    (localhost / f"{empty}-sink-2026-11.sink").write_text('{"torn": ')  # no complete line
    path = write_config(
        tmp_path / "config.yaml",
        local_config(
            topics=[orders, payments, empty],
            sink_name="sink",
            sink_path=live,
            bootstrap_servers=kafka_broker.bootstrap,
        ),
    )
    root = tmp_path / "snapshots"

    code, report, _ = drill_json(capsys, "--config", str(path), "--snapshot-root", str(root))
    assert code == 1
    first, second, third = report["topics"]
    assert first["topic"] == orders and first["ok"] is False
    assert first["error"] == (
        f"cannot read alpha.0/localhost/data/filesink/{orders}-sink-2026-10.sink-1790000000.gz: "
        "Compressed file ended before the end-of-stream marker was reached"
    )
    # payments failed after its scratch topic was created: it is deleted all the same.
    assert second["topic"] == payments and second["ok"] is False
    assert second["scratchTopic"].startswith(f"kcb-drill-{payments}-")
    assert second["error"].startswith(
        f"a record of {len(big)} bytes in the sample is larger than scratch topic "
        f"{second['scratchTopic']} takes (max.message.bytes "
    )
    assert third["error"] == (
        f"alpha.0 holds no complete record of {empty} (1 files): nothing to restore"
    )
    assert drill_topics(kafka_broker) == []
    record = json.loads((live / DRILL_NAME).read_text())
    assert record["ok"] is False and record["lastSuccess"] == 0
    assert record["topics"] == [orders, payments, empty]

    # A shutdown before a topic's turn: the drill stops there, and is not kept.
    aborted = run_drill(load_config(path), snapshot_root=root, should_abort=lambda: True)
    assert (aborted.aborted, aborted.ok, aborted.topics) == (True, False, [])
    assert aborted.render().endswith("(aborted: shutdown requested)")

    # One topic alone, and the sample within the good part: still fails (every file is read).
    code, report, _ = drill_json(
        capsys, "--config", str(path), "--snapshot-root", str(root), "--topic", orders,
        "--records", "1",
    )  # fmt: skip
    assert code == 1 and [t["topic"] for t in report["topics"]] == [orders]


def test_bad_input_and_an_unreadable_backup_exit_2(
    env: StorageEnv, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = backed_up(env, kafka_broker.bootstrap)
    capsys.readouterr()
    assert kcb(["drill", "--config", str(path), "--topic", "nope"]) == 2
    assert capsys.readouterr().err == (
        "kcb: error: --topic nope is not a topic of this release (topics: orders)\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        kcb(["drill", "--config", str(path), "--records", "0"])
    assert exit_info.value.code == 2
    assert "'0' is not a number of records from 1 to 1000000" in capsys.readouterr().err
    assert not (env.sink / DRILL_NAME).exists()  # bad arguments are not a drill

    code, report, _ = drill_json(capsys, "--config", str(path), "--snapshot", "alpha.4")
    assert code == 2
    assert report["error"].startswith("snapshot alpha.4 not found in ")
    assert report["error"].endswith("(snapshots: alpha.0)")
    assert report["topics"] == []

    env.password_file.write_text("not the password\n")
    code, report, err = drill_json(capsys, "--config", str(path))
    assert code == 2
    assert report["error"].startswith(
        f"cannot read snapshots: mounting the encrypted backup {env.target}"
    )
    assert "wrong password for the gocryptfs volume" in report["error"]
    assert "not the password" not in err
    assert kcb(["drill", "--config", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("  not run: cannot read snapshots: mounting the encrypted backup")
    assert out[2].startswith("drill FAILED: 0 of 0 topics restored exactly")
    record = load_last_drill(load_config(path))
    assert record is not None and record.ok is False  # the backup cannot be restored as is
    assert record.error == report["error"]
    assert fuse_mounts(env) == []
    assert drill_topics(kafka_broker) == []


def test_the_supervisor_drills_after_a_successful_cycle_when_one_is_due(
    kafka_broker: Any, connect_worker: Any, create_topic: Any, tmp_path: Path
) -> None:
    topic = create_topic(f"drilled-{uuid.uuid4().hex[:8]}", 1)
    sink = sink_name()
    logs = LogCapture()
    with storage_env(tmp_path) as env:
        config = make_config(
            topics=[topic],
            sink=sink,
            sink_path=env.sink,
            connect_url=connect_worker.url,
            bootstrap_servers=kafka_broker.bootstrap,
            backup=env.backup(engine="gocryptfs", drill={"enabled": True, "records": 25}),
        )
        supervisor = Supervisor(config, http=False, clock=held_now())
        loop = threading.Thread(target=supervisor.run, daemon=True)
        loop.start()
        try:
            wait_running(connect_worker.url, [f"{topic}-{sink}"], timeout=60)
            lines = produce_json(
                kafka_broker.bootstrap,
                topic,
                [{"id": i, "utcTime": "2026-11-01"} for i in range(40)],
            )
            assert len(wait_for_lines(sorted(env.sink.glob("*.sink")), 40)) == 40
            first = supervisor.request_cycle(wait=True, timeout=300)
            assert first["cycle"]["ok"] is True, first
            eventually(
                lambda: (load_last_drill(config), supervisor.status()["drillInProgress"]),
                "a finished drill after the cycle",
                timeout=120,
                until=lambda seen: seen[0] is not None and not seen[1],
            )
            second = supervisor.request_cycle(wait=True, timeout=300)  # no drill: not due
            assert second["cycle"]["ok"] is True, second
            time.sleep(1.0)
            text = supervisor.metrics.render().decode()
        finally:
            supervisor.request_stop()
            loop.join(120)
            delete_connectors(connect_worker.url, f"-{sink}")

    record = load_last_drill(config)
    assert record is not None and record.ok is True, record
    assert record.results[0]["records"] == 25
    assert record.results[0]["snapshotSha256"] == sha256_of(lines[-25:])
    names = [e["event"] for e in logs.events()]
    assert names.count("drill.start") == 1 and names.count("drill.passed") == 1
    assert names.count("cycle.done") == 2
    # After the first cycle was over (connectors resumed), before the second began.
    assert (
        names.index("connectors.resumed")
        < names.index("cycle.done")
        < names.index("drill.start")
        < names.index("drill.passed")
    )
    assert names.index("drill.passed") < [i for i, n in enumerate(names) if n == "cycle.start"][1]
    assert metric(text, "kcb_drill_last_result") == 1
    assert 'kcb_drills_total{result="passed"} 1.0' in text
    assert drill_topics(kafka_broker) == []


def test_an_idle_topic_is_skipped_and_said_so_not_failed(
    tmp_path: Path, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    orders, idle = f"orders-{tag}", f"idle-{tag}"
    live = tmp_path / "filesink"
    live.mkdir()
    localhost = tmp_path / "snapshots" / "alpha.0" / "localhost" / "data" / "filesink"
    localhost.mkdir(parents=True)
    (localhost / f"{orders}-sink-2026-11.sink").write_text('{"n": 1}\n{"n": 2}\n')
    (localhost / f"{idle}-sink-2026-11.sink").write_text("")  # created by Connect, no record
    root = tmp_path / "snapshots"

    def config(*topics: str) -> Path:
        data = local_config(
            topics=list(topics),
            sink_name="sink",
            sink_path=live,
            bootstrap_servers=kafka_broker.bootstrap,
        )
        return write_config(tmp_path / "config.yaml", data)

    # Only the idle topic: a distinct result, exit 0, nothing created, no alert.
    path = config(idle)
    code, report, _ = drill_json(capsys, "--config", str(path), "--snapshot-root", str(root))
    assert code == 0
    assert (report["ok"], report["result"]) == (True, "skipped")
    [topic] = report["topics"]
    assert topic["skipped"] == (
        f"alpha.0 holds no record of {idle} (1 empty files): nothing to drill (an idle topic)"
    )
    assert topic["error"] is None and topic["scratchTopic"] == ""
    assert drill_topics(kafka_broker) == []
    record = load_last_drill(load_config(path))
    assert record is not None and record.ok and record.skipped
    metrics = Metrics()
    ScheduledDrills(load_config(path), metrics).refresh()
    assert metric(metrics.render().decode(), "kcb_drill_last_result") == 2.0
    assert kcb(["drill", "--config", str(path), "--snapshot-root", str(root)]) == 0
    lines = [re.sub(r" \(\d+\.\ds\)$", "", line) for line in capsys.readouterr().out.splitlines()]
    said = (
        f"  {idle}: skipped, alpha.0 holds no record of {idle} (1 empty files): nothing to "
        "drill (an idle topic)"
    )
    assert lines[1:] == [
        said,
        "drill SKIPPED: 0 of 1 topics restored exactly, 1 skipped (no record in the snapshot)",
    ]

    # Beside a topic with records: that one is drilled, the idle one skipped, the drill passes.
    path = config(orders, idle)
    code, report, _ = drill_json(capsys, "--config", str(path), "--snapshot-root", str(root))
    assert code == 0 and report["result"] == "passed"
    assert [(t["topic"], t["records"], t["skipped"] is None) for t in report["topics"]] == [
        (orders, 2, True),
        (idle, 0, False),
    ]
    assert drill_topics(kafka_broker) == []
