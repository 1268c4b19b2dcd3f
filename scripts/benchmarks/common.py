"""Shared pieces of the benchmarks: result sections, sizes, timing, sink data, disk usage."""

from __future__ import annotations

import os
import random
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka_connect_backup.tools import fuse, rsnapshot

MB = 1_000_000
# The rsync that rsnapshot runs (its default short args, our long args and filter), for the
# "plain rsync" contenders: the same copy into an unencrypted directory.
PLAIN_RSYNC = [
    "rsync",
    "-a",
    *rsnapshot.RSYNC_LONG_ARGS.split(),
    *(f"--include={pattern}" for pattern in rsnapshot.BACKED_UP_PATTERNS),
    "--exclude=*",
]
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""


@dataclass
class Section:
    """One benchmark's result: what was measured, tables, ratios, interpretation."""

    name: str
    title: str
    method: list[str] = field(default_factory=list)  # what ran, what was simulated
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # interpretation computed from the numbers
    headline: list[str] = field(default_factory=list)  # one or two lines for the summary
    available: bool = True
    error: str | None = None
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers (for --json)


def parse_size(text: str) -> int:
    """'10M', '1G', '256MiB', '4096' -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 10M, 1G, 512K)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=True, **kwargs)


def du_bytes(path: Path, *, apparent: bool = False) -> int:
    """Bytes under path as `du` counts them (hard links once): allocated, or apparent."""
    args = ["du", "-s", "-B1", *(["--apparent-size"] if apparent else []), str(path)]
    return int(run(args).stdout.split()[0])


# --- sink data -----------------------------------------------------------------------------

_WORDS = [
    "order",
    "payment",
    "refund",
    "shipment",
    "invoice",
    "login",
    "logout",
    "click",
    "view",
    "search",
    "cart",
    "checkout",
    "signup",
    "update",
    "delete",
    "create",
    "approve",
    "reject",
    "retry",
    "timeout",
    "cancel",
]
_CITIES = [
    "Berlin",
    "Paris",
    "Madrid",
    "Rome",
    "Vienna",
    "Prague",
    "Oslo",
    "Lisbon",
    "Dublin",
    "Warsaw",
    "Athens",
]
_POOL = 4096  # distinct record tails; repeats are ~1 MB apart, far beyond deflate's 32 KiB window


def _tails(seed: int) -> list[str]:
    rng = random.Random(seed)
    tails = []
    for _ in range(_POOL):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8)))
        tails.append(
            f'"type":"{rng.choice(_WORDS)}","user":"user-{rng.randint(1, 99999):05d}",'
            f'"city":"{rng.choice(_CITIES)}","amount":{rng.randint(1, 999999) / 100:.2f},'
            f'"currency":"EUR","ok":{"true" if rng.random() < 0.9 else "false"},'
            f'"session":"{rng.getrandbits(64):016x}","note":"{words}"'
        )
    return tails


class RecordSource:
    """Realistic JSON event lines (~250-300 bytes, with `utcTime`), generated fast: a unique id
    and time per line, the rest drawn from a pool of random tails."""

    def __init__(self, prefix: str, start: datetime, seed: int = 7) -> None:
        self.prefix = prefix
        self.moment = start
        self.count = 0
        self.tails = _tails(seed)

    def chunk(self, lines: int = 10_000, step: timedelta = timedelta(milliseconds=10)) -> str:
        base = self.moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        out = []
        first = self.count
        for i in range(first, first + lines):
            out.append(
                f'{{"id":"{self.prefix}-{i}","utcTime":"{base}.{i % 1000:03d}Z",'
                f"{self.tails[i % _POOL]}}}\n"
            )
        self.count += lines
        self.moment += step * lines
        return "".join(out)

    def chunks(self, total_bytes: int) -> Iterator[bytes]:
        """Whole lines adding up to about total_bytes (never more than one line over)."""
        left = total_bytes
        while left > 0:
            data = self.chunk().encode()
            if len(data) > left:
                cut = data.find(b"\n", left - 1)
                data = data[: cut + 1] if cut >= 0 else data
            left -= len(data)
            yield data

    def write(self, path: Path, total_bytes: int, *, append: bool = True) -> int:
        written = 0
        with path.open("ab" if append else "wb") as handle:
            for data in self.chunks(total_bytes):
                handle.write(data)
                written += len(data)
        return written


def set_mtime(path: Path, moment: datetime) -> None:
    stamp = moment.timestamp()
    os.utime(path, (stamp, stamp))


# --- cleanup -------------------------------------------------------------------------------


def unmount_under(root: Path) -> list[Path]:
    """Unmount every mount below root (deepest first); returns what was unmounted."""
    base = Path(os.path.realpath(root))
    found = sorted(
        {m.mount_point for m in fuse.mounts() if m.mount_point.is_relative_to(base)},
        key=lambda p: len(p.parts),
        reverse=True,
    )
    for path in found:
        try:
            fuse.unmount(path)
        except OSError:
            subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True, check=False)
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
    return found
