"""backup.keep's levels (issue 27): the config's checks, the rendered `retain` lines, which
higher levels are due at a time (levels.py, an injected clock), the retention of each level and
the interrupted-run cleanup's renumbering per level."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafka_connect_backup.config import ConfigError, parse_config
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.layout.snapshot_status import write_marker
from kafka_connect_backup.supervisor.backup import levels, retention
from kafka_connect_backup.supervisor.backup.interrupted import (
    RunState,
    discard_incomplete,
    fingerprints,
    left_behind,
    mark_run,
    run_state,
    settle_newest,
)
from kafka_connect_backup.tools import rsnapshot

pytestmark = pytest.mark.unit

MIDNIGHT = time(0, 0, tzinfo=UTC)


# --- config ---------------------------------------------------------------------------------


def test_keep_is_ordered_lowest_first_and_names_the_newest_snapshot() -> None:
    config = parse_config(
        {
            "topics": ["t"],
            "restartTimeout": "15m",
            "backup": {"keep": {"monthly": 12, "hourly": 24, "daily": 7}, "keepAt": "03:30"},
        }
    )
    backup = config.backup
    assert list(backup.levels.items()) == [("hourly", 24), ("daily", 7), ("monthly", 12)]
    assert (backup.lowest_level, backup.newest_snapshot) == ("hourly", "hourly.0")
    assert backup.keep_at_time == time(3, 30, tzinfo=UTC)
    default = parse_config({"topics": ["t"], "backup": {"retention": 4}}).backup
    assert (default.keep, default.keep_at, default.levels) == ({}, "00:00", {"alpha": 4})
    assert default.newest_snapshot == "alpha.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"backup": {"keep": {"hourly": 24}}},
            (
                "config is invalid: backup.keep.hourly needs restartTimeout of at most 1h (it is "
                "23h): lower restartTimeout or remove backup.keep.hourly"
            ),
        ),
        (
            {"restartTimeout": "2d", "backup": {"keep": {"daily": 7, "weekly": 4}}},
            (
                "config is invalid: backup.keep.daily needs restartTimeout of at most 1d (it is "
                "2d): lower restartTimeout or remove backup.keep.daily"
            ),
        ),
        (
            {"restartTimeout": "15m", "backup": {"keep": {"yearly": 2, "hourly": 3}}},
            (
                "config is invalid: backup.keep: unknown level 'yearly': use any of hourly, daily, "
                "weekly, monthly"
            ),
        ),
        (
            {"restartTimeout": "15m", "backup": {"keep": {"hourly": 1, "weekly": 4}}},
            (
                "config is invalid: backup.keep: hourly is 1 but feeds weekly: a level that "
                "feeds a higher one keeps at least 2 (rsnapshot refuses 1); raise "
                "backup.keep.hourly to 2 or more"
            ),
        ),
        (
            {"restartTimeout": "15m", "backup": {"keep": {"hourly": 1001}}},
            "config is invalid: backup.keep.hourly: Input should be less than or equal to 1000",
        ),
        (
            {"backup": {"keepAt": "7:00"}},
            (
                "config is invalid: backup.keepAt: '7:00' is not a time of day: write HH:MM (UTC), "
                "e.g. 00:00 or 03:30"
            ),
        ),
    ],
)
def test_levels_that_cannot_work_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"topics": ["t"], **data})
    assert str(caught.value) == message


def test_the_highest_level_may_keep_one_and_a_level_may_equal_the_cycle() -> None:
    config = parse_config(
        {"topics": ["t"], "restartTimeout": "1h", "backup": {"keep": {"hourly": 2, "daily": 1}}}
    )
    assert config.backup.levels == {"hourly": 2, "daily": 1}


# --- rsnapshot.conf -------------------------------------------------------------------------


def test_rsnapshot_conf_has_one_retain_line_per_level_lowest_first() -> None:
    text = rsnapshot.render_config(
        snapshot_root=Path("/mnt/backup"),
        source_dir=Path("/data"),
        levels={"hourly": 24, "daily": 7, "monthly": 12},
        lockfile=Path("/tmp/kcb/rsnapshot.pid"),
    )
    retains = [line for line in text.splitlines() if line.startswith("retain")]
    assert retains == ["retain\thourly\t24", "retain\tdaily\t7", "retain\tmonthly\t12"]


# --- which levels are due -------------------------------------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "now", "keep_at", "expected"),
    [
        ("daily", "2026-12-07T00:00:00", MIDNIGHT, "2026-12-07T00:00:00"),  # exactly at keepAt
        ("daily", "2026-12-06T23:59:59", MIDNIGHT, "2026-12-06T00:00:00"),
        ("daily", "2026-12-07T03:29:00", time(3, 30), "2026-12-06T03:30:00"),
        ("weekly", "2026-12-07T00:00:00", MIDNIGHT, "2026-12-07T00:00:00"),  # a Monday
        ("weekly", "2026-12-06T23:59:00", MIDNIGHT, "2026-11-30T00:00:00"),  # the Sunday before
        ("weekly", "2026-12-07T01:00:00", time(2, 0), "2026-11-30T02:00:00"),  # Monday, before
        ("weekly", "2026-12-13T12:00:00", MIDNIGHT, "2026-12-07T00:00:00"),
        ("monthly", "2026-12-01T00:00:00", MIDNIGHT, "2026-12-01T00:00:00"),
        ("monthly", "2026-11-30T23:59:59", MIDNIGHT, "2026-11-01T00:00:00"),  # a month's end
        ("monthly", "2027-01-01T05:59:00", time(6, 0), "2026-12-01T06:00:00"),  # year's turn
        ("monthly", "2028-03-01T00:00:00", time(1, 0), "2028-02-01T01:00:00"),  # after Feb 29
    ],
)
def test_the_boundary_is_the_latest_keep_at_of_the_period(
    level: str, now: str, keep_at: time, expected: str
) -> None:
    assert levels.boundary(level, _at(now), keep_at) == _at(expected)


@given(
    st.sampled_from(["daily", "weekly", "monthly"]),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)),
    st.times(),
)
def test_the_boundary_is_at_or_before_now_and_the_last_one(
    level: str, naive: datetime, keep_at: time
) -> None:
    now = naive.replace(tzinfo=UTC)
    at = levels.boundary(level, now, keep_at)
    assert at <= now
    assert (at.hour, at.minute, at.second, at.microsecond) == (keep_at.hour, keep_at.minute, 0, 0)
    if level == "weekly":
        assert at.weekday() == 0 and now - at < timedelta(days=7)
    elif level == "monthly":
        assert at.day == 1 and now - at < timedelta(days=31)
    else:
        assert now - at < timedelta(days=1)
    # Idempotent, and the next period's boundary is after now.
    assert levels.boundary(level, at, keep_at) == at
    later = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}.get(level)
    if later is not None:
        assert levels.boundary(level, at - timedelta(microseconds=1), keep_at) == at - later


KEEP = {"hourly": 3, "daily": 2, "weekly": 2}


def test_a_level_is_due_once_per_period_and_only_with_the_lower_oldest_present() -> None:
    full = {"hourly.0", "hourly.1", "hourly.2", "daily.0", "daily.1"}
    now = _at("2026-12-07T00:10:00")  # a Monday
    # Never promoted: due; weekly runs before daily (each takes the one below's oldest).
    assert levels.due_levels(now, KEEP, MIDNIGHT, {}, full) == ["weekly", "daily"]
    promoted = {"daily": now, "weekly": now}
    later = now + timedelta(hours=23, minutes=49)  # 23:59 the same day
    assert levels.due_levels(later, KEEP, MIDNIGHT, promoted, full) == []
    tuesday = _at("2026-12-08T00:00:00")
    assert levels.due_levels(tuesday, KEEP, MIDNIGHT, promoted, full) == ["daily"]
    # hourly.2 missing: daily would rotate (and delete daily.1) with nothing to promote.
    assert levels.due_levels(tuesday, KEEP, MIDNIGHT, promoted, full - {"hourly.2"}) == []
    # daily.1 missing: weekly waits, daily still runs.
    monday = _at("2026-12-14T00:00:00")
    assert levels.due_levels(monday, KEEP, MIDNIGHT, promoted, full - {"daily.1"}) == ["daily"]


def test_the_original_level_and_a_single_level_have_nothing_to_feed() -> None:
    now = _at("2026-12-07T00:00:00")
    assert levels.due_levels(now, {"alpha": 7}, MIDNIGHT, {}, {"alpha.6"}) == []
    assert levels.due_levels(now, {"daily": 7}, MIDNIGHT, {}, {"daily.6"}) == []


@given(st.integers(min_value=0, max_value=24 * 60 * 40), st.integers(min_value=1, max_value=600))
def test_over_any_run_of_cycles_daily_is_fed_once_per_day(start_minute: int, step: int) -> None:
    """Cycles every `step` minutes (<= 10h) from a point of December: with everything present,
    daily runs exactly once per day boundary crossed (and at the first cycle)."""
    clock = _at("2026-12-01T00:00:00") + timedelta(minutes=start_minute)
    promoted: dict[str, datetime] = {}
    existing = {"hourly.2", "daily.1"}
    runs = []
    for _ in range(200):
        for level in levels.due_levels(clock, KEEP, MIDNIGHT, promoted, existing):
            promoted[level] = clock
            runs.append((level, clock))
        clock += timedelta(minutes=step)
    daily = [at for level, at in runs if level == "daily"]
    first, last = daily[0], clock - timedelta(minutes=step)
    assert len(daily) == 1 + (last.date() - first.date()).days
    assert len({at.date() for at in daily}) == len(daily)


# --- retention per level --------------------------------------------------------------------


def _snapshot(root: Path, name: str, files: dict[str, bytes], *, marked: bool = True) -> None:
    host = root / name / "localhost"
    host.mkdir(parents=True)
    for file, data in files.items():
        (host / file).write_bytes(data)
    if marked:
        write_marker(root / name, verified=True, files=len(files), bytes=0)


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_prune_lowers_each_configured_level_and_keeps_unconfigured_ones(tmp_path: Path) -> None:
    root = tmp_path
    file = {"t-s-2026-12.sink": b"x\n"}
    for name in ["alpha.0", "alpha.1", "hourly.0", "hourly.1", "hourly.2", "daily.0"]:
        _snapshot(root, name, file)
    _snapshot(root, "weekly.0", file)
    removed = retention.prune(root, {"hourly": 2, "daily": 1})
    assert [p.name for p in removed] == ["hourly.2"]
    assert _names(root) == ["alpha.0", "alpha.1", "daily.0", "hourly.0", "hourly.1", "weekly.0"]


def test_unconfigured_levels_are_logged_with_the_prune_command(tmp_path: Path) -> None:
    _snapshot(tmp_path, "weekly.0", {"a.sink": b"a"})
    _snapshot(tmp_path, "weekly.1", {"a.sink": b"a"})
    _snapshot(tmp_path, "hourly.0", {"a.sink": b"a"})
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        assert retention.prune(tmp_path, {"hourly": 3}) == []
    finally:
        configure_logging("INFO")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    logged = [e for e in events if e["event"] == "snapshot.level_unconfigured"]
    assert len(logged) == 1
    assert (logged[0]["snapshot_level"], logged[0]["snapshots"]) == (
        "weekly",
        ["weekly.0", "weekly.1"],
    )
    assert "kcb snapshots prune --level weekly" in logged[0]["note"]
    assert _names(tmp_path) == ["hourly.0", "weekly.0", "weekly.1"]


def test_prune_keeps_the_only_copy_of_a_file(tmp_path: Path) -> None:
    """hourly.2 is beyond the new count, but it alone holds last month's file (gone from the
    newer ones): kept. A file compressed since (`.sink` -> `.sink-{epoch}.gz`) is the same."""
    _snapshot(
        tmp_path, "hourly.0", {"t-s-2026-12.sink": b"b", "t-s-2026-10.sink-1790000000.gz": b"z"}
    )
    _snapshot(tmp_path, "hourly.1", {"t-s-2026-12.sink": b"a", "t-s-2026-10.sink": b"o"})
    _snapshot(tmp_path, "hourly.2", {"t-s-2026-11.sink": b"n"})
    _snapshot(tmp_path, "hourly.3", {"t-s-2026-12.sink": b""}, marked=False)  # unverified
    removed = retention.prune(tmp_path, {"hourly": 1})
    assert sorted(p.name for p in removed) == ["hourly.1", "hourly.3"]
    assert _names(tmp_path) == ["hourly.0", "hourly.2"]


def test_an_incomplete_snapshot_vouches_for_no_file(tmp_path: Path) -> None:
    _snapshot(tmp_path, "daily.0", {"t-s-2026-12.sink": b"b"})
    (tmp_path / "daily.0" / "localhost" / "t-s-2026-12.sink").write_bytes(b"changed after")
    _snapshot(tmp_path, "daily.1", {"t-s-2026-12.sink": b"a"})
    assert retention.prune(tmp_path, {"daily": 1}) == []


# --- interrupted runs with several levels ---------------------------------------------------


def test_a_killed_daily_rotation_is_renumbered_within_each_level(tmp_path: Path) -> None:
    """`rsnapshot daily` killed after `mv daily.0 daily.1`, before `mv hourly.2 daily.0`:
    everything is kept, daily renumbered to daily.0, hourly untouched; alpha.N left alone."""
    root = tmp_path
    _snapshot(root, "alpha.0", {"a.sink": b"alpha"})
    for index in range(3):
        _snapshot(root, f"hourly.{index}", {"a.sink": b"h" * (3 - index)})
    _snapshot(root, "daily.0", {"a.sink": b"d0"})
    _snapshot(root, "daily.1", {"a.sink": b"d1"})
    before = fingerprints(root)
    shutil.rmtree(root / "daily.1")
    (root / "daily.0").rename(root / "daily.1")
    done = discard_incomplete(root, before, {"hourly": 3, "daily": 2})
    assert done.removed == {} and done.quarantined == {}
    assert done.renamed == {"daily.1": "daily.0"}
    assert done.kept == ["alpha.0", "hourly.0", "hourly.1", "hourly.2", "daily.0"]
    assert (root / "daily.0" / "localhost" / "a.sink").read_bytes() == b"d0"


LEVELS = {"hourly": 3, "daily": 2}


def _month(root: Path, marked: bool = True) -> None:
    """alpha.0 of backup.retention, hourly.0-2 and daily.0-1 of LEVELS (`marked`: with
    completeness markers), and `.sync`, the copy the next hourly.0 is linked from."""
    _snapshot(root, "alpha.0", {"a.sink": b"alpha"})
    for index in range(3):
        files = {"a.sink": b"h" * (3 - index), "b.gz": b"b"}
        _snapshot(root, f"hourly.{index}", files, marked=marked)
    for index in range(2):
        files = {"a.sink": b"d" * (2 - index), "b.gz": b"b"}
        _snapshot(root, f"daily.{index}", files, marked=marked)
    _snapshot(root, ".sync", {"a.sink": b"hhhh", "b.gz": b"b", "c.sink": b"c"}, marked=False)


def test_a_runs_marker_holds_the_content_only_of_what_rsnapshot_can_change(
    tmp_path: Path,
) -> None:
    """hourly.0 (what a run without sync_first writes into) and each level's last kept (what
    a rotation deletes); the others only by inode, read after a kill."""
    _month(tmp_path)
    state = run_state(tmp_path, LEVELS)
    assert sorted(state.content) == ["daily.1", "hourly.0", "hourly.2"]
    assert sorted(state.inodes) == [
        "alpha.0",
        "daily.0",
        "daily.1",
        *(f"hourly.{i}" for i in range(3)),
    ]
    assert state.inodes["daily.0"] == (tmp_path / "daily.0").stat().st_ino
    mark_run(tmp_path, state)
    assert left_behind(tmp_path) == state
    assert run_state(tmp_path, LEVELS) == state  # nothing ran: nothing changed


def _link_into_new(root: Path, name: str, files: list[str]) -> None:
    host = root / name / "localhost"
    host.mkdir(parents=True)
    for file in files:
        (host / file).hardlink_to(root / ".sync" / "localhost" / file)


def _cut_hourly_delete(root: Path) -> None:
    (root / "hourly.2" / "localhost" / "b.gz").unlink()  # rm -rf hourly.2, killed


def _cut_after_moves(root: Path) -> None:
    shutil.rmtree(root / "hourly.2")
    (root / "hourly.1").rename(root / "hourly.2")
    (root / "hourly.0").rename(root / "hourly.1")


def _cut_mid_link(root: Path) -> None:
    _cut_after_moves(root)
    _link_into_new(root, "hourly.0", ["a.sink"])  # cp -al .sync hourly.0, killed


def _cut_after_daily(root: Path) -> None:
    shutil.rmtree(root / "daily.1")
    (root / "daily.0").rename(root / "daily.1")
    (root / "hourly.2").rename(root / "daily.0")
    (root / "hourly.1").rename(root / "hourly.2")  # rsnapshot hourly, killed mid-rotation


@pytest.mark.parametrize("marked", [True, False])
@pytest.mark.parametrize(
    "cut", [_cut_hourly_delete, _cut_after_moves, _cut_mid_link, _cut_after_daily]
)
def test_a_killed_run_is_judged_the_same_from_inodes_as_from_every_fingerprint(
    tmp_path: Path, cut: object, marked: bool
) -> None:
    """The rule gets the whole content of every snapshot before the run either way: the
    cleanup (what is removed, set aside, renamed, kept) and the tree it leaves are the same.
    Unmarked (an older version's snapshots), the fingerprints alone decide."""
    results = []
    for how in ("inodes", "fingerprints"):
        root = tmp_path / how
        _month(root, marked)
        before: RunState = run_state(root, LEVELS) if how == "inodes" else fingerprints(root)
        cut(root)  # type: ignore[operator]
        done = discard_incomplete(root, before, LEVELS)
        tree = {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.glob("*/localhost/*"))  # markers hold their own time
        }
        results.append(
            (sorted(done.removed), sorted(done.quarantined), done.renamed, done.kept, tree)
        )
    assert results[0] == results[1]
    assert results[0][3][:1] == ["alpha.0"]


