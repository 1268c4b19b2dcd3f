#!/usr/bin/env python3
"""Benchmark (not a test): records/s of restore.py against Kafka's own producers, side by side
on the local stack, one run, the same file.

  1. restore.py with the time filter on (every line parsed and compared; the from-time is the
     first record's, so all records are sent and every tool sends the same number);
  2. kafka-console-producer (org.apache.kafka.tools.ConsoleProducer) fed the same lines;
  3. kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance) with the same record
     size and acks=all: the broker's ceiling as the issue defines it; and, for reference, the
     same tool with restore.py's producer settings and the file's own lines as payloads.

Each run is acks=all into its own fresh single-partition topic, after a warm-up run that brings
the broker's JIT up to speed. restore.py runs with its defaults (no compression, like the two
Kafka tools). restore.py and the console
producer are timed as whole processes (start-up, reading, sending, waiting for the last ack);
the perf test's own "records/sec" is used (it excludes its JVM start-up: a generous ceiling).

Each tool runs --repeat times (default 3), interleaved, and its median run is reported: this
machine is shared, and a single run can land on a busy moment.

Usage: bench_restore.py [--records N] [--repeat N] [--work-dir DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka_connect_backup.kafka.producer import THROUGHPUT_SETTINGS
from kafka_stack import Broker, run_kafka_tool, start_broker

ROOT = Path(__file__).resolve().parents[1]
RESTORE = ROOT / "scripts" / "restore.py"
START = datetime(2021, 1, 1, tzinfo=UTC)
TARGET_CONSOLE_RATIO = 1.5
TARGET_CEILING_RATIO = 0.8
# The commit before the restore's scan helper and phase timings (issue 15): run side by side.
BEFORE = "17e5bea"


def write_records(path: Path, count: int, size: int = 300) -> float:
    """`count` JSON lines of about `size` bytes with utcTime; returns the mean line length."""
    rng = random.Random(7)
    actions = ["click", "view", "purchase", "login", "logout"]
    total = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            moment = START + timedelta(milliseconds=i * 1500)
            head = (
                f'{{"id":{i},"utcTime":"{moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}Z",'
                f'"user":"user-{rng.randrange(100000):06d}","action":"{rng.choice(actions)}",'
                f'"amount":{rng.randrange(100000) / 100},"payload":"'
            )
            pad = max(0, size - 1 - len(head) - 2)
            line = f'{head}{rng.getrandbits(pad * 4):0{pad}x}"}}\n'
            handle.write(line)
            total += len(line)
    return total / count - 1  # without the newline


def compile_bytecode() -> None:
    """Compile the package's bytecode, as the image does (UV_COMPILE_BYTECODE=1): in a shell
    with PYTHONDONTWRITEBYTECODE set, each restore.py start would compile it again."""
    source = ROOT / "images" / "backup" / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True)


def end_offset(broker: Broker, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-probe"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def before_tree(work: Path, revision: str = BEFORE) -> Path | None:
    """The package as it was at `revision` (git archive), compiled, or None without git."""
    target = work / f"package-{revision}"
    if not (target / "images" / "backup" / "src").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "images/backup/src"],
            capture_output=True, check=False,
        )  # fmt: skip
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    source = target / "images" / "backup" / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True)
    return source


def bench_restore(
    broker: Broker, topic: str, data: Path, work: Path, package: Path | None = None
) -> dict[str, Any]:
    summary = work / "restore-summary.json"
    env = dict(os.environ)
    if package is not None:  # that tree's package first on the path
        env["PYTHONPATH"] = str(package)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable, str(RESTORE), topic, broker.bootstrap, str(data),
            START.strftime("%Y-%m-%dT%H:%M"), "--yes", "--summary-json", str(summary),
        ],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"restore.py failed ({result.returncode}): {result.stderr}")
    report = json.loads(summary.read_text())
    # Without phase_seconds (an older restore.py) only the send is known.
    phases = {
        k: float(v) for k, v in report.get("phase_seconds", {"send": report["seconds"]}).items()
    }
    # Start-up: the interpreter and the imports, before restore.py's main() (the rest of the
    # process's wall time is in its own phases).
    phases = {"start-up": max(0.0, seconds - sum(phases.values())), **phases}
    return {
        "seconds": seconds,
        "records": report["delivered"],
        "send_seconds": report["seconds"],
        "phases": phases,
    }


def bench_console(broker: Broker, topic: str, data: Path) -> dict[str, Any]:
    started = time.monotonic()
    result = run_kafka_tool(
        "org.apache.kafka.tools.ConsoleProducer",
        ["--bootstrap-server", broker.bootstrap, "--topic", topic],  # acks=-1 by default
        stdin_file=data,
        timeout=3600,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"console producer failed: {result.stderr.decode()[-2000:]}")
    return {"seconds": seconds, "records": end_offset(broker, topic)}


_PERF = re.compile(rb"(\d+) records sent, ([\d.]+) records/sec")


def bench_perf(topic: str, records: int, extra: list[str]) -> dict[str, Any]:
    result = run_kafka_tool(
        "org.apache.kafka.tools.ProducerPerformance",
        ["--topic", topic, "--num-records", str(records), "--throughput", "-1", *extra],
        timeout=3600,
    )
    last = [line for line in result.stdout.splitlines() if _PERF.search(line)]
    if result.returncode != 0 or not last:
        raise SystemExit(f"perf test failed: {result.stderr.decode()[-2000:]}")
    match = _PERF.search(last[-1])
    assert match is not None
    sent, rate = int(match.group(1)), float(match.group(2))
    return {"seconds": sent / rate, "records": sent, "tool_rate": rate}


def _measure(
    broker: Broker,
    tool: str,
    data: Path,
    work: Path,
    records: int,
    size: int,
    before: Path | None = None,
) -> dict[str, Any]:
    topic = broker.create_topic(f"bench-{tool.replace('_', '-')}-{time.monotonic_ns()}")
    bootstrap = f"bootstrap.servers={broker.bootstrap}"
    if tool == "restore":
        result = bench_restore(broker, topic, data, work)
    elif tool == "restore_before":
        result = bench_restore(broker, topic, data, work, before)
    elif tool == "console":
        result = bench_console(broker, topic, data)
    elif tool == "perf":
        result = bench_perf(topic, records, [
            "--record-size", str(size), "--producer-props", bootstrap, "acks=all",
        ])  # fmt: skip
    else:
        result = bench_perf(topic, records, [
            "--payload-file", str(data), "--producer-props", bootstrap, "acks=all",
            f"linger.ms={THROUGHPUT_SETTINGS['linger.ms']}",
            f"batch.size={THROUGHPUT_SETTINGS['batch.size']}",
            f"compression.type={THROUGHPUT_SETTINGS['compression.type']}",
            "buffer.memory=268435456",
        ])  # fmt: skip
    if tool in ("restore", "restore_before", "console"):
        delivered = end_offset(broker, topic)
        if delivered != records:
            raise SystemExit(f"{tool}: {delivered} records in the topic, expected {records}")
    result["rate"] = result["records"] / result["seconds"]
    return result


TOOLS = ("restore", "restore_before", "console", "perf", "perf_tuned")


def run(records: int, work: Path, repeat: int = 3, broker: Broker | None = None) -> dict[str, Any]:
    """Each tool `repeat` times, interleaved (so a busy moment of this shared machine hits
    every tool alike); each tool's median run is reported. On `broker` if given (left
    running), else on one of its own."""
    work.mkdir(parents=True, exist_ok=True)
    data = work / "bench-records.sink"
    mean = write_records(data, records)
    size = round(mean)
    compile_bytecode()
    before = before_tree(work)
    tools = [t for t in TOOLS if t != "restore_before" or before is not None]
    print(f"data: {records} records, mean {mean:.0f} bytes, {data.stat().st_size} bytes in {data}")
    own = broker is None
    broker = start_broker(work / "broker") if broker is None else broker
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    try:
        bootstrap = f"bootstrap.servers={broker.bootstrap}"
        # Warm the broker's JIT first: whoever ran first on a cold broker would pay for it.
        warm = broker.create_topic(f"bench-warmup-{time.monotonic_ns()}")
        bench_perf(warm, min(records, 300_000), [
            "--payload-file", str(data), "--producer-props", bootstrap, "acks=all",
        ])  # fmt: skip
        for round_number in range(repeat):
            for tool in tools:
                result = _measure(broker, tool, data, work, records, size, before)
                runs[tool].append(result)
                print(f"  round {round_number + 1}: {tool:<10} {result['rate']:>10,.0f} records/s")
    finally:
        if own:
            broker.stop()
    results = {
        tool: sorted(measured, key=lambda r: float(r["rate"]))[len(measured) // 2]
        for tool, measured in runs.items()
    }
    for tool in tools:
        results[tool]["all_rates"] = [round(r["rate"]) for r in runs[tool]]
    restore_rate = results["restore"]["rate"]
    return {
        "records": records,
        "mean_record_bytes": round(mean, 1),
        "repeat": repeat,
        "results": results,
        "ratio_console": restore_rate / results["console"]["rate"],
        "ratio_ceiling": restore_rate / results["perf"]["rate"],
        "ratio_tuned_ceiling": restore_rate / results["perf_tuned"]["rate"],
        "before": BEFORE if before is not None else None,
    }


def render(report: dict[str, Any]) -> str:
    results = report["results"]
    labels = {
        "restore": "restore.py (time filter on)",
        "console": "kafka-console-producer, same lines",
        "perf": "kafka-producer-perf-test, same size (ceiling)",
        "perf_tuned": "perf-test, same lines + restore's settings",
    }
    lines = [
        (
            f"{'tool (median of ' + str(report['repeat']) + ' runs)':<48} {'records/s':>12} "
            f"{'seconds':>9}"
        )
    ]
    for key, label in labels.items():
        if key not in results:
            continue
        lines.append(f"{label:<48} {results[key]['rate']:>12,.0f} {results[key]['seconds']:>9.2f}")
    lines += [
        (
            f"restore / console producer: {report['ratio_console']:.2f}x "
            f"(target >= {TARGET_CONSOLE_RATIO}x)"
        ),
        (
            f"restore / perf-test ceiling: {report['ratio_ceiling']:.2f}x "
            f"(target >= {TARGET_CEILING_RATIO}x)"
        ),
        f"restore / perf-test with restore's settings: {report['ratio_tuned_ceiling']:.2f}x",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool (median shown)")
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kcb-bench-restore-") as temp:
        report = run(args.records, args.work_dir or Path(temp), args.repeat)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
