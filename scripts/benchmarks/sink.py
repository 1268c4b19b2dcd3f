"""The backup path: how fast FileStreamSink drains a topic into its file, against Kafka's own
consumer (kafka-consumer-perf-test) on the same topic in the same run; and how far the sink
files lag behind a sustained produce rate through a whole backup cycle.

Drain: one topic is filled with N records of a fixed size, then, in rounds, a
kafka-consumer-perf-test run (its own fetch rate, which leaves out its JVM start and group
join) and a fresh FileStreamSink connector (new name, so a new consumer group from the
earliest offset). The sink is timed from its first line in the file to the last: that, too,
leaves out task start and group join.

Lag: a producer writes a fixed rate of records across several topics; every 50 ms the
records Kafka acknowledged are compared with the lines in the topics' sink files (fixed-size
records, so lines = bytes / size). Lag = acknowledged - sunk, in records and in seconds of
production. Measured before, through and after one real cycle (stop, offsets, resume,
staged snapshot).
"""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from benchmarks.backup import BackupOptions as _BackupOptions
from benchmarks.backup import _config, release_point, timed_snapshot
from benchmarks.common import Section, Stopwatch, Table, secs
from benchmarks.stack import kafka as stack_of
from kafka_connect_backup.connect.connectors import FILE_SINK_CLASS, Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.kafka.producer import THROUGHPUT_SETTINGS
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import KafkaStack, run_kafka_tool, wait_running


@dataclass
class SinkOptions:
    records: int = 1_000_000
    size: int = 300  # bytes per record value
    rounds: int = 2
    lag_topics: int = 10
    lag_rate: float = 20_000.0  # records/s across the lag topics
    settle: float = 5.0  # seconds of production before the lag is sampled, and after the cycle
    engine: str = "gocryptfs"


def record(i: int, size: int) -> bytes:
    head = f'{{"id":{i:012d},"utcTime":"2026-01-01T00:00:00.000Z","p":"'.encode()
    return head + b"x" * (size - len(head) - 2) + b'"}'


def fill(bootstrap: str, topic: str, count: int, size: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, **THROUGHPUT_SETTINGS})
    for i in range(count):
        while True:
            try:
                producer.produce(topic, record(i, size))
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError(f"could not fill {topic}")


# ConsumerPerformance prints a CSV line per run; its fetch columns leave out the group join.
_CSV = re.compile(
    rb"^\S+ \S+, \S+ \S+, ([\d.]+), ([\d.]+), (\d+), ([\d.]+), (\d+), (\d+), ([\d.]+), ([\d.]+)"
)


def consumer_perf(bootstrap: str, topic: str, count: int) -> dict[str, float]:
    result = run_kafka_tool(
        "org.apache.kafka.tools.ConsumerPerformance",
        [
            "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(count),
            "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "60000",
        ],
        timeout=600,
    )  # fmt: skip
    for line in result.stdout.splitlines():
        match = _CSV.match(line.strip())
        if match:
            return {
                "records": float(match.group(3)),
                "fetch_seconds": float(match.group(6)) / 1000.0,
                "records_per_s": float(match.group(8)),
                "mb_per_s": float(match.group(7)),
            }
    raise RuntimeError(f"consumer perf test printed no result: {result.stderr.decode()[-1500:]}")


def sink_drain(
    client: ConnectClient, topic: str, path: Path, count: int, size: int
) -> dict[str, float]:
    """A fresh FileStreamSink on the topic; seconds from its first line to its last."""
    expected = count * (size + 1)
    name = f"drain-{uuid.uuid4().hex[:8]}"
    config = {
        "name": name, "connector.class": FILE_SINK_CLASS, "tasks.max": "1", "topics": topic,
        "file": str(path),
    }  # fmt: skip
    client.put_config(name, config)
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            have = path.stat().st_size if path.exists() else 0
            if have and first is None:
                first = (now, have)
            if have >= expected:
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"{name} did not drain {topic} in time")
        done = time.monotonic()
    finally:
        with contextlib.suppress(Exception):
            client.delete(name)
    assert first is not None
    seconds = done - first[0]
    records = (expected - first[1]) / (size + 1)
    return {
        "records_per_s": records / seconds,
        "mb_per_s": (expected - first[1]) / seconds / 1e6,
        "seconds": seconds,
    }


