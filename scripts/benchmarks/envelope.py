"""Benchmark: the envelope format against the value format on the same records.

One topic (3 partitions) gets `records` keyed JSON records with a header; two connectors on
one real Connect worker sink it at once, one per format (`sinkFormat: value` and `envelope`),
into the same directory. Measured on the two files:
- size: bytes per record, plain and gzipped at the compressor's level (what the backup keeps
  once a file is stale);
- restore rate: restore.py (the whole process, as an operator runs it) replays each file into
  its own fresh 3-partition topic, interleaved, `repeats` times; the median is reported.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from benchmarks.common import Section, Table, human
from benchmarks.report import ROOT
from benchmarks.stack import kafka as stack_of
from kafka_connect_backup.config import Config, SinkFormat, parse_config
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of, sink_file
from kafka_connect_backup.supervisor.compress import LEVEL
from kafka_stack import KafkaStack
from local_config import local_config

RESTORE = ROOT / "scripts" / "restore.py"
PARTITIONS = 3
FORMATS = (SinkFormat.VALUE, SinkFormat.ENVELOPE)


@dataclass(frozen=True)
class EnvelopeOptions:
    records: int = 200_000
    repeats: int = 3


def _produce(bootstrap: str, topic: str, count: int) -> int:
    """Keyed JSON values of about 200 bytes with `utcTime`, one header each; the bytes sent."""
    rng = random.Random(14)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    total = 0
    for i in range(count):
        moment = datetime.fromtimestamp(start + i, UTC).isoformat().replace("+00:00", "Z")
        value = json.dumps(
            {"id": i, "utcTime": moment, "customer": f"c-{rng.randrange(10_000)}",
             "amount": rng.randrange(100_000) / 100, "note": f"{rng.getrandbits(400):x}"}
        ).encode()  # fmt: skip
        key = b"c-%d" % rng.randrange(10_000)
        total += len(value)
        while True:
            try:
                producer.produce(topic, value, key, headers=[("source", b"bench")])
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(300) != 0:
        raise RuntimeError("records still queued after 300s")
    return total


def _config(topic: str, sink_dir: Path, stack: KafkaStack, fmt: SinkFormat) -> Config:
    return parse_config(
        local_config(
            topics=[topic],
            sink_name=f"bench-{fmt.value}",
            sink_path=sink_dir,
            connect_url=stack.connect_url,
            bootstrap_servers=stack.bootstrap,
            sinkFormat=fmt.value,
        )
    )


def _sink_both(configs: list[Config], count: int, timeout: float = 900) -> dict[str, Path]:
    period = period_of(datetime.now(UTC), configs[0].sink_rotation)
    files = {}
    for config in configs:
        Reconciler(config, ConnectClient(config.connect.url)).reconcile(period)
        files[config.sink_format.value] = sink_file(
            config.sink_path, config.topics[0], config.sink_name, period, config.sink_format
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.exists() and p.read_bytes().count(b"\n") >= count for p in files.values()):
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"the sinks did not reach {count} lines in {timeout:.0f}s")
    for config in configs:  # stopped: the files are complete and closed
        ConnectClient(config.connect.url).stop(connector_name(config.topics[0], config.sink_name))
    time.sleep(2)
    return files


def _restore(stack: KafkaStack, path: Path, topic: str, work: Path) -> dict[str, Any]:
    stack.broker.create_topic(topic, PARTITIONS)
    summary = work / f"{topic}.json"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(RESTORE), topic, stack.bootstrap, str(path), "--from", "1970-01-01",
         "--yes", "--summary-json", str(summary)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"restore.py failed ({result.returncode}): {result.stderr.strip()}")
    delivered = int(json.loads(summary.read_text())["delivered"])
    return {"seconds": seconds, "records": delivered, "rate": delivered / seconds}


def run(options: EnvelopeOptions, work: Path) -> Section:
    section = Section("envelope", "Envelope vs value format: size and restore rate")
    work.mkdir(parents=True, exist_ok=True)
    sink_dir = work / "sink"
    sink_dir.mkdir()
    count = options.records
    with stack_of(work / "stack") as stack:
        topic = stack.broker.create_topic("bench-envelope", PARTITIONS)
        sent = _produce(stack.bootstrap, topic, count)
        configs = [_config(topic, sink_dir, stack, fmt) for fmt in FORMATS]
        files = _sink_both(configs, count)
        runs: dict[str, list[dict[str, Any]]] = {fmt.value: [] for fmt in FORMATS}
        for attempt in range(options.repeats):
            for fmt in FORMATS:
                name = f"bench-restored-{fmt.value}-{attempt}"
                runs[fmt.value].append(_restore(stack, files[fmt.value], name, work))
    sizes = {name: path.stat().st_size for name, path in files.items()}
    packed = {
        name: len(gzip.compress(path.read_bytes(), compresslevel=LEVEL, mtime=0))
        for name, path in files.items()
    }
    median = {
        name: sorted(measured, key=lambda r: float(r["rate"]))[len(measured) // 2]
        for name, measured in runs.items()
    }
    value, envelope = SinkFormat.VALUE.value, SinkFormat.ENVELOPE.value
    table = Table(
        ["format", "file", "bytes/record", f"gzip -{LEVEL}", "gzip bytes/record", "vs value"],
        caption=f"{count:,} keyed records of about {sent / count:.0f} value bytes with one "
        "header, 3 partitions, sunk by both connectors from the same topic.",
    )
    for name in (value, envelope):
        table.rows.append(
            [
                name,
                human(sizes[name]),
                f"{sizes[name] / count:.0f}",
                human(packed[name]),
                f"{packed[name] / count:.0f}",
                "-"
                if name == value
                else f"{sizes[name] / sizes[value]:.2f}x plain, "
                f"{packed[name] / packed[value]:.2f}x gzipped",
            ]
        )
    rates = Table(
        ["format", "restore records/s", "seconds", "vs value", "all runs records/s"],
        caption=f"restore.py as a whole process into a fresh {PARTITIONS}-partition topic per "
        f"run, formats interleaved, median of {options.repeats}.",
    )
    for name in (value, envelope):
        rate = float(median[name]["rate"])
        rates.rows.append(
            [
                name,
                f"{rate:,.0f}",
                f"{float(median[name]['seconds']):.2f}",
                "-" if name == value else f"{rate / float(median[value]['rate']):.2f}x",
                ", ".join(f"{float(r['rate']):,.0f}" for r in runs[name]),
            ]
        )
    section.tables += [table, rates]
    section.method = [
        (
            "A real broker and Connect worker (scripts/kafka_stack.py); the envelope transform "
            "from images/connect/envelope on plugin.path; restore.py with its defaults "
            "(--from 1970-01-01, --yes)."
        )
    ]
    ratio_plain = sizes[envelope] / sizes[value]
    ratio_gz = packed[envelope] / packed[value]
    ratio_rate = float(median[envelope]["rate"]) / float(median[value]["rate"])
    section.findings = [
        (
            f"The envelope file is {ratio_plain:.2f}x the value file; gzipped, {ratio_gz:.2f}x "
            f"({packed[envelope] / count:.0f} vs {packed[value] / count:.0f} bytes per record)."
        ),
        (
            f"Restoring it runs at {ratio_rate:.2f}x the value file's rate (every line is parsed, "
            "its bytes decoded and sent with key, headers, timestamp and partition)."
        ),
    ]
    section.headline = [
        (
            f"Envelope format: {ratio_plain:.2f}x the value file's size ({ratio_gz:.2f}x gzipped), "
            f"restore at {ratio_rate:.2f}x its records/s "
            f"({float(median[envelope]['rate']):,.0f} vs {float(median[value]['rate']):,.0f})."
        )
    ]
    section.data = {
        "records": count,
        "bytes": sizes,
        "gzip_bytes": packed,
        "restore": runs,
        "ratio_size": ratio_plain,
        "ratio_gzip": ratio_gz,
        "ratio_rate": ratio_rate,
    }
    return section
