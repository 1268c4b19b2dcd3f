"""Which of backup.keep's higher levels are due at a cycle (pure: the clock is passed in).

rsnapshot feeds each `retain` level from the one below it: `rsnapshot daily` deletes
`daily.{max}`, shifts the others up and renames the lower level's oldest snapshot,
`hourly.{count-1}`, to `daily.0`. It does that rotation (and the deletion) even when there is
nothing to promote, so a higher level is run only when BOTH:
- its period has passed: the latest boundary at or before now (today's keepAt for daily, the
  last Monday's keepAt for weekly, the 1st's keepAt for monthly) is later than its last
  promotion (recorded in the supervisor state; never recorded: due), and
- the level below holds its oldest snapshot `{lower}.{count-1}`; until it does (the first
  cycles after a level is added) the level stays due and runs at the first cycle that can feed
  it.
The due levels run highest first (each takes the level below's oldest before that level
rotates), then the lowest level takes the cycle's snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

from kafka_connect_backup.layout.snapshot_dirs import snapshot_name


def boundary(level: str, now: datetime, keep_at: time) -> datetime:
    """The latest start of a higher level's period at or before `now` (UTC): the day's keepAt
    (daily), Monday's (weekly), the 1st's (monthly)."""
    now = now.astimezone(UTC)
    at = now.replace(hour=keep_at.hour, minute=keep_at.minute, second=0, microsecond=0)
    if level == "daily":
        return at if at <= now else at - timedelta(days=1)
    if level == "weekly":
        at -= timedelta(days=now.weekday())
        return at if at <= now else at - timedelta(days=7)
    if level == "monthly":
        at = at.replace(day=1)
        return at if at <= now else (at - timedelta(days=1)).replace(day=1)
    raise ValueError(f"{level!r} has no period boundary: only daily, weekly and monthly are fed")


def oldest(levels: Mapping[str, int], level: str) -> str:
    """The name of a level's oldest kept snapshot, `{level}.{count-1}`: what the next level
    up takes."""
    return snapshot_name(level, levels[level] - 1)


def due_levels(
    now: datetime,
    levels: Mapping[str, int],
    keep_at: time,
    promoted: Mapping[str, datetime],
    existing: Collection[str],
) -> list[str]:
    """The higher levels to run this cycle, highest first. `levels`: the configured levels,
    lowest first (config.backup.levels); `promoted`: each level's last promotion; `existing`:
    the snapshot directory names on the volume before the cycle's rotations."""
    order = list(levels)
    due = []
    for lower, level in pairwise(order):
        last = promoted.get(level)
        if last is not None and boundary(level, now, keep_at) <= last:
            continue
        if oldest(levels, lower) in existing:
            due.append(level)
    return due[::-1]
