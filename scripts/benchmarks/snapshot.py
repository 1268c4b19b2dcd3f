"""Snapshot throughput per engine, side by side with plain rsync on the same files.

For each engine (gocryptfs, the default for new volumes; encfs, for existing ones), and each
mount variant asked for, in rounds that rotate the order:

- plain rsync: the rsnapshot config's rsync flags and filter, straight into a plain directory
  (a fresh one for the initial copy; the same one again for the steady state): the ceiling;
- raw rsync into a freshly created encrypted volume: what the FUSE engine alone costs;
- the real backup step (`backup_snapshot`: checks, mount, prune, the copy into `.sync`,
  `rsnapshot sync`, verify, `rsnapshot alpha`, unmount) into a fresh volume (initial), then
  again after appending to the current files (steady state: the copy rewrites the changed
  files, rsnapshot rotates and hard-links the rest).

No Kafka: Connect does not change what the snapshot copies (the backup section measures the
whole cycle). Every contender reads the same page-cached files and writes to the same disk;
nothing fsyncs (rsync does not, the engines do not; the data reaches the disk by writeback),
so the comparison is of the copy paths. Every timed run starts from the same memory state
(untimed: `sync`, drop the page cache, read the sink files back in): none is throttled by the
writeback of what the one before it wrote, nor slowed by the page cache the others filled (the
same copy into gocryptfs took 2.3 s after a sync alone, 2.7-3.5 s after plain rsync and a raw
rsync had added 4 GB of page cache, with nothing reclaimed: more kernel time per page).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PLAIN_RSYNC,
    RecordSource,
    Section,
    Stopwatch,
    Table,
    human,
    ratio,
    secs,
    unmount_under,
)
from kafka_connect_backup.config import Config, Engine, parse_config
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.tools import encfs, fuse, gocryptfs
from kafka_connect_backup.tools.volume import ENGINES
from local_config import local_backup, local_config

PASSWORD = "bench-only password 51f0"

# Mount options to compare, per engine: (label, the tool module's option tuple). The first of
# each engine is what the product uses.
VARIANTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "gocryptfs": [("product options", gocryptfs.MOUNT_OPTIONS)],
    "encfs": [("product options", encfs.FUSE_OPTIONS)],
}
EXTRA_VARIANTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "gocryptfs": [("without preallocation", (*gocryptfs.MOUNT_OPTIONS, "-noprealloc"))],
    "encfs": [("without -o big_writes", ())],
}


@dataclass
class SnapshotOptions:
    size: int
    files: int = 10
    current: int = 1  # files Connect appends to (copied again in the steady state)
    append: int = 64 << 20  # bytes appended to each current file before a steady-state run
    rounds: int = 2
    engines: tuple[str, ...] = ("gocryptfs", "encfs")
    variants: bool = True  # also the mount options in EXTRA_VARIANTS


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


@dataclass
class Contender:
    engine: str
    variant: str
    options: tuple[str, ...]
    raw_initial: Runs = field(default_factory=Runs)
    initial: Runs = field(default_factory=Runs)
    initial_rsnapshot: Runs = field(default_factory=Runs)
    steady: Runs = field(default_factory=Runs)
    steady_rsnapshot: Runs = field(default_factory=Runs)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def _settled(sink: Path) -> bool:
    """The same start for every timed run (untimed): no dirty page pending, and only the sink
    files in the page cache. False when the page cache could not be dropped (not root)."""
    os.sync()
    try:
        DROP_CACHES.write_text("1\n")  # 1: the page cache only (clean pages, after the sync)
    except OSError:
        return False
    _cache(sorted(sink.iterdir()))
    return True


def _cache(paths: list[Path]) -> None:
    subprocess.run(["cat", *map(str, paths)], stdout=subprocess.DEVNULL, check=True)


def _rsync(source: Path, target: Path) -> float:
    target.mkdir(parents=True, exist_ok=True)
    _settled(source)
    watch = Stopwatch()
    subprocess.run(
        [*PLAIN_RSYNC, f"{source}/", f"{target}/"],
        check=True,
        capture_output=True,
    )
    return watch.elapsed


def generate(sink: Path, options: SnapshotOptions) -> list[Path]:
    """options.files files of size/files bytes; the first `current` are the current ones."""
    sink.mkdir(parents=True, exist_ok=True)
    per_file = options.size // options.files
    first = sink / "bench-00-snap-2026-01.sink"
    RecordSource("snap", datetime(2026, 1, 1, tzinfo=UTC)).write(first, per_file, append=False)
    paths = [first]
    for index in range(1, options.files):
        path = sink / f"bench-{index:02d}-snap-2026-01.sink"
        shutil.copyfile(first, path)
        paths.append(path)
    _cache(paths)
    return paths


@contextmanager
def engine_options(engine: str, options: tuple[str, ...]) -> Iterator[None]:
    """Mount with these options for the block (the tool modules read them at mount time)."""
    module: Any = gocryptfs if engine == "gocryptfs" else encfs
    name = "MOUNT_OPTIONS" if engine == "gocryptfs" else "FUSE_OPTIONS"
    saved = getattr(module, name)
    setattr(module, name, options)
    try:
        yield
    finally:
        setattr(module, name, saved)


def _config(root: Path, sink: Path, engine: str) -> Config:
    (root / "password").write_text(PASSWORD + "\n")
    for name in ("target", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return parse_config(
        local_config(
            topics=["bench"],
            sink_name="snap",
            sink_path=sink,
            backup=local_backup(
                password_file=root / "password",
                target_dir=root / "target",
                mount_point=root / "plain",
                work_dir=root / "work",
                retention=3,
                engine=engine,
            ),
            compressAfterDays=36500,
        )
    )


def _raw_into_fresh_volume(root: Path, sink: Path, engine: str) -> float:
    target, mount = root / "raw-target", root / "raw-plain"
    target.mkdir(parents=True)
    mount.mkdir(parents=True)
    ENGINES[Engine(engine)].create(target, mount, PASSWORD)
    try:
        return _rsync(sink, mount / "copy")
    finally:
        fuse.unmount(mount)


def _append(paths: list[Path], count: int, amount: int, source: RecordSource) -> None:
    for path in paths[:count]:
        source.write(path, amount, append=True)


def run(options: SnapshotOptions, work: Path) -> Section:
    section = Section("snapshot", "Snapshot throughput per engine vs plain rsync")
    sink = work / "sink"
    paths = generate(sink, options)
    dropped = _settled(sink)
    contenders = [
        Contender(engine, label, opts)
        for engine in options.engines
        for label, opts in VARIANTS[engine] + (EXTRA_VARIANTS[engine] if options.variants else [])
    ]
    plain_initial, plain_steady = Runs(), Runs()
    appender = RecordSource("snap-live", datetime(2026, 1, 20, tzinfo=UTC), seed=3)
    changed = sum(p.stat().st_size for p in paths[: options.current])
    try:
        for round_number in range(options.rounds):
            shift = round_number % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            mirror = work / f"mirror-{round_number}"
            plain_initial.seconds.append(_rsync(sink, mirror))
            roots: dict[int, Path] = {}
            for contender in order:
                root = work / f"r{round_number}-{contender.engine}-{len(roots)}"
                roots[id(contender)] = root
                root.mkdir(parents=True)
                with engine_options(contender.engine, contender.options):
                    contender.raw_initial.seconds.append(
                        _raw_into_fresh_volume(root, sink, contender.engine)
                    )
                    config = _config(root, sink, contender.engine)
                    _settled(sink)
                    watch = Stopwatch()
                    result = backup_snapshot(config)
                    contender.initial.seconds.append(watch.elapsed)
                    contender.initial_rsnapshot.seconds.append(result.snapshot_seconds)
                shutil.rmtree(root / "raw-target", ignore_errors=True)
            # Steady state: Connect appended to the current files since the last snapshot.
            _append(paths, options.current, options.append, appender)
            changed = sum(p.stat().st_size for p in paths[: options.current])
            plain_steady.seconds.append(_rsync(sink, mirror))
            for contender in order:
                root = roots[id(contender)]
                with engine_options(contender.engine, contender.options):
                    config = _config(root, sink, contender.engine)
                    _settled(sink)
                    watch = Stopwatch()
                    result = backup_snapshot(config)
                    contender.steady.seconds.append(watch.elapsed)
                    contender.steady_rsnapshot.seconds.append(result.snapshot_seconds)
            for root in roots.values():
                shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(mirror, ignore_errors=True)
    finally:
        unmount_under(work)
    total = sum(p.stat().st_size for p in paths)
    section.tables.append(_table(contenders, plain_initial, plain_steady, total, changed))
    section.method = [
        (
            f"{options.files} sink files of {human(options.size / options.files)} "
            f"({human(options.size)} in all), page-cached; {options.current} of them 'current': "
            f"before each steady-state run {human(options.append)} is appended to each current "
            "file "
            "(the backup step then copies those files again in full, as it does every cycle)."
        ),
        (
            "plain rsync = the rsnapshot config's rsync flags and filter "
            f"({' '.join(PLAIN_RSYNC[1:])}) into a plain directory: into an empty one for the "
            "initial copy, into the same one again for the steady state."
        ),
        (
            "raw rsync into a fresh volume = the same rsync into a just-created encrypted volume "
            "(FUSE + encryption, no rsnapshot: what the product did before sync_copy.py); backup "
            "step = `backup_snapshot` as the cycle calls it (mount, prune, the copy of new and "
            "changed files into `.sync` in 1 MiB O_DIRECT writes, 4 files at once, `rsnapshot "
            "sync`, verify, `rsnapshot alpha`, unmount); its copy + rsnapshot part is shown "
            "separately."
        ),
        (
            f"{options.rounds} round(s); the order of the contenders rotates every round; each "
            "timed run starts from the same memory state ("
            + (
                "untimed: `sync`, drop the page cache, read the sink files back in"
                if dropped
                else "untimed `sync`; the page cache could not be dropped: not root"
            )
            + "); the median is shown. Throughput = bytes copied / seconds; ratio = plain "
            "rsync's seconds / the contender's (1.00x = as fast as plain rsync)."
        ),
    ]
    section.data = {
        "bytes": total,
        "changed_bytes": changed,
        "plain_initial": plain_initial.seconds,
        "plain_steady": plain_steady.seconds,
        "contenders": [
            {
                "engine": c.engine,
                "variant": c.variant,
                "options": list(c.options),
                "raw_initial": c.raw_initial.seconds,
                "initial": c.initial.seconds,
                "initial_rsnapshot": c.initial_rsnapshot.seconds,
                "steady": c.steady.seconds,
                "steady_rsnapshot": c.steady_rsnapshot.seconds,
            }
            for c in contenders
        ],
    }
    section.findings, section.headline = _findings(contenders, plain_initial, plain_steady, total)
    return section


def _rate(size: int, seconds: float | None) -> str:
    return f"{size / seconds / 1e6:.0f}" if seconds else "-"


def _cell(size: int, seconds: float | None, plain: float | None) -> str:
    """seconds (MB/s, speed as a fraction of plain rsync's)."""
    if not seconds:
        return "-"
    return f"{secs(seconds)} ({_rate(size, seconds)}, {ratio(plain / seconds if plain else None)})"


def _whole(seconds: float | None, plain: float | None) -> str:
    return f"{secs(seconds)} ({ratio(plain / seconds if plain and seconds else None)})"


def _table(
    contenders: list[Contender], plain_initial: Runs, plain_steady: Runs, total: int, changed: int
) -> Table:
    table = Table(
        [
            "engine",
            "mount options",
            "initial: raw rsync into the volume s (MB/s, speed / plain)",
            "initial: copy + rsnapshot s (MB/s, / plain)",
            "initial: whole backup step s",
            "steady: copy + rsnapshot s (MB/s, / plain)",
            "steady: whole backup step s",
        ],
        caption=f"plain rsync: initial {secs(plain_initial.median)} s "
        f"({_rate(total, plain_initial.median)} MB/s), steady state {secs(plain_steady.median)} s "
        f"({human(changed)} changed, {_rate(changed, plain_steady.median)} MB/s). MB/s = bytes "
        "to copy (all files initially, the changed ones in the steady state) / seconds.",
    )
    pi, ps = plain_initial.median, plain_steady.median
    for c in contenders:
        table.rows.append(
            [
                c.engine,
                c.variant + (f" ({' '.join(c.options)})" if c.options else " (none)"),
                _cell(total, c.raw_initial.median, pi),
                _cell(total, c.initial_rsnapshot.median, pi),
                _whole(c.initial.median, pi),
                _cell(changed, c.steady_rsnapshot.median, ps),
                _whole(c.steady.median, ps),
            ]
        )
    return table


def _findings(
    contenders: list[Contender], plain_initial: Runs, plain_steady: Runs, total: int
) -> tuple[list[str], list[str]]:
    findings, headline = [], []
    pi, ps = plain_initial.median, plain_steady.median
    parts = []
    for c in contenders:
        rs_initial, rs_steady = c.initial_rsnapshot.median, c.steady_rsnapshot.median
        if c.variant != "product options" or not rs_initial or not pi:
            continue
        init = pi / rs_initial
        steady = ps / rs_steady if ps and rs_steady else None
        raw = pi / c.raw_initial.median if c.raw_initial.median else None
        whole = pi / c.initial.median if c.initial.median else None
        findings.append(
            f"{c.engine}: the initial copy (copy + rsnapshot) runs at {_rate(total, rs_initial)} "
            f"MB/s = {ratio(init)} plain rsync's speed ({_rate(total, pi)} MB/s); raw rsync into "
            f"the volume {ratio(raw)}; the whole backup step (mount, prune, copy, rsnapshot, "
            f"verify, unmount) {ratio(whole)}; steady state (copy + rsnapshot) {ratio(steady)}."
        )
        parts.append(f"{c.engine} {ratio(init)} initial, {ratio(steady)} steady")
    for c in contenders:
        if c.variant == "product options" or not c.initial.median:
            continue
        base = next(
            (b for b in contenders if b.engine == c.engine and b.variant == "product options"),
            None,
        )
        if base is None or not base.initial.median:
            continue
        findings.append(
            f"{c.engine} {c.variant}: initial copy + rsnapshot "
            f"{secs(c.initial_rsnapshot.median)} s vs {secs(base.initial_rsnapshot.median)} s "
            f"with the product's options; raw rsync {secs(c.raw_initial.median)} s vs "
            f"{secs(base.raw_initial.median)} s."
        )
    if parts:
        headline.append(
            f"Snapshot of {human(total)} (copy + rsnapshot) vs plain rsync (speed ratio): "
            + "; ".join(parts)
            + "."
        )
    return findings, headline