def test_settle_newest_judges_the_lowest_levels_newest(tmp_path: Path) -> None:
    _snapshot(tmp_path, "alpha.0", {"a.sink": b"a"}, marked=False)
    _snapshot(tmp_path, "hourly.0", {"a.sink": b"new"})
    (tmp_path / "hourly.0" / "localhost" / "a.sink").write_bytes(b"changed")  # incomplete
    _snapshot(tmp_path, "hourly.1", {"a.sink": b"old"})
    done = settle_newest(tmp_path, "hourly")
    assert list(done.removed) == ["hourly.0"]
    assert done.renamed == {"hourly.1": "hourly.0"}
    assert _names(tmp_path) == ["alpha.0", "hourly.0"]


# --- the recovery point ---------------------------------------------------------------------


def _taken(root: Path, name: str, files: dict[str, bytes], finished: str | None) -> None:
    """A snapshot whose marker says it finished at `finished` (None: no marker, an older
    version's, unverified: its directory's mtime is its time)."""
    _snapshot(root, name, files, marked=finished is not None)
    if finished is not None:
        marker = root / name / ".kcb-snapshot.json"
        document = json.loads(marker.read_text())
        marker.write_text(json.dumps({**document, "finished": finished}))
        # The marker's listing still matches: only its time was set.


