"""How numbers, times and lists read in messages and records: one size unit style (binary, 1
decimal), one style for how long a step took and one for an age, one UTC time style (ISO-8601
with a `Z`), one compact stamp for file names, counted nouns, a short list of names."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def human_bytes(count: int) -> str:
    """1023 B, 1.0 KiB, 12.3 MiB, 4.5 GiB, 1.2 TiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 partition', '3 partitions', '0 records'."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def first_few(names: list[str], most: int = 3) -> str:
    """'a, b, c' or 'a, b, c, ...': a list a message names without drowning in it."""
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def took(seconds: float) -> str:
    """How long a step took, in messages: '12.3s' (one decimal, whatever the length)."""
    return f"{seconds:.1f}s"


def human_duration(seconds: float | None) -> str:
    """'45s', '2.5m', '1.5h', '3.0d' ('?' for None, a negative age reads as 0s)."""
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def utc_iso(moment: datetime | float, *, timespec: str = "seconds") -> str:
    """An aware datetime or an epoch as ISO-8601 in UTC with a `Z`: `2026-01-19T15:57:00Z`.
    `timespec` as datetime.isoformat's ('auto' keeps a fraction when there is one). Unlike
    strftime, years before 1000 keep their four digits."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def compact_stamp(epoch: float | None = None) -> str:
    """A UTC time (now by default) in a file name: `20260119T155700Z`."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
