"""choose_snapshot: the newest complete (or unverified) snapshot across every level taken at
or before a time, by taken_at, with the plan's line saying why."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import (
    NoSnapshotChosen,
    choose_snapshot,
    listing_digest,
    marker_document,
)

pytestmark = pytest.mark.unit


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_snapshot(
    root: Path, name: str, taken: str, *, state: str = "complete", data: bytes = b"{}\n"
) -> Path:
    """A snapshot directory taken at `taken`: complete (a marker matching its content),
    incomplete (a marker whose digest no longer matches) or unverified (no marker, its
    directory's mtime)."""
    host = root / name / "localhost"
    host.mkdir(parents=True)
    (host / "orders-sink-2026-12.sink").write_bytes(data)
    entries, digest = listing_digest(root / name)
    if state != "unverified":
        document = marker_document(
            verified=True,
            entries=entries,
            digest=digest if state == "complete" else "0" * 64,
            finished=at(taken),
        )
        (root / name / MARKER_NAME).write_text(json.dumps(document))
    epoch = at(taken).timestamp()
    os.utime(root / name, (epoch, epoch))
    return root / name


def interleaved(root: Path) -> None:
    """hourly.N every hour of 2026-12-07 back to 04:00, daily.N at midnight, one weekly, and
    an alpha.N left from backup.retention."""
    for index in range(4):
        make_snapshot(root, f"hourly.{index}", f"2026-12-07T0{7 - index}:00:05")
    for index in range(3):
        make_snapshot(root, f"daily.{index}", f"2026-12-0{7 - index}T00:00:05")
    make_snapshot(root, "weekly.0", "2026-11-30T00:00:05")
    make_snapshot(root, "alpha.0", "2026-11-20T10:00:00", state="unverified")


@pytest.mark.parametrize(
    ("moment", "chosen", "taken"),
    [
        (None, "hourly.0", "2026-12-07T07:00:05Z"),
        ("2026-12-07T06:30", "hourly.1", "2026-12-07T06:00:05Z"),
        ("2026-12-07T04:00:05", "hourly.3", "2026-12-07T04:00:05Z"),
        # Before the oldest hourly: a daily.N, by time, not by level.
        ("2026-12-07T03:59", "daily.0", "2026-12-07T00:00:05Z"),
        ("2026-12-06T23:00", "daily.1", "2026-12-06T00:00:05Z"),
        ("2026-12-05T00:00", "weekly.0", "2026-11-30T00:00:05Z"),
        ("2026-11-29T00:00", "alpha.0", "2026-11-20T10:00:00Z"),
    ],
)
def test_the_newest_at_or_before_the_time_across_levels(
    tmp_path: Path, moment: str | None, chosen: str, taken: str
) -> None:
    interleaved(tmp_path)
    snapshot, reason = choose_snapshot(tmp_path, None if moment is None else at(moment))
    assert snapshot.name == chosen
    assert snapshot.path == tmp_path / chosen
    wanted = (
        "the newest snapshot"
        if moment is None
        else f"the newest at or before {at(moment).isoformat().replace('+00:00', 'Z')}"
    )
    assert reason == f"{chosen}, taken {taken}: {wanted}"


def test_incomplete_and_set_aside_snapshots_are_skipped_and_named(tmp_path: Path) -> None:
    interleaved(tmp_path)
    make_snapshot(tmp_path, "hourly.4", "2026-12-07T03:00:05", state="incomplete")
    make_snapshot(tmp_path, "_incomplete.hourly.5.1765072800", "2026-12-07T02:00:05")
    snapshot, reason = choose_snapshot(tmp_path, at("2026-12-07T03:30"))
    assert snapshot.name == "daily.0"
    assert reason == (
        "daily.0, taken 2026-12-07T00:00:05Z: the newest at or before 2026-12-07T03:30:00Z; "
        "skipped hourly.4 (incomplete), _incomplete.hourly.5.1765072800 (set aside)"
    )


def test_a_tie_goes_to_the_lower_level(tmp_path: Path) -> None:
    """rsnapshot promotes hourly.N to daily.0 with its marker: the same time in two levels."""
    make_snapshot(tmp_path, "daily.0", "2026-12-07T00:00:05")
    make_snapshot(tmp_path, "hourly.0", "2026-12-07T00:00:05")
    assert choose_snapshot(tmp_path, None)[0].name == "hourly.0"


def test_none_at_or_before_the_time_names_the_oldest(tmp_path: Path) -> None:
    interleaved(tmp_path)
    with pytest.raises(NoSnapshotChosen) as caught:
        choose_snapshot(tmp_path, at("2026-11-01T00:00"))
    assert caught.value.message == (
        f"no snapshot in {tmp_path} was taken at or before 2026-11-01T00:00:00Z: the oldest is "
        "alpha.0, taken 2026-11-20T10:00:00Z"
    )
    assert caught.value.fix == "give a time at or after 2026-11-20T10:00:00Z"


def test_only_incomplete_ones_or_none_at_all(tmp_path: Path) -> None:
    with pytest.raises(NoSnapshotChosen, match=r"^no snapshot in .*\(fix: mount the backup"):
        choose_snapshot(tmp_path, None)
    make_snapshot(tmp_path, "hourly.0", "2026-12-07T07:00:05", state="incomplete")
    with pytest.raises(NoSnapshotChosen) as caught:
        choose_snapshot(tmp_path, None)
    assert caught.value.message == (
        f"no snapshot in {tmp_path} is complete or unverified: skipped hourly.0 (incomplete)"
    )
    assert "--allow-incomplete" in caught.value.fix