def test_each_topic_s_recovery_point_is_its_newest_usable_snapshot(tmp_path: Path) -> None:
    import os

    from kafka_connect_backup.supervisor.backup.recovery import (
        RecoveryPoint,
        recovery_points,
        snapshot_counts,
    )

    root = tmp_path
    _taken(root, "hourly.0", {"orders-sink-2026-12.sink": b"o"}, "2026-12-07T12:00:00Z")
    (root / "hourly.0/localhost/orders-sink-2026-12.sink").write_bytes(b"changed")  # incomplete
    _taken(root, "hourly.1", {"orders-sink-2026-12.sink": b"o"}, "2026-12-07T11:00:00Z")
    _taken(
        root, "daily.0", {"pay-ments-sink-2026-11.sink-1790000000.gz": b"p"}, "2026-12-06T00:00:00Z"
    )
    _taken(root, "alpha.0", {"pay-ments-sink-2026-11.sink": b"p", "x.topic.json": b"{}"}, None)
    os.utime(root / "alpha.0", (1_700_000_000, 1_700_000_000))  # 2023-11-14
    points = recovery_points(root, ["orders", "pay-ments", "idle"], "sink")
    assert points == {
        "orders": RecoveryPoint("hourly.1", datetime(2026, 12, 7, 11, tzinfo=UTC).timestamp()),
        "pay-ments": RecoveryPoint("daily.0", datetime(2026, 12, 6, tzinfo=UTC).timestamp()),
    }
    assert snapshot_counts(root) == {"hourly": 2, "daily": 1, "alpha": 1}


