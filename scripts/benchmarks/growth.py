"""Growth: cycle time, Connect downtime and supervisor memory as the sink data grows from
megabytes to gigabytes (disk permitting), with the growth fitted.

Each point is a sink directory of S bytes in F files, 10 connectors (one current-period file
per topic, the rest older months), the default cycle (staged) with backup on the default
engine of new volumes, one initial cycle then steady-state cycles. The grid varies the
current files' bytes and the older files' bytes independently, so a least-squares fit of the
steady-state cycle time = a + b x current GB + c x older GB tells which one it grows with.

Memory: every 50 ms, the resident set of this process (the supervisor's Python code runs in
it: the cycle, staging, verification) and of each of its descendants (rsnapshot, rsync, cp,
the FUSE engine) is read from /proc; the peak of each during the cycle is reported.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.backup import BackupOptions as _BackupOptions
from benchmarks.backup import (
    GridPoint,
    LightProducer,
    _config,
    _months_back,
    release_point,
    timed_snapshot,
)
from benchmarks.common import RecordSource, Section, Table, human, secs, set_mtime
from benchmarks.stack import kafka as stack_of
from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import Reconciler, connector_names
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.cycle import Cycle
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_stack import KafkaStack, wait_running

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class GrowthOptions:
    grid: list[GridPoint]
    topics: int = 10
    cycles: int = 3
    engine: str = "gocryptfs"
    rate: float = 100.0


@dataclass
class CycleSample:
    index: int
    ok: bool
    error: str | None
    duration: float
    downtime: float | None
    rsnapshot: float | None
    self_peak: int  # bytes
    child_peak: int
    child_name: str
    staged: bool  # False: no room to stage, snapshot taken with Connect stopped


@dataclass
class GrowthPoint:
    point: GridPoint
    current_bytes: int
    older_bytes: int
    skipped: str | None = None
    cycles: list[CycleSample] = field(default_factory=list)

    def steady(self) -> list[CycleSample]:
        return [c for c in self.cycles if c.index > 1 and c.ok]


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(root: int) -> list[tuple[int, str]]:
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        names[int(entry.name)] = name
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append((pid, names.get(pid, "?")))
        todo.extend(children.get(pid, []))
    return found


class MemorySampler(threading.Thread):
    """Peak RSS of this process and of its largest descendant while running."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.halt = threading.Event()
        self.self_peak = 0
        self.child_peak = 0
        self.child_name = ""
        self.me = os.getpid()

    def run(self) -> None:
        while not self.halt.is_set():
            self.self_peak = max(self.self_peak, _rss(self.me))
            for pid, name in _descendants(self.me):
                if name == "java":  # the local broker and Connect are not the supervisor's
                    continue
                rss = _rss(pid)
                if rss > self.child_peak:
                    self.child_peak, self.child_name = rss, name
            time.sleep(self.interval)

    def finish(self) -> None:
        self.halt.set()
        self.join(5)


def generate(config: Config, point: GridPoint, now: datetime) -> tuple[int, int]:
    """point.files files of total/files bytes: one current file per topic first, then older
    months round-robin. One file is generated, the others are copies. Returns (current bytes,
    older bytes)."""
    per_file = point.total // point.files
    names = list(config.topics)
    template = config.sink_path / ".template"
    RecordSource("growth", now - timedelta(days=400)).write(template, per_file, append=False)
    current = older = 0
    for index in range(point.files):
        topic = names[index % len(names)]
        age = index // len(names)
        month = _months_back(now, age)
        path = sink_file(
            config.sink_path, topic, config.sink_name, period_of(month, config.sink_rotation)
        )
        shutil.copyfile(template, path)
        if age > 0:
            set_mtime(path, _months_back(now, age - 1) - timedelta(seconds=1))
            older += per_file
        else:
            current += per_file
    template.unlink()
    return current, older


