"""Connect downtime per cycle as the number of connectors grows (1, 10, 100 topics in one
release), with the connectors stopped and resumed concurrently (the default, at most
`parallel.DEFAULT_LIMIT` REST calls at once) and one at a time (`Cycle(parallelism=1)`, how
every cycle ran before), interleaved cycle by cycle on the same worker and connectors.

Real broker and Connect standalone, the supervisor's `Cycle` with backup enabled (staged, into
an encrypted volume: the sinks' committed offsets are read at the stop, as in production) on
small sink files: the snapshot is not on the downtime path and is not what this measures. A
light producer writes to every topic during the run.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.backup import BackupOptions as _BackupOptions
from benchmarks.backup import (
    LightProducer,
    LogTap,
    StatusWatcher,
    _config,
    _wait_running,
    timed_snapshot,
)
from benchmarks.common import Section, Table, secs, unmount_under
from kafka_connect_backup.config import Config
from kafka_connect_backup.connect import parallel
from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.logs import configure_logging
from kafka_connect_backup.sinkfiles import period_of
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import KafkaStack

MODES = {
    "concurrent": parallel.DEFAULT_LIMIT,
    "one at a time": 1,
}
# Phase ends in the cycle's log, up to the end of the resume (the downtime).
PHASE_ENDS = {
    "connectors.stopped": "stop",
    "cycle.offsets_read": "offsets",
    "connectors.resumed": "resume",
}


@dataclass
class DowntimeOptions:
    topics: tuple[int, ...] = (1, 10, 100)
    cycles: int = 3
    rate: float = 100.0
    gap: float = 1.0
    engine: str = "gocryptfs"


@dataclass
class Sample:
    downtime: float
    observed: float
    phases: dict[str, float]
    ok: bool
    error: str | None


@dataclass
class Point:
    topics: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def median(self, mode: str, get: Any) -> float | None:
        values = [get(s) for s in self.samples.get(mode, []) if s.ok]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None


def _phases(events: list[dict[str, Any]]) -> dict[str, float]:
    timed = sorted(
        (datetime.fromisoformat(e["timestamp"]).timestamp(), str(e.get("event")))
        for e in events
        if "timestamp" in e
    )
    out: dict[str, float] = {}
    last: float | None = None
    for stamp, name in timed:
        if name == "cycle.start":
            last = stamp
        elif name in PHASE_ENDS and last is not None:
            out[PHASE_ENDS[name]] = stamp - last
            last = stamp
        elif name == "cycle.done":
            break
    # Between the offsets and the resume: noting the files' sizes (freeze).
    return out


def run_point(
    stack: KafkaStack, topics_count: int, options: DowntimeOptions, root: Path, tap: LogTap
) -> Point:
    tag = uuid.uuid4().hex[:6]
    topics = [stack.broker.create_topic(f"dt-{tag}-{k:03d}") for k in range(topics_count)]
    root.mkdir(parents=True)
    backup_options = _BackupOptions(
        grid=[], cycles=options.cycles, max_topics=topics_count, rate=options.rate,
        gap=options.gap, engine=options.engine,
    )  # fmt: skip
    config: Config = _config(
        root, topics, stack.connect_url, backup_options, "staged", stack.bootstrap
    )
    client = ConnectClient(stack.connect_url)
    names = connector_names(config)
    producer = LightProducer(stack.bootstrap, topics, options.rate)
    watcher = StatusWatcher(stack.connect_url, names)
    point = Point(topics_count, {mode: [] for mode in MODES})
    try:
        Reconciler(config, client).reconcile(period_of(datetime.now(UTC), config.sink_rotation))
        _wait_running(client, names, timeout=300)
        producer.start()
        watcher.start()
        cycles = {
            mode: Cycle(config, client, Metrics(), snapshot=timed_snapshot, parallelism=limit)
            for mode, limit in MODES.items()
        }
        for _ in range(options.cycles):
            for mode, cycle in cycles.items():
                time.sleep(options.gap)
                tap.take()
                watcher.take()
                outcome = cycle.run()
                time.sleep(0.2)
                point.samples[mode].append(
                    Sample(
                        downtime=outcome.connect_downtime_seconds or 0.0,
                        observed=watcher.take(),
                        phases=_phases(tap.take()),
                        ok=outcome.ok,
                        error=outcome.error,
                    )
                )
    finally:
        watcher.finish()
        producer.finish()
        for name in names:
            with contextlib.suppress(Exception):
                client.delete(name)
        client.close()
        stack.broker.admin().delete_topics(topics)
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
    return point


def run(options: DowntimeOptions, work: Path) -> Section:
    section = Section("downtime", "Connect downtime vs the number of connectors")
    tap = LogTap()
    points: list[Point] = []
    with KafkaStack(work / "stack") as stack:
        for count in options.topics:
            print(f"  downtime: {count} connector(s) ...", flush=True)
            points.append(run_point(stack, count, options, work / f"t{count}", tap))
    configure_logging("WARNING")
    table = Table(
        [
            "connectors",
            "mode",
            "Connect downtime s (median)",
            "seen by REST poller s",
            "stop s",
            "offsets s",
            "freeze + resume s",
            "all cycles' downtime s",
        ],
        caption="Downtime = from the first PUT /stop until every task is RUNNING again, as "
        "the cycle measures it (it includes its own 0.1 s status polling); stop = until every "
        "task is gone; offsets = reading the sinks' committed offsets (one Admin client kept "
        "by the Cycle, every group asked at once); freeze + resume = noting the files' sizes, "
        "upsert and resume until every task is RUNNING. Failed cycles are left out of the "
        "medians and marked.",
    )
    for point in points:
        for mode in MODES:
            samples = point.samples[mode]
            failed = [s for s in samples if not s.ok]
            table.rows.append(
                [
                    str(point.topics),
                    f"{mode} (limit {MODES[mode]})",
                    secs(point.median(mode, lambda s: s.downtime)),
                    secs(point.median(mode, lambda s: s.observed)),
                    secs(point.median(mode, lambda s: s.phases.get("stop"))),
                    secs(point.median(mode, lambda s: s.phases.get("offsets"))),
                    secs(point.median(mode, lambda s: s.phases.get("resume"))),
                    ", ".join(secs(s.downtime) for s in samples)
                    + (f" ({len(failed)} FAILED: {failed[0].error})" if failed else ""),
                ]
            )
    section.tables.append(table)
    section.method = [
        (
            "One release (one supervisor config) with 1, 10 and 100 topics, one FileStreamSink "
            "connector each, on the local broker and Connect standalone; the supervisor's `Cycle` "
            f"with backup on {options.engine} (staged), {options.cycles} cycle(s) per mode, the "
            "two "
            "modes interleaved cycle by cycle on the same connectors."
        ),
        f"A producer writes {options.rate:g} records/s across the topics during the run.",
    ]
    section.data = {
        "points": [
            {
                "topics": p.topics,
                "samples": {
                    m: [
                        {
                            "downtime": s.downtime,
                            "observed": s.observed,
                            "phases": s.phases,
                            "ok": s.ok,
                            "error": s.error,
                        }
                        for s in p.samples[m]
                    ]
                    for m in MODES
                },
            }
            for p in points
        ]
    }
    by_count = {p.topics: p for p in points}
    findings = []
    for mode in MODES:
        values = {count: by_count[count].median(mode, lambda s: s.downtime) for count in by_count}
        text = ", ".join(f"{count}: {secs(v)} s" for count, v in values.items())
        ten, hundred = values.get(10), values.get(100)
        growth = f"; 100 / 10 connectors = {hundred / ten:.2f}x" if ten and hundred else ""
        findings.append(f"{mode}: downtime by connectors {text}{growth}.")
    section.findings = findings
    concurrent = {c: by_count[c].median("concurrent", lambda s: s.downtime) for c in by_count}
    if concurrent:
        section.headline = [
            "Connect downtime per cycle (concurrent stop/resume) at "
            + ", ".join(
                f"{c} connector{'s' if c > 1 else ''} {secs(v)} s" for c, v in concurrent.items()
            )
            + (
                f" (100 / 10 = {(concurrent.get(100) or 0) / (concurrent.get(10) or 1):.2f}x)"
                if concurrent.get(10) and concurrent.get(100)
                else ""
            )
            + "."
        ]
    return section