def test_status_and_metrics_show_the_recovery_point(tmp_path: Path) -> None:
    from kafka_connect_backup.layout.names import STATE_NAME
    from kafka_connect_backup.supervisor import status
    from kafka_connect_backup.supervisor.metrics import Metrics
    from kafka_connect_backup.supervisor.state import load_state

    now = datetime(2026, 12, 7, 12, 14, tzinfo=UTC).timestamp()
    taken = now - 840
    cfg = parse_config(
        {
            "topics": ["orders", "idle"],
            "sinkName": "sink",
            "sinkPath": str(tmp_path),
            "restartTimeout": "15m",
            "backup": {"keep": {"hourly": 24, "daily": 7}},
        }
    )
    (tmp_path / STATE_NAME).write_text(
        json.dumps(
            {
                "lastCycleEnd": now - 60,
                "lastSuccess": now - 60,
                "lastCycleOk": True,
                "lastSnapshot": {"time": now - 60, "files": 2, "bytes": 10, "engine": "gocryptfs"},
                "recoveryPoints": {"orders": {"snapshot": "hourly.0", "takenAt": taken}},
                "snapshotCounts": {"hourly": 24, "daily": 3},
            }
        )
    )
    doc = status.collect(cfg, admin=None, now=now)
    orders, idle = doc["topics"]
    assert orders["recoveryPoint"] == {
        "snapshot": "hourly.0",
        "takenAt": "2026-12-07T12:00:00Z",
        "ageSeconds": 840,
    }
    assert idle["recoveryPoint"] is None
    assert doc["lastSnapshot"]["name"] == "hourly.0"  # a state of before keep: the config's
    text = status.render(doc)
    assert ", recovery point 14.0m ago (hourly.0)" in text

    metrics = Metrics()
    state = load_state(cfg)
    metrics.observe_snapshots(state.recovery(), state.snapshot_counts)
    rendered = metrics.render().decode()
    assert 'kcb_snapshots{level="hourly"} 24.0' in rendered
    assert 'kcb_snapshots{level="daily"} 3.0' in rendered
    [line] = [
        line
        for line in rendered.splitlines()
        if line.startswith('kcb_recovery_point_age_seconds{topic="orders"}')
    ]
    assert float(line.split()[-1]) > 840  # aged at the scrape: real time is past `now`


