"""Compression: the supervisor's stale-file compressor vs `gzip -6` on the same file.

The compressor (`kafka_connect_backup.supervisor.compress.compress_file`) deflates 4 MiB
blocks at level 6 on up to min(4, CPUs) threads into one gzip member (pigz's method), fsyncs
the temp file, decompresses it again to check CRC-32 and length against the source, renames it
and fsyncs the directory. `gzip -6` compresses on one core (no fsync, no read-back). The same
run also times the compressor on one thread, zlib level 6 alone (no I/O) and the read-back
check alone, to show where the compressor's time goes. CPU seconds are reported next to wall
seconds because other work may share the machine.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import MB, RecordSource, Section, Table, human, ratio
from kafka_connect_backup.supervisor.compress import (
    LEVEL,
    compress_file,
    default_threads,
    gzip_digest,
)

BLOCK = 4 * 1024 * 1024
KCB = "kcb compressor (default threads)"
KCB1 = "kcb compressor, 1 thread"
GZIP = "gzip -6 (GNU gzip, one core, no fsync)"
ZLIB = "  zlib level 6 alone, one thread, no I/O"
VERIFY = "  read-back check alone (inflate + CRC-32)"


@dataclass
class CompressOptions:
    size: int
    repeats: int


@dataclass(frozen=True)
class Measure:
    wall: float
    cpu: float
    size: int


def _cpu() -> float:
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _measure(action: Callable[[], int]) -> Measure:
    cpu, wall = _cpu(), time.monotonic()
    size = action()
    return Measure(time.monotonic() - wall, _cpu() - cpu, size)


def _read_all(path: Path) -> None:
    """Read the file once so every contender starts from the page cache."""
    with path.open("rb") as handle:
        while handle.read(BLOCK):
            pass


def _zlib_only(path: Path) -> int:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
    out = 0
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK):
            out += len(compressor.compress(chunk))
    return out + len(compressor.flush())


def _gzip(path: Path, target: Path) -> int:
    with target.open("wb") as out:
        subprocess.run(["gzip", "-6", "-c", str(path)], stdout=out, check=True)
    size = target.stat().st_size
    target.unlink()
    return size


def _kcb(path: Path, work: Path, epoch: int, threads: int | None, kept: list[Path]) -> int:
    # compress_file removes its source: give it a hard link, the original stays.
    source = work / path.name
    os.link(path, source)
    done = compress_file(source, epoch, threads=threads)
    kept.append(done.target)
    return done.bytes_out


def _attempt(
    source: Path,
    work: Path,
    kcb_dir: Path,
    epoch: int,
    attempt: int,
    runs: dict[str, list[Measure]],
) -> None:
    outputs: list[Path] = []
    contenders: list[tuple[str, Callable[[], int]]] = [
        (GZIP, lambda: _gzip(source, work / "gzip-out.gz")),
        (KCB, lambda: _kcb(source, kcb_dir, epoch, None, outputs)),
        (KCB1, lambda: _kcb(source, kcb_dir, epoch + 1, 1, outputs)),
        (ZLIB, lambda: _zlib_only(source)),
    ]
    # Rotate the order so no contender always runs first on a cooler machine.
    shift = attempt % len(contenders)
    for name, action in contenders[shift:] + contenders[:shift]:
        runs[name].append(_measure(action))
    check = outputs[0]
    runs[VERIFY].append(_measure(lambda: (gzip_digest(check), check.stat().st_size)[1]))
    for path in outputs:
        path.unlink()


def run(options: CompressOptions, work: Path) -> Section:
    section = Section("compress", "Compression: stale-file compressor vs gzip -6")
    work.mkdir(parents=True, exist_ok=True)
    source = work / "events-bench-2026-01.sink"
    generated = RecordSource("cmp", datetime(2026, 1, 1, tzinfo=UTC)).write(source, options.size)
    _read_all(source)
    kcb_dir = work / "kcb"
    kcb_dir.mkdir()
    runs: dict[str, list[Measure]] = {name: [] for name in (KCB, KCB1, GZIP, ZLIB, VERIFY)}
    for attempt in range(options.repeats):
        _attempt(source, work, kcb_dir, 1_700_000_000 + 2 * attempt, attempt, runs)
    shutil.rmtree(kcb_dir)

    mb = generated / MB
    best = {name: min(measures, key=lambda m: m.wall) for name, measures in runs.items()}
    table = Table(
        [
            "contender",
            "best wall s",
            "CPU s",
            "all runs wall s",
            "MB/s (input)",
            "output",
            "in/out",
        ],
        caption=f"Input: one file of {generated / MB:.0f} MB of JSON lines, page-cached; best of "
        f"{options.repeats} run(s) each, order rotated; {default_threads()} thread(s) by default "
        "on this machine.",
    )
    for name, measure in best.items():
        table.rows.append(
            [
                name,
                f"{measure.wall:.2f}",
                f"{measure.cpu:.2f}",
                ", ".join(f"{m.wall:.2f}" for m in runs[name]),
                f"{mb / measure.wall:.1f}",
                human(measure.size),
                f"{generated / measure.size:.2f}",
            ]
        )
    section.tables.append(table)
    kcb, kcb1, gz, zl, verify = (best[n] for n in (KCB, KCB1, GZIP, ZLIB, VERIFY))
    speed = gz.wall / kcb.wall
    section.data = {
        "input_bytes": generated,
        "threads": default_threads(),
        "runs": {n: [vars(m) for m in ms] for n, ms in runs.items()},
        "kcb_mb_s": mb / kcb.wall,
        "gzip_mb_s": mb / gz.wall,
        "speed_ratio": speed,
    }
    section.method = [
        (
            f"One file of {human(generated)} of generated JSON event lines (with `utcTime`), read "
            "once beforehand so every contender reads from the page cache."
        ),
        (
            "`compress_file` is the exact function the cycle's compress step calls (it writes "
            "`{file}-{epoch}.gz`, checks it and removes its source; here the source is a hard "
            "link to the file, so the file stays for the next contender)."
        ),
        (
            "`gzip -6 -c file > out` is GNU gzip at the same level. CPU s = user + system time of "
            "this process and its children during the contender."
        ),
    ]
    section.findings = [
        (
            f"Compressor {mb / kcb.wall:.1f} MB/s vs gzip -6 {mb / gz.wall:.1f} MB/s: "
            f"{ratio(speed)} gzip's speed ({default_threads()} thread(s); on 1 thread "
            f"{ratio(gz.wall / kcb1.wall)}); output {human(kcb.size)} vs {human(gz.size)} "
            f"({kcb.size / gz.size:.3f}x gzip's size)."
        ),
        (
            f"Where the compressor's time goes: zlib deflate alone takes {zl.wall:.2f} s on one "
            f"thread, the read-back check {verify.wall:.2f} s ({verify.wall / kcb.wall:.0%} of the "
            f"compressor's wall time); CPU {kcb.cpu:.2f} s vs gzip's {gz.cpu:.2f} s. The check is "
            "what makes removing the source safe."
        ),
    ]
    section.headline = [
        (
            f"Compression of a {generated / MB:.0f} MB sink file: compressor "
            f"{mb / kcb.wall:.1f} MB/s vs gzip -6 {mb / gz.wall:.1f} MB/s ({ratio(speed)}), "
            f"{kcb.size / gz.size:.3f}x gzip's output size."
        )
    ]
    source.unlink()
    return section
