"""Connect downtime per cycle as the number of connectors grows (1, 10, 100 topics in one
release): each connector has its own stop window (stop, offsets, sizes, resume), with
`cycle.WINDOWS_AT_ONCE` windows at once (the default), one at a time and 16 at a time
(`Cycle(parallelism=...)`), interleaved cycle by cycle on the same worker and connectors.

Real broker and Connect standalone, the supervisor's `Cycle` with backup enabled (staged, into
an encrypted volume: the sinks' committed offsets are read at the stop, as in production) on
small sink files: the snapshot is not on the downtime path and is not what this measures. A
light producer writes to every topic during the run.
"""

from __future__ import annotations

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
    release_point,
    timed_snapshot,
)
from benchmarks.common import Section, Table, secs
from benchmarks.stack import kafka as stack_of
from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.layout.sinkfiles import period_of
from kafka_connect_backup.supervisor.cycle import WINDOWS_AT_ONCE, Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import KafkaStack, wait_running

MODES = {
    "default": WINDOWS_AT_ONCE,
    "one at a time": 1,
    "16 at once": 16,
}


@dataclass
class DowntimeOptions:
    topics: tuple[int, ...] = (1, 10, 100)
    cycles: int = 3
    rate: float = 100.0
    gap: float = 1.0
    engine: str = "gocryptfs"
    modes: tuple[str, ...] = tuple(MODES)


@dataclass
class Sample:
    downtime: float  # the cycle's: its longest stop window
    median_window: float | None
    observed: float  # the poller's: the longest time one connector was not RUNNING
    observed_any: float  # the poller's: the time some connector was not RUNNING
    windows: float | None  # all the stop windows, first PUT /stop to the last RUNNING
    cycle: float
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


def _windows(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The cycle's `connectors.resumed` event (its windows' timings)."""
    return next((e for e in events if e.get("event") == "connectors.resumed"), {})


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
    point = Point(topics_count, {mode: [] for mode in options.modes})
    try:
        Reconciler(config, client).reconcile(period_of(datetime.now(UTC), config.sink_rotation))
        wait_running(stack.connect_url, names, timeout=300)
        producer.start()
        watcher.start()
        cycles = {
            mode: Cycle(config, client, Metrics(), snapshot=timed_snapshot, parallelism=limit)
            for mode, limit in MODES.items()
            if mode in options.modes
        }
        for _ in range(options.cycles):
            for mode, cycle in cycles.items():
                time.sleep(options.gap)
                tap.take()
                watcher.take()
                outcome = cycle.run()
                time.sleep(0.2)
                resumed = _windows(tap.take())
                observed_any, observed = watcher.take_both()
                point.samples[mode].append(
                    Sample(
                        downtime=outcome.connect_downtime_seconds or 0.0,
                        median_window=resumed.get("median_window_seconds"),
                        observed=observed,
                        observed_any=observed_any,
                        windows=resumed.get("seconds"),
                        cycle=outcome.duration_seconds,
                        ok=outcome.ok,
                        error=outcome.error,
                    )
                )
    finally:
        watcher.finish()
        producer.finish()
        release_point(stack, client, names, topics, root)
    return point


def run(options: DowntimeOptions, work: Path) -> Section:
    section = Section("downtime", "Connect downtime vs the number of connectors")
    tap = LogTap()
    points: list[Point] = []
    with stack_of(work / "stack") as stack:
        for count in options.topics:
            print(f"  downtime: {count} connector(s) ...", flush=True)
            points.append(run_point(stack, count, options, work / f"t{count}", tap))
    configure_logging("WARNING")
    table = Table(
        [
            "connectors",
            "windows at once",
            "Connect downtime s (median)",
            "median window s",
            "seen by REST poller s (one connector / any)",
            "all windows s",
            "cycle s",
            "all cycles' downtime s",
        ],
        caption="Downtime = a connector's stop window, from its PUT /stop until its task is "
        "RUNNING again, as the cycle measures it (it includes its own 0.1 s status polling); "
        "the cycle reports its longest window. Seen by REST poller = the longest time one "
        "connector was not RUNNING / the time some connector was not RUNNING, polled every "
        "50 ms from outside. All windows = from the first PUT /stop to the last connector "
        "RUNNING: cycle time, not any connector's downtime. Failed cycles are left out of the "
        "medians and marked.",
    )
    for point in points:
        for mode in options.modes:
            samples = point.samples[mode]
            failed = [s for s in samples if not s.ok]
            table.rows.append(
                [
                    str(point.topics),
                    str(MODES[mode]),
                    secs(point.median(mode, lambda s: s.downtime)),
                    secs(point.median(mode, lambda s: s.median_window)),
                    " / ".join(
                        secs(point.median(mode, get))
                        for get in (lambda s: s.observed, lambda s: s.observed_any)
                    ),
                    secs(point.median(mode, lambda s: s.windows)),
                    secs(point.median(mode, lambda s: s.cycle)),
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
                            "median_window": s.median_window,
                            "observed": s.observed,
                            "observed_any": s.observed_any,
                            "windows": s.windows,
                            "cycle": s.cycle,
                            "ok": s.ok,
                            "error": s.error,
                        }
                        for s in p.samples[m]
                    ]
                    for m in options.modes
                },
            }
            for p in points
        ]
    }
    by_count = {p.topics: p for p in points}
    findings = []
    for mode in options.modes:
        values = {count: by_count[count].median(mode, lambda s: s.downtime) for count in by_count}
        text = ", ".join(f"{count}: {secs(v)} s" for count, v in values.items())
        ten, hundred = values.get(10), values.get(100)
        growth = f"; 100 / 10 connectors = {hundred / ten:.2f}x" if ten and hundred else ""
        findings.append(f"{mode}: downtime by connectors {text}{growth}.")
    section.findings = findings
    concurrent = {c: by_count[c].median("default", lambda s: s.downtime) for c in by_count}
    if concurrent:
        section.headline = [
            f"Connect downtime per cycle (the longest stop window, {WINDOWS_AT_ONCE} at once) at "
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
