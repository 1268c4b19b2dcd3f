"""Retention levels through a simulated month: cycle time, the supervisor's work inside Connect's
stop window, bytes on the target / bytes sunk and the number of snapshot directories, for
`restartTimeout: 15m`, `sinkRotation: hourly`, `backup.keep: {hourly: 24, daily: 30}` against
today's monthly files with one level (`backup.retention`) at the same interval.

Simulated: the clock, and Connect. Before each cycle the 15 minutes of records since the previous
one are appended to the file Connect would be writing (mtime set to the simulated time), then the
storage half of the cycle runs as `Cycle` runs it: `staging.freeze` (inside the stop window),
`staging.stage` of the file being written, `compress_stale`, `backup_snapshot` (real gocryptfs,
rsnapshot with its levels, pruning, verification, unmount) with the simulated clock deciding
which levels are due, `staging.clear`. Connect's own stop and resume do not depend on the data
(the downtime benchmark measures them) and are left out.

The levels variant runs every cycle of the month. The one-level variant is sampled: on each
sample day a fresh volume gets the month's file as it stands that morning and runs
backup.retention + 1 cycles; with one level the target then holds exactly what a month of
cycles would leave (rsnapshot keeps only the last `retention` snapshots, the older ones are gone).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RecordSource,
    Section,
    Stopwatch,
    Table,
    du_bytes,
    human,
    ratio,
    set_mtime,
    unmount_under,
)
from benchmarks.storage import SINK_NAME, TOPIC, simulated_config
from kafka_connect_backup.config import Config, SinkRotation
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.supervisor.compress import compress_stale

INTERVAL = timedelta(minutes=15)
KEEP = {"hourly": 24, "daily": 30}
# The target: a cycle costs at most this plus the copy of the data since the last one.
TARGET_FIXED_SECONDS = 2.0
TARGET_STORAGE = 1.2


@dataclass
class RetentionOptions:
    days: int
    hour_bytes: int  # sunk per hour, steady
    retention: int = 7  # the one-level variant's backup.retention
    sample_days: tuple[int, ...] = (1, 10, 20, 30)
    engine: str = "gocryptfs"
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


@dataclass
class Cycle:
    day: int  # 1-based
    seconds: float
    window_seconds: float  # staging.freeze: the supervisor's work while Connect is stopped
    copied_files: int  # files the snapshot copy wrote into .sync (new or changed)
    dirs: int  # snapshot directories on the volume after it


@dataclass
class Day:
    day: int
    cycles: list[Cycle]
    target: int  # bytes on the target (du) at the end of the day
    sunk: int  # bytes sunk since the start of the month

    def mean(self, attribute: str = "seconds") -> float:
        return sum(float(getattr(c, attribute)) for c in self.cycles) / len(self.cycles)

    def worst(self, attribute: str = "seconds") -> float:
        return max(float(getattr(c, attribute)) for c in self.cycles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "cycles": len(self.cycles),
            "mean_cycle_s": self.mean(),
            "max_cycle_s": self.worst(),
            "mean_window_s": self.mean("window_seconds"),
            "mean_copied_files": self.mean("copied_files"),
            "target": self.target,
            "sunk": self.sunk,
            "dirs": self.cycles[-1].dirs,
        }


def _config(root: Path, rotation: SinkRotation, backup: dict[str, Any]) -> Config:
    return simulated_config(root, rotation, backup, restartTimeout="15m")


class Simulation:
    """One volume and its sink directory, cycled on a simulated clock."""

    def __init__(self, config: Config, start: datetime) -> None:
        self.config = config
        self.source = RecordSource("rt", start)
        self.sunk = 0

    def sink(self, until: datetime, size: int) -> Path:
        """Append `size` bytes, written just before `until`, to the file Connect writes then."""
        written = until - timedelta(seconds=1)
        period = period_of(written, self.config.sink_rotation)
        path = sink_file(self.config.sink_path, TOPIC, SINK_NAME, period)
        self.sunk += self.source.write(path, size)
        set_mtime(path, written)
        return path

    def cycle(self, now: datetime, being_written: Path, day: int) -> Cycle:
        """The storage half of one cycle, as `Cycle` runs it, at the simulated time `now`."""
        sink_path = self.config.sink_path
        watch = Stopwatch()
        frozen = staging.freeze(sink_path)
        window = watch.elapsed
        try:
            staged = staging.stage(sink_path, frozen, {being_written})
            compress_stale(self.config, now)
            result = backup_snapshot(self.config, source_dir=staged, now=lambda: now)
        finally:
            staging.clear(sink_path)
        return Cycle(day, watch.elapsed, window, result.copied_files, sum(result.counts.values()))

    def target(self) -> int:
        return du_bytes(self.config.backup.target_dir)


def _per_cycle(options: RetentionOptions) -> int:
    return options.hour_bytes * INTERVAL // timedelta(hours=1)


def levels_month(options: RetentionOptions, root: Path) -> list[Day]:
    """Every 15-minute cycle of the month: hourly files, backup.keep levels."""
    config = _config(root, SinkRotation.HOURLY, {"keep": KEEP, "engine": options.engine})
    sim = Simulation(config, options.start)
    days: list[Day] = []
    moment = options.start
    try:
        for day in range(1, options.days + 1):
            cycles = []
            for _ in range(timedelta(days=1) // INTERVAL):
                moment += INTERVAL
                written = sim.sink(moment, _per_cycle(options))
                cycles.append(sim.cycle(moment + timedelta(seconds=5), written, day))
            days.append(Day(day, cycles, sim.target(), sim.sunk))
            done = days[-1]
            print(
                f"  retention: day {day}: cycle {done.mean():.2f} s mean, "
                f"{done.worst():.2f} s max, {done.cycles[-1].dirs} snapshot dirs",
                flush=True,
            )
    finally:
        unmount_under(root)
    return days


def one_level_samples(options: RetentionOptions, root: Path) -> list[Day]:
    """Sample days of the month with monthly files and one level (see the module docstring)."""
    days: list[Day] = []
    for day in sorted({min(d, options.days) for d in options.sample_days}):
        where = root / f"day{day}"
        backup = {"retention": options.retention, "engine": options.engine}
        sim = Simulation(_config(where, SinkRotation.MONTHLY, backup), options.start)
        moment = options.start + timedelta(days=day - 1)
        try:
            if day > 1:  # the month's file as it stands that morning
                sim.sink(moment, options.hour_bytes * 24 * (day - 1))
            cycles = []
            for index in range(options.retention + 1):
                moment += INTERVAL
                written = sim.sink(moment, _per_cycle(options))
                cycle = sim.cycle(moment + timedelta(seconds=5), written, day)
                if index > 0:  # the first copies the whole file into a fresh volume
                    cycles.append(cycle)
            days.append(Day(day, cycles, sim.target(), sim.sunk))
        finally:
            unmount_under(where)
        shutil.rmtree(where)
    return days


def _slope(days: list[Day]) -> float:
    """Least-squares slope of the mean cycle time per day (s/day)."""
    xs = [d.day for d in days]
    ys = [d.mean() for d in days]
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def _day_row(label: str, d: Day) -> list[str]:
    return [
        label,
        str(d.day),
        f"{d.mean():.2f} / {d.worst():.2f}",
        f"{d.mean('window_seconds') * 1000:.1f} ms",
        f"{d.mean('copied_files'):.1f}",
        human(d.sunk),
        human(d.target),
        ratio(d.target / d.sunk),
        str(d.cycles[-1].dirs),
    ]


def run(options: RetentionOptions, work: Path) -> Section:
    section = Section("retention", "Retention levels through a month: 15-minute cycles")
    levels = levels_month(options, work / "levels")
    shutil.rmtree(work / "levels")
    baseline = one_level_samples(options, work / "one-level")
    per_cycle = _per_cycle(options)
    shown = sorted({1, *(d for d in options.sample_days if d <= options.days), options.days})
    table = Table(
        [
            "variant",
            "day",
            "cycle s (mean / max)",
            "stop-window work",
            "files copied / cycle",
            "sunk so far",
            "target (du)",
            "target / sunk",
            "snapshot dirs",
        ],
        caption=f"{options.days} simulated days from {options.start:%Y-%m-%d}, a cycle every 15 "
        f"minutes, {human(options.hour_bytes)} sunk per hour ({human(per_cycle)} per cycle), "
        f"{options.engine}, one topic.",
    )
    by_day = {d.day: d for d in levels}
    for day in shown:
        table.rows.append(_day_row(f"hourly files, keep {KEEP}", by_day[day]))
    for d in baseline:
        table.rows.append(_day_row(f"monthly files, retention {options.retention}", d))
    section.tables.append(table)
    first, last = levels[0], levels[-1]
    worst = max(d.worst() for d in levels)
    storage = last.target / last.sunk
    section.data = {
        "options": {
            "days": options.days,
            "hour_bytes": options.hour_bytes,
            "retention": options.retention,
            "keep": KEEP,
        },
        "levels": [d.as_dict() for d in levels],
        "one_level": [d.as_dict() for d in baseline],
    }
    section.method = [
        (
            f"{options.days} days of 15-minute cycles ({len(levels) * len(first.cycles)} cycles) "
            "on an injected clock: before each cycle the records of the last 15 minutes are "
            f"appended ({human(per_cycle)}, mtime at the simulated time) to the file Connect "
            "would be writing; the cycle then runs the supervisor's storage half as `Cycle` "
            "does: `staging.freeze` (the only supervisor work inside Connect's stop window), "
            "`staging.stage`, `compress_stale`, `backup_snapshot` with the simulated clock "
            f"deciding which levels are due (real {options.engine}, rsnapshot, pruning, "
            "verification, unmount), `staging.clear`."
        ),
        (
            "Connect itself is not simulated: its stop and resume do not depend on the data "
            "(the downtime and backup sections measure them); the column 'stop-window work' is "
            "what the supervisor adds to them."
        ),
        (
            f"The one-level variant (monthly files, backup.retention {options.retention}, the "
            "same 15-minute interval) is sampled: on each sample day a fresh volume gets the "
            f"month's file as it stands that morning and runs {options.retention + 1} cycles, "
            "the first (a full initial copy) left out. With one level the target then holds "
            "what a whole month of cycles leaves: rsnapshot keeps only the last "
            f"{options.retention} snapshots."
        ),
        "Target bytes: `du -s -B1` of the ciphertext directory (hard links counted once).",
    ]
    every = sorted(c.seconds for d in levels for c in d.cycles)
    p95 = every[min(len(every) - 1, int(len(every) * 0.95))]
    over = sum(1 for seconds in every if seconds > TARGET_FIXED_SECONDS)
    section.data["p95_cycle_s"] = p95
    section.data["cycles_over_target"] = over
    section.findings = [
        (
            f"Hourly files with levels: the mean cycle takes {first.mean():.2f} s on day 1 and "
            f"{last.mean():.2f} s on day {last.day} (slope {_slope(levels) * 1000:+.1f} ms per "
            f"day); 95% of the {len(every)} cycles took at most {p95:.2f} s, {over} took "
            f"longer than the target of {TARGET_FIXED_SECONDS:.0f} s plus the copy of "
            f"{human(per_cycle)}, the slowest {worst:.2f} s. Each cycle copies "
            f"{last.mean('copied_files'):.1f} file(s): the hour being written."
        ),
        (
            f"Storage after {last.day} days: {ratio(storage)} of the bytes sunk "
            f"({'under' if storage < TARGET_STORAGE else 'OVER'} the {TARGET_STORAGE}x "
            f"target), in {last.cycles[-1].dirs} snapshot directories "
            f"(hourly {KEEP['hourly']} + daily up to {KEEP['daily']})."
        ),
    ]
    if baseline:
        b_first, b_last = baseline[0], baseline[-1]
        section.findings.append(
            f"Monthly files with one level at the same interval: the cycle grows from "
            f"{b_first.mean():.2f} s (day {b_first.day}) to {b_last.mean():.2f} s (day "
            f"{b_last.day}), copying the whole month's file each time, and the target holds "
            f"{ratio(b_last.target / b_last.sunk)} the data on day {b_last.day}."
        )
    section.headline = [
        f"Retention levels, {last.day} simulated days of 15-minute cycles, hourly files, keep "
        f"{KEEP}: cycle {first.mean():.2f} s on day 1, {last.mean():.2f} s on day {last.day} "
        f"(95% under {p95:.2f} s, max {worst:.2f} s); storage {ratio(storage)} of the data in "
        f"{last.cycles[-1].dirs} snapshot directories"
        + (
            f"; monthly files with one level: {baseline[-1].mean():.2f} s per cycle and "
            f"{ratio(baseline[-1].target / baseline[-1].sunk)} on day {baseline[-1].day}."
            if baseline
            else "."
        )
    ]
    return section
