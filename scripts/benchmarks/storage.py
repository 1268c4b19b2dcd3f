"""Storage amplification: bytes on the backup target / bytes ever sunk, after N simulated daily
cycles with retention R, for monthly vs daily sink rotation.

Simulated: the clock, and Connect. Each simulated day, half the day's records are appended to
the current period's sink file (mtime set to 06:00 of that day), then the cycle's storage half
runs at 12:00 exactly as `Cycle` calls it (`compress_stale(config, now)` then
`backup_snapshot(config)`: real encfs or gocryptfs, real rsnapshot, retention pruning,
verification), then the other half is appended (mtime 18:00). Connect stop/resume is
skipped: it does not change what lands on the target. The target is a plain local directory
holding the ciphertext; it is measured with `du` (allocated bytes, hard links counted once).
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
from kafka_connect_backup.config import Config, SinkRotation, parse_config
from kafka_connect_backup.layout.sinkfiles import period_of, sink_file
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.supervisor.compress import compress_stale
from local_config import local_backup, local_config

PASSWORD = "bench-only password 4f1c"
TOPIC, SINK_NAME = "events", "bench"


@dataclass
class StorageOptions:
    days: int
    day_bytes: int
    retention: int
    engine: str = "encfs"
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Variant:
    label: str
    rotation: SinkRotation
    compress_after_days: float


VARIANTS = (
    Variant("monthly (original), compressAfterDays 30", SinkRotation.MONTHLY, 30),
    Variant("daily, compressAfterDays 30", SinkRotation.DAILY, 30),
    Variant("daily, compressAfterDays 1", SinkRotation.DAILY, 1),
)


def simulated_config(
    root: Path, rotation: SinkRotation, backup: dict[str, Any], **keys: Any
) -> Config:
    """The config of one simulated volume under root (sink/, target/, plain/, work/): the
    storage and retention benchmarks' topic, a password file, backup keys and top-level keys
    by their config names."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "password").write_text(PASSWORD + "\n")
    for name in ("sink", "target", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return parse_config(
        local_config(
            topics=[TOPIC],
            sink_name=SINK_NAME,
            sink_path=root / "sink",
            backup=local_backup(
                password_file=root / "password",
                target_dir=root / "target",
                mount_point=root / "plain",
                work_dir=root / "work",
                **backup,
            ),
            sinkRotation=rotation.value,
            **keys,
        )
    )


def _config(root: Path, variant: Variant, options: StorageOptions) -> Config:
    return simulated_config(
        root,
        variant.rotation,
        {"retention": options.retention, "engine": options.engine},
        compressAfterDays=variant.compress_after_days,
    )


def _append(config: Config, source: RecordSource, moment: datetime, size: int) -> int:
    path = sink_file(config.sink_path, TOPIC, SINK_NAME, period_of(moment, config.sink_rotation))
    written = source.write(path, size)
    set_mtime(path, moment)
    return written


def simulate(variant: Variant, options: StorageOptions, root: Path) -> dict[str, Any]:
    config = _config(root, variant, options)
    source = RecordSource("st", options.start)
    sunk = 0
    compressed = 0
    seconds: list[float] = []
    snapshotted = 0
    try:
        for day in range(options.days):
            midnight = options.start + timedelta(days=day)
            half = options.day_bytes // 2
            sunk += _append(config, source, midnight + timedelta(hours=6), half)
            now = midnight + timedelta(hours=12)
            watch = Stopwatch()
            compressed += len(compress_stale(config, now).compressed)
            result = backup_snapshot(config)
            seconds.append(watch.elapsed)
            snapshotted = result.bytes
            sunk += _append(
                config, source, midnight + timedelta(hours=18), options.day_bytes - half
            )
    finally:
        unmount_under(root)
    target = root / "target"
    return {
        "variant": variant.label,
        "sunk": sunk,
        "target_allocated": du_bytes(target),
        "target_apparent": du_bytes(target, apparent=True),
        "sink_allocated": du_bytes(config.sink_path),
        "last_snapshot_bytes": snapshotted,
        "compressed_files": compressed,
        "mean_step_seconds": sum(seconds) / len(seconds),
        "max_step_seconds": max(seconds),
    }


def run(options: StorageOptions, work: Path) -> Section:
    section = Section("storage", "Storage amplification: monthly vs daily rotation")
    results = []
    for index, variant in enumerate(VARIANTS):
        root = work / f"v{index}"
        results.append(simulate(variant, options, root))
        shutil.rmtree(root)
    table = Table(
        [
            "rotation",
            "bytes sunk",
            "target (du)",
            "target / sunk",
            "apparent / sunk",
            "sink dir (du)",
            "files gzipped",
            "storage step s (mean / max)",
        ],
        caption=f"{options.days} simulated days from {options.start:%Y-%m-%d}, "
        f"{human(options.day_bytes)} sunk per day, retention {options.retention}, "
        f"{options.engine}, one topic.",
    )
    for r in results:
        table.rows.append(
            [
                r["variant"],
                human(r["sunk"]),
                human(r["target_allocated"]),
                ratio(r["target_allocated"] / r["sunk"]),
                ratio(r["target_apparent"] / r["sunk"]),
                human(r["sink_allocated"]),
                str(r["compressed_files"]),
                f"{r['mean_step_seconds']:.2f} / {r['max_step_seconds']:.2f}",
            ]
        )
    section.tables.append(table)
    section.data = {
        "options": {
            "days": options.days,
            "day_bytes": options.day_bytes,
            "retention": options.retention,
        },
        "results": results,
    }
    section.method = [
        (
            f"{options.days} days simulated with an injected clock; each day "
            f"{human(options.day_bytes)} of JSON lines is appended to the current period's sink "
            "file, half before and half after the daily cycle at 12:00 (mtimes set to the "
            "simulated times, so rsync and the compressor see the simulated history)."
        ),
        (
            "Each cycle runs the real storage half of the supervisor in the order `Cycle` uses: "
            f"`compress_stale` then `backup_snapshot` ({options.engine} mount, pruning, "
            "`rsnapshot alpha`, "
            "verification, unmount). Connect is not involved: stop/resume does not change the "
            "bytes on the target."
        ),
        (
            "Target bytes: `du -s -B1` of the ciphertext directory (allocated, hard links counted "
            "once); 'apparent' uses `du --apparent-size`."
        ),
    ]
    monthly, daily = results[0], results[1]
    expected = (
        sum(options.days - k - 0.5 for k in range(min(options.retention, options.days)))
        / options.days
    )
    section.findings = [
        (
            f"Monthly rotation keeps {ratio(monthly['target_allocated'] / monthly['sunk'])} the "
            f"sunk bytes on the target: the month's file changes every day, so rsnapshot stores a "
            f"full copy of it in each of the {options.retention} snapshots (expected about "
            f"{expected:.1f}x when all {options.days} days fall in one month)."
        ),
        (
            f"Daily rotation keeps {ratio(daily['target_allocated'] / daily['sunk'])}: each day's "
            "file is copied twice (half-day at the noon cycle, complete the next day) and is then "
            "hard-linked across snapshots; the half-day copies survive only in the last "
            f"{options.retention} snapshots (expected about "
            f"{1 + (min(options.retention, options.days) - 2) / 2 / options.days:.2f}x plus "
            f"{options.engine} and directory overhead)."
        ),
    ]
    if len(results) > 2:
        gz = results[2]
        section.findings.append(
            f"Daily rotation with compressAfterDays 1: {ratio(gz['target_allocated'] / gz['sunk'])}"
            f" on the target ({gz['compressed_files']} files gzipped); the sink volume itself "
            f"shrinks to {human(gz['sink_allocated'])} vs {human(daily['sink_allocated'])}."
        )
    section.headline = [
        f"Storage after {options.days} simulated daily cycles, retention {options.retention}: "
        "bytes on the target / bytes sunk = "
        + "; ".join(f"{r['variant']}: {ratio(r['target_allocated'] / r['sunk'])}" for r in results)
        + "."
    ]
    return section