def _fits(work: Path, point: GridPoint, topics: int) -> str | None:
    current = min(point.files, topics) * (point.total // point.files)
    needed = point.total * 2 + current + (4 << 30)  # sink + ciphertext + staging + margin
    free = shutil.disk_usage(work).free
    if free < needed:
        return f"skipped: needs ~{human(needed)} free, {human(free)} available"
    return None


def run_point(
    stack: KafkaStack, point: GridPoint, options: GrowthOptions, root: Path
) -> GrowthPoint:
    root.mkdir(parents=True)
    reason = _fits(root, point, options.topics)
    topics_count = max(1, min(point.files, options.topics))
    if reason is not None:
        return GrowthPoint(point, 0, 0, skipped=reason)
    tag = uuid.uuid4().hex[:6]
    topics = [stack.broker.create_topic(f"gr-{tag}-{k:02d}") for k in range(topics_count)]
    backup_options = _BackupOptions(
        grid=[], cycles=options.cycles, max_topics=topics_count, rate=options.rate, gap=0,
        engine=options.engine,
    )  # fmt: skip
    config = _config(root, topics, stack.connect_url, backup_options, "staged", stack.bootstrap)
    now = datetime.now(UTC)
    current, older = generate(config, point, now)
    result = GrowthPoint(point, current, older)
    client = ConnectClient(stack.connect_url)
    names = connector_names(config)
    producer = LightProducer(stack.bootstrap, topics, options.rate)
    try:
        Reconciler(config, client).reconcile(period_of(now, config.sink_rotation))
        wait_running(stack.connect_url, names, timeout=120)
        producer.start()
        # The staging margin's fraction is of the data volume; here that is the machine's disk,
        # shared with the ciphertext and everything else: keep its fixed part only.
        margin = staging.Margin(fraction=0.0)
        cycle = Cycle(config, client, Metrics(), snapshot=timed_snapshot, staging_margin=margin)
        for index in range(1, options.cycles + 1):
            time.sleep(1.0)
            sampler = MemorySampler()
            sampler.start()
            outcome = cycle.run()
            sampler.finish()
            snap = outcome.snapshot
            result.cycles.append(
                CycleSample(
                    index=index,
                    ok=outcome.ok,
                    error=outcome.error,
                    duration=outcome.duration_seconds,
                    downtime=outcome.connect_downtime_seconds,
                    rsnapshot=snap.snapshot_seconds if snap else None,
                    self_peak=sampler.self_peak,
                    child_peak=sampler.child_peak,
                    child_name=sampler.child_name,
                    staged=outcome.staged,
                )
            )
    finally:
        producer.finish()
        release_point(stack, client, names, topics, root)
    return result


def fit(points: list[GrowthPoint]) -> tuple[float, float, float] | None:
    """Least squares: steady cycle seconds = a + b * current GB + c * older GB."""
    rows = []
    for p in points:
        steady = p.steady()
        if steady:
            rows.append(
                (
                    p.current_bytes / 1e9,
                    p.older_bytes / 1e9,
                    statistics.median(c.duration for c in steady),
                )
            )
    if len(rows) < 3:
        return None
    # Normal equations for 3 unknowns, solved by Cramer's rule (no numpy needed).
    s = [[0.0] * 3 for _ in range(3)]
    t = [0.0] * 3
    for x1, x2, y in rows:
        v = (1.0, x1, x2)
        for i in range(3):
            t[i] += v[i] * y
            for j in range(3):
                s[i][j] += v[i] * v[j]

    def det(m: list[list[float]]) -> float:
        return (
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        )

    d = det(s)
    if abs(d) < 1e-12:
        return None
    out = []
    for k in range(3):
        m = [row[:] for row in s]
        for i in range(3):
            m[i][k] = t[i]
        out.append(det(m) / d)
    return out[0], out[1], out[2]


def run(options: GrowthOptions, work: Path) -> Section:
    section = Section("growth", "Growth: cycle time, downtime and memory vs sink data")
    points: list[GrowthPoint] = []
    with stack_of(work / "stack") as stack:
        for i, point in enumerate(options.grid):
            print(f"  growth: {point.label} ...", flush=True)
            points.append(run_point(stack, point, options, work / f"g{i}"))
    table = Table(
        [
            "sink data", "current files", "older files", "cycle", "cycle s", "copy + rsnapshot s",
            "Connect downtime s", "supervisor RSS peak", "largest child RSS peak",
        ],
        caption="Cycle 1 copies everything into a fresh volume; later cycles are the steady "
        "state. RSS = resident memory read from /proc every 50 ms during the cycle; the "
        "supervisor is this process (the cycle's Python code); the child is its largest "
        "descendant (rsync, rsnapshot, cp or the FUSE engine).",
    )  # fmt: skip
    for p in points:
        if p.skipped:
            table.rows.append([p.point.label, "-", "-", "-", p.skipped, "-", "-", "-", "-"])
            continue
        for c in p.cycles:
            table.rows.append(
                [
                    p.point.label, human(p.current_bytes), human(p.older_bytes),
                    ("1 (initial)" if c.index == 1 else str(c.index))
                    + ("" if c.staged else " (stopped: no room to stage)")
                    + ("" if c.ok else f" FAILED: {c.error}"),
                    secs(c.duration), secs(c.rsnapshot), secs(c.downtime), human(c.self_peak),
                    f"{human(c.child_peak)} ({c.child_name})",
                ]
            )  # fmt: skip
    section.tables.append(table)
    section.method = [
        (
            f"Grid (size / files): {', '.join(p.label for p in options.grid)}; {options.topics} "
            f"connectors at most (one current file per topic); backup on {options.engine}, "
            f"staged (the default cycle); {options.cycles} cycles per point; a light producer "
            f"({options.rate:g} records/s) runs throughout. A point is skipped when the disk has "
            "no room for the sink files, the ciphertext and the staging copies. The staging "
            "margin is its fixed 256 MiB only: its 5% is of the data volume, here the machine's "
            "whole disk; a cycle that still found no room (snapshot with Connect stopped) is "
            "marked."
        ),
    ]
    fitted = fit(points)
    findings = []
    measured = [p for p in points if p.steady()]
    if fitted is not None:
        a, b, k = fitted
        findings.append(
            f"Steady-state cycle time fitted over {len(measured)} points: {a:.2f} s + "
            f"{b:.2f} s per GB of current files + {k:.2f} s per GB of older files: linear in "
            "the current files (copied again every cycle, and staged), "
            + (
                "about constant in the older ones (hard links)."
                if abs(k) < max(0.2, b / 5) or k < 0
                else "and growing with the older ones too."
            )
        )
    downs = [statistics.median(x.downtime or 0 for x in p.steady()) for p in measured]
    if downs:
        findings.append(
            "Connect downtime stays flat: steady-state medians "
            + ", ".join(f"{p.point.label} {d:.2f} s" for p, d in zip(measured, downs, strict=True))
            + "."
        )
    peaks = [(p, max(x.self_peak for x in p.cycles)) for p in measured]
    if peaks:
        listed = ", ".join(f"{p.point.label} {human(v)}" for p, v in peaks)
        flat = max(v for _, v in peaks) < 1.5 * min(v for _, v in peaks)
        findings.append(
            f"Supervisor memory (peak RSS during a cycle): {listed}"
            + (": constant in the data (files are streamed, never held)." if flat else ".")
        )
    section.findings = findings
    section.data = {
        "points": [
            {
                "total": p.point.total, "files": p.point.files, "current": p.current_bytes,
                "older": p.older_bytes, "skipped": p.skipped,
                "cycles": [c.__dict__ for c in p.cycles],
            }
            for p in points
        ],
        "fit": fitted,
    }  # fmt: skip
    if fitted is not None:
        section.headline = [findings[0]]
    return section