class RateProducer(threading.Thread):
    """A fixed rate across topics, in 10 ms bursts; counts acknowledged records."""

    def __init__(self, bootstrap: str, topics: list[str], rate: float, size: int) -> None:
        super().__init__(daemon=True)
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
        self.topics, self.rate, self.size = topics, rate, size
        self.acked = 0
        self.failed = 0
        self.halt = threading.Event()
        self.value = record(0, size)

    def _report(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failed += 1

    def run(self) -> None:
        start = time.monotonic()
        sent = 0
        while not self.halt.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while sent < due:
                topic = self.topics[sent % len(self.topics)]
                try:
                    self.producer.produce(topic, self.value, on_delivery=self._report)
                except BufferError:
                    break
                sent += 1
            self.producer.poll(0.01)
        self.producer.flush(30)

    def finish(self) -> None:
        self.halt.set()
        if self.ident is not None:
            self.join(60)


@dataclass
class LagTrace:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (t, lag records)
    cycle: tuple[float, float] = (0.0, 0.0)  # start, end
    downtime: tuple[float, float] = (0.0, 0.0)


def lag_run(stack: KafkaStack, options: SinkOptions, root: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topics = [stack.broker.create_topic(f"lag-{tag}-{k:02d}") for k in range(options.lag_topics)]
    root.mkdir(parents=True)
    backup_options = _BackupOptions(
        grid=[], cycles=1, max_topics=len(topics), rate=0, gap=0, engine=options.engine
    )
    config = _config(root, topics, stack.connect_url, backup_options, "staged", stack.bootstrap)
    client = ConnectClient(stack.connect_url)
    names = connector_names(config)
    period = period_of(datetime.now(UTC), config.sink_rotation)
    files = [sink_file(config.sink_path, t, config.sink_name, period) for t in topics]
    producer = RateProducer(stack.bootstrap, topics, options.lag_rate, options.size)
    trace = LagTrace()
    halt = threading.Event()
    clock0 = time.monotonic()

    def sample() -> None:
        while not halt.is_set():
            sunk = sum(f.stat().st_size for f in files if f.exists()) // (options.size + 1)
            trace.samples.append((time.monotonic() - clock0, producer.acked - sunk))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        Reconciler(config, client).reconcile(period)
        wait_running(stack.connect_url, names, timeout=120)
        producer.start()
        time.sleep(options.settle)  # steady state first
        sampler.start()
        time.sleep(options.settle * 0.6)
        cycle = Cycle(config, client, Metrics(), snapshot=timed_snapshot)
        began = time.monotonic() - clock0
        outcome = cycle.run()
        ended = time.monotonic() - clock0
        trace.cycle = (began, ended)
        down = outcome.connect_downtime_seconds or 0.0
        trace.downtime = (began, began + down)
        time.sleep(options.settle)
    finally:
        halt.set()
        producer.finish()
        if sampler.ident is not None:
            sampler.join(5)
        release_point(stack, client, names, topics, root)
    before = [lag for t, lag in trace.samples if t < trace.cycle[0]]
    during = [lag for t, lag in trace.samples if trace.cycle[0] <= t <= trace.cycle[1]]
    after = [(t, lag) for t, lag in trace.samples if t > trace.downtime[1]]
    base = statistics.median(before) if before else 0
    peak = max(during, default=0)
    peak_at = max(
        (s for s in trace.samples if trace.cycle[0] <= s[0] <= trace.cycle[1]),
        key=lambda s: s[1],
        default=(trace.cycle[0], 0),
    )[0]
    caught_up = next(
        (t for t, lag in after if t > peak_at and lag <= max(base * 1.5, base + 200)), None
    )
    return {
        "rate": options.lag_rate,
        "topics": len(topics),
        "ok": outcome.ok,
        "downtime": trace.downtime[1] - trace.downtime[0],
        "cycle": trace.cycle[1] - trace.cycle[0],
        "lag_before": base,
        "lag_peak": peak,
        "lag_at_cycle_end": during[-1] if during else None,
        "catch_up_after_resume": None if caught_up is None else caught_up - trace.downtime[1],
        "samples": len(trace.samples),
        "failed": producer.failed,
    }


def med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def run(options: SinkOptions, work: Path) -> Section:
    section = Section("sink", "Backup path: FileStreamSink drain rate and backup lag")
    perf: list[dict[str, float]] = []
    sink: list[dict[str, float]] = []
    with stack_of(work / "stack") as stack:
        topic = stack.broker.create_topic(f"drain-{uuid.uuid4().hex[:6]}")
        watch = Stopwatch()
        fill(stack.bootstrap, topic, options.records, options.size)
        print(f"  sink: {options.records} records in {watch.elapsed:.1f} s", flush=True)
        client = ConnectClient(stack.connect_url)
        try:
            for round_number in range(options.rounds):
                perf.append(consumer_perf(stack.bootstrap, topic, options.records))
                path = work / f"drain-{round_number}.sink"
                sink.append(sink_drain(client, topic, path, options.records, options.size))
                path.unlink(missing_ok=True)
                print(
                    f"  sink round {round_number + 1}: perf {perf[-1]['records_per_s']:,.0f}/s, "
                    f"FileStreamSink {sink[-1]['records_per_s']:,.0f}/s",
                    flush=True,
                )
        finally:
            client.close()
        lag = lag_run(stack, options, work / "lag")
    table = Table(
        ["reader", "records/s (median)", "MB/s", "all runs records/s", "sink / consumer"],
        caption=f"{options.records} records of {options.size} bytes in one single-partition "
        f"topic; {options.rounds} interleaved round(s). MB = 10^6 bytes for both (the perf "
        "test's MB are 2^20 bytes; converted).",
    )
    perf_rate, sink_rate = med(perf, "records_per_s"), med(sink, "records_per_s")
    perf_mb = med(perf, "mb_per_s") * 1.048576
    table.rows.append(
        [
            "kafka-consumer-perf-test (fetch rate: no JVM start, no group join)",
            f"{perf_rate:,.0f}", f"{perf_mb:.1f}",
            ", ".join(f"{r['records_per_s']:,.0f}" for r in perf), "-",
        ]
    )  # fmt: skip
    table.rows.append(
        [
            "FileStreamSink (first line to last line in the file)",
            f"{sink_rate:,.0f}", f"{med(sink, 'mb_per_s'):.1f}",
            ", ".join(f"{r['records_per_s']:,.0f}" for r in sink), f"{sink_rate / perf_rate:.2f}x",
        ]
    )  # fmt: skip
    lag_table = Table(
        [
            "produce rate", "topics", "cycle s", "Connect downtime s", "lag before (median)",
            "peak lag in the cycle", "lag at the cycle's end", "caught up after resume s",
        ],
        caption="Lag in records (acknowledged by Kafka, not yet a line in the sink file) and, "
        "in brackets, in seconds of production at that rate. 'Caught up' = back within 1.5x "
        "(or 200 records) of the lag before the cycle.",
    )  # fmt: skip
    rate = lag["rate"]
    lag_table.rows.append(
        [
            f"{rate:,.0f} records/s", str(lag["topics"]), secs(lag["cycle"]), secs(lag["downtime"]),
            f"{lag['lag_before']:,.0f} ({lag['lag_before'] / rate:.2f} s)",
            f"{lag['lag_peak']:,.0f} ({lag['lag_peak'] / rate:.2f} s)",
            "-" if lag["lag_at_cycle_end"] is None
            else f"{lag['lag_at_cycle_end']:,.0f} ({lag['lag_at_cycle_end'] / rate:.2f} s)",
            secs(lag["catch_up_after_resume"]) + ("" if lag["ok"] else " (cycle FAILED)"),
        ]
    )  # fmt: skip
    section.tables += [table, lag_table]
    section.data = {"perf": perf, "sink": sink, "lag": lag}
    section.method = [
        (
            "Drain: the topic is filled once by a librdkafka producer; each round runs "
            "kafka-consumer-perf-test (new group) then a new FileStreamSink connector (new group, "
            "from the earliest offset) writing a new file; the sink is timed by polling its file's "
            "size every 10 ms."
        ),
        (
            f"Lag: {options.lag_topics} topics, one connector each, a producer at "
            f"{options.lag_rate:,.0f} records/s of {options.size} bytes for "
            f"~{options.settle * 1.6:g} s before the cycle, through one real cycle (backup "
            f"enabled, staged) and {options.settle:g} s after it; sampled every 50 ms."
        ),
    ]
    ratio = sink_rate / perf_rate
    section.findings = [
        (
            f"FileStreamSink drains {sink_rate:,.0f} records/s "
            f"({med(sink, 'mb_per_s'):.1f} MB/s) vs "
            f"kafka-consumer-perf-test {perf_rate:,.0f} records/s ({perf_mb:.1f} MB/s) on the same "
            f"topic: {ratio:.2f}x."
        ),
        (
            f"At {rate:,.0f} records/s the sink files lag {lag['lag_before'] / rate:.2f} s behind "
            f"Kafka normally; through a cycle the lag peaks at {lag['lag_peak'] / rate:.2f} s "
            f"(Connect down {lag['downtime']:.2f} s) and is back to normal "
            f"{secs(lag['catch_up_after_resume'])} s after the resume."
        ),
    ]
    section.headline = [
        (
            f"Backup path: FileStreamSink drains at {ratio:.2f}x kafka-consumer-perf-test "
            f"({sink_rate:,.0f} vs {perf_rate:,.0f} records/s); backup lag peaks at "
            f"{lag['lag_peak'] / rate:.2f} s of production through a cycle at "
            f"{rate:,.0f} records/s."
        )
    ]
    return section
