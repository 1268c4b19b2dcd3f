#!/usr/bin/env python3
"""Benchmark of the backup cycle (design §7): Connect downtime and supervisor overhead per cycle.

On the real local stack: one topic sunk by Connect (its current-period file grows through Kafka
between cycles) plus older, immutable sink files written directly, for `--size-mb` in total.
The backup goes through real encfs and rsnapshot into a target directory on local disk, once
with the staged snapshot (Connect resumed right after the stop) and once with the connectors
stopped during the whole snapshot (the original's way), each into its own new volume.

Printed per cycle: cycle wall time, Connect downtime (first stop .. every task RUNNING again),
the backup step (mount .. rsnapshot .. verify .. unmount), rsnapshot's own time, and the
supervisor overhead = cycle time - rsnapshot time. A number printed is a number measured.

    .tools/venv/bin/python scripts/bench_cycle.py --size-mb 1024 --cycles 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from kafka_connect_backup.config import parse_config
from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.logs import configure_logging
from kafka_connect_backup.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor.cycle import Cycle, CycleResult
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import KafkaStack

RECORD_BYTES = 300
PASSWORD = "bench-password-not-secret"


def _line(i: int) -> bytes:
    body = json.dumps({"id": i, "utcTime": "2026-01-01T00:00:00Z", "pad": ""})
    pad = "x" * max(0, RECORD_BYTES - 1 - len(body))
    return json.dumps({"id": i, "utcTime": "2026-01-01T00:00:00Z", "pad": pad}).encode() + b"\n"


def write_old_files(sink: Path, topic: str, sink_name: str, count: int, total: int) -> int:
    """`count` immutable sink files of earlier months, `total` bytes together."""
    chunk = b"".join(_line(i) for i in range(3500))  # ~1 MB of distinct lines
    written = 0
    for n in range(count):
        period = f"2025-{(n % 12) + 1:02d}" if n < 12 else f"{2024 - n // 12}-{(n % 12) + 1:02d}"
        path = sink_file(sink, topic, sink_name, period)
        size = total // count
        with path.open("wb") as handle:
            while handle.tell() < size:
                handle.write(chunk)
            written += handle.tell()
    return written


def produce(bootstrap: str, topic: str, count: int, start: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for i in range(start, start + count):
        while True:
            try:
                producer.produce(topic, _line(i).rstrip(b"\n"))
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def wait_size(path: Path, lines: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= lines * RECORD_BYTES:
            return
        time.sleep(0.5)
    raise SystemExit(f"{path} did not reach {lines} lines in {timeout}s")


def row(label: str, result: CycleResult) -> dict[str, Any]:
    snap = result.snapshot
    rsnapshot = snap.rsnapshot_seconds if snap else 0.0
    return {
        "cycle": label,
        "ok": result.ok,
        "staged": result.staged,
        "cycleSeconds": round(result.duration_seconds, 2),
        "connectDowntimeSeconds": round(result.connect_downtime_seconds or 0, 2),
        "backupStepSeconds": round(snap.seconds, 2) if snap else None,
        "rsnapshotSeconds": round(snap.rsnapshot_seconds, 2) if snap else None,
        "overheadSeconds": round(result.duration_seconds - rsnapshot, 2),
        "files": snap.files if snap else None,
        "megabytes": round(snap.bytes / 1e6, 1) if snap else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="sink files in total")
    parser.add_argument("--old-files", type=int, default=9, help="immutable older files")
    parser.add_argument("--live-records", type=int, default=100_000, help="per round, via Kafka")
    parser.add_argument("--cycles", type=int, default=3, help="per mode")
    parser.add_argument("--work", type=Path, help="work directory (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--log", type=Path, help="write the supervisor's JSON events here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="kcb-bench-cycle-"))
    work.mkdir(parents=True, exist_ok=True)
    sink, secret = work / "sink", work / "secret"
    for directory in (sink, secret):
        directory.mkdir(exist_ok=True)
    (secret / "password").write_text(PASSWORD + "\n")
    log_file = args.log.open("w") if args.log else None
    configure_logging("INFO" if log_file else "WARNING", stream=log_file)
    topic, sink_name = "bench", "bench-sink"
    live_bytes = args.live_records * RECORD_BYTES * args.cycles * 2
    old_total = max(0, args.size_mb * 1_000_000 - live_bytes)
    results: list[dict[str, Any]] = []
    with KafkaStack(work / "stack") as stack:
        stack.broker.create_topic(topic, 1)
        data: dict[str, Any] = {
            "topics": [topic],
            "sinkName": sink_name,
            "sinkPath": str(sink),
            "compressAfterDays": 100000,  # compression is benchmarked on its own
            "connect": {"url": stack.connect_url},
        }

        def backup_to(name: str) -> dict[str, Any]:
            (work / name / "target").mkdir(parents=True, exist_ok=True)
            (work / name / "plain").mkdir(parents=True, exist_ok=True)
            return {
                "enabled": True,
                "engine": "encfs",
                "retention": 3,
                "passwordFile": str(secret / "password"),
                "targetDir": str(work / name / "target"),
                "mountPoint": str(work / name / "plain"),
                "requireTargetMount": False,
                "allowInit": True,
                "workDir": str(work / name / "kcb"),
            }

        nobackup = parse_config(data)
        written = write_old_files(sink, topic, sink_name, args.old_files, old_total)
        client = ConnectClient(stack.connect_url)
        period = period_of(datetime.now(UTC), nobackup.sink_rotation)
        Reconciler(nobackup, client).reconcile(period)
        live = sink_file(sink, topic, sink_name, period)
        metrics = Metrics()
        print(f"work dir {work}; older files {written / 1e6:.0f} MB in {args.old_files} files; "
              f"{args.live_records} records ({args.live_records * RECORD_BYTES / 1e6:.0f} MB) "
              "through Kafka before each cycle", flush=True)  # fmt: skip
        produced = 0
        # Each mode backs up into its own new encrypted volume: its first cycle is cold.
        for mode, stage in (("staged", True), ("stopped", False)):
            config = parse_config({**data, "backup": backup_to(mode)})
            for n in range(args.cycles):
                produce(stack.bootstrap, topic, args.live_records, produced)
                produced += args.live_records
                wait_size(live, produced)
                result = Cycle(config, client, metrics, stage=stage).run()
                results.append(row(f"{mode} {n + 1}{' (cold)' if n == 0 else ''}", result))
                print(json.dumps(results[-1]), flush=True)
        for n in range(2):
            result = Cycle(nobackup, client, metrics).run()
            results.append(row(f"no backup {n + 1}", result))
            print(json.dumps(results[-1]), flush=True)
        assert connector_names(nobackup) == [f"{topic}-{sink_name}"]
        client.close()
    print()
    header = ("cycle", "cycleSeconds", "connectDowntimeSeconds", "backupStepSeconds",
              "rsnapshotSeconds", "overheadSeconds", "files", "megabytes")  # fmt: skip
    print(" | ".join(header))
    for r in results:
        print(" | ".join(str(r[h]) for h in header))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