def _rsnapshot_model(
    held: dict[str, int], retain: dict[str, int], level: str, cycle: int
) -> str | None:
    """rsnapshot's rotation of `level` on {name: cycle that took it}: the lowest level deletes
    its .{max}, shifts and links the new snapshot as .0; a higher one deletes its .{max},
    shifts and renames the level below's .{max} to its .0 (rotate_higher_interval). Returns
    the snapshot it deleted."""
    order = list(retain)
    top = retain[level] - 1
    deleted = f"{level}.{top}" if held.pop(f"{level}.{top}", None) is not None else None
    for index in range(top - 1, -1, -1):
        if f"{level}.{index}" in held:
            held[f"{level}.{index + 1}"] = held.pop(f"{level}.{index}")
    if level == order[0]:
        held[f"{level}.0"] = cycle
        return deleted
    lower = order[order.index(level) - 1]
    oldest = f"{lower}.{retain[lower] - 1}"
    assert oldest in held, f"{level} ran without {oldest}: it would promote nothing"
    held[f"{level}.0"] = held.pop(oldest)
    return deleted


@given(
    st.lists(st.sampled_from(["hourly", "daily", "weekly", "monthly"]), min_size=2, unique=True),
    st.lists(st.integers(min_value=2, max_value=4), min_size=4, max_size=4),
    st.lists(st.integers(min_value=60, max_value=3 * 86400), min_size=1, max_size=120),
    st.times(),
)
def test_levels_stay_fed_in_order_over_any_schedule(
    chosen: list[str], counts: list[int], gaps: list[int], keep_at: time
) -> None:
    """Whatever the cycle times: a higher level never rotates without the lower level's
    oldest to take; a level's oldest is deleted only in a cycle whose next level up does not
    take it (highest first); every snapshot of a higher level is older than every one below
    it (each level newest first)."""
    from kafka_connect_backup.layout.names import KEEP_LEVELS

    retain = {level: counts[i] for i, level in enumerate(KEEP_LEVELS) if level in chosen}
    held: dict[str, int] = {}
    promoted: dict[str, datetime] = {}
    clock = _at("2026-12-01T00:00:00")
    for cycle, gap in enumerate(gaps):
        clock += timedelta(seconds=gap)
        due = levels.due_levels(clock, retain, keep_at, promoted, set(held))
        order = list(retain)
        for level in [*due, order[0]]:
            deleted = _rsnapshot_model(held, retain, level, cycle)
            above = order[order.index(level) + 1 : order.index(level) + 2]
            assert deleted is None or not set(above) & set(due), (level, due, held)
            promoted[level] = clock
        taken = [
            [held[f"{level}.{i}"] for i in range(count) if f"{level}.{i}" in held]
            for level, count in retain.items()
        ]
        flat = [c for level_cycles in taken for c in level_cycles]
        assert flat == sorted(flat, reverse=True), held
        beyond = [n for n in held if int(n.split(".")[1]) >= retain[n.split(".")[0]]]
        assert beyond == [], held
