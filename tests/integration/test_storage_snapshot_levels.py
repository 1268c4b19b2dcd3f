"""backup.keep's levels with real rsnapshot and a real gocryptfs mount on a tmpfs target, the
cycle's clock injected (issue 27): levels fed in order (daily.0 is the hourly.2 it took, weekly.0
the daily.1), no higher rotation before the level below holds its oldest, an upgrade lowering a
count and removing a level, and a volume moving from backup.retention to backup.keep."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.config import Config, parse_config
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.layout.snapshot_dirs import snapshot_dirs
from kafka_connect_backup.supervisor.backup.snapshot import SnapshotResult, backup_snapshot
from kafka_connect_backup.tools.volume import mounted_volume
from storage_helpers import StorageEnv, storage_env, tree

pytestmark = pytest.mark.integration

SINK = "orders-sink-2026-12.sink"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as created:
        yield created


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    yield stream
    configure_logging("INFO")


def config(env: StorageEnv, **backup: Any) -> Config:
    data = env.config_data(engine="gocryptfs", **backup)
    return parse_config({**data, "restartTimeout": "15m"})


def cycle(env: StorageEnv, conf: Config, number: int, at: str) -> SnapshotResult:
    """One backup step at `at` (UTC) whose sink file ends with `cycle {number}`: each snapshot
    says which cycle took it."""
    with (env.sink / SINK).open("a") as handle:
        handle.write(json.dumps({"cycle": number}) + "\n")
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return backup_snapshot(conf, now=lambda: moment)


def volume(conf: Config) -> dict[str, dict[str, bytes]]:
    """Every snapshot directory's files (its marker too), by name."""
    with mounted_volume(conf.backup, allow_init=False) as mounted:
        return {s.name: tree(s.path) for s in snapshot_dirs(mounted.snapshot_root)}


def cycles_held(snapshots: dict[str, dict[str, bytes]]) -> dict[str, int]:
    """Which cycle took each snapshot (the last line of its sink file)."""
    return {
        name: json.loads(files[f"localhost/{SINK}"].splitlines()[-1])["cycle"]
        for name, files in snapshots.items()
    }


def events(log_lines: io.StringIO, name: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    return [e for e in parsed if e["event"] == name]


# (time, higher levels promoted, which cycle each snapshot holds after the cycle), for
# keep {hourly: 3, daily: 2, weekly: 2} at keepAt 00:00; 2026-12-07 is a Monday.
LEVELS_FED_IN_ORDER = [
    ("2026-12-05T08:00", [], {"hourly.0": 0}),  # daily due, but no hourly.2 to take
    ("2026-12-05T16:00", [], {"hourly.0": 1, "hourly.1": 0}),
    ("2026-12-06T00:00", [], {"hourly.0": 2, "hourly.1": 1, "hourly.2": 0}),
    # daily takes hourly.2 (cycle 0); weekly is due but daily.1 does not exist yet
    ("2026-12-06T08:00", ["daily"], {"hourly.0": 3, "hourly.1": 2, "hourly.2": 1, "daily.0": 0}),
    # the same day: no daily; hourly's rotation drops cycle 1 (rsnapshot's thinning)
    ("2026-12-06T16:00", [], {"hourly.0": 4, "hourly.1": 3, "hourly.2": 2, "daily.0": 0}),
    (
        "2026-12-07T00:00",  # Monday at keepAt: daily again; weekly still has no daily.1
        ["daily"],
        {"hourly.0": 5, "hourly.1": 4, "hourly.2": 3, "daily.0": 2, "daily.1": 0},
    ),
    (
        "2026-12-07T08:00",  # weekly (never fed) takes daily.1; daily waits for Tuesday
        ["weekly"],
        {"hourly.0": 6, "hourly.1": 5, "hourly.2": 4, "daily.0": 2, "weekly.0": 0},
    ),
    (
        "2026-12-08T00:00",
        ["daily"],
        {"hourly.0": 7, "hourly.1": 6, "hourly.2": 5, "daily.0": 4, "daily.1": 2, "weekly.0": 0},
    ),
    (
        "2026-12-14T00:05",  # the next Monday: weekly first (daily.1), then daily (hourly.2)
        ["weekly", "daily"],
        {
            "hourly.0": 8,
            "hourly.1": 7,
            "hourly.2": 6,
            "daily.0": 5,
            "daily.1": 4,
            "weekly.0": 2,
            "weekly.1": 0,
        },
    ),
]


def test_levels_are_fed_in_order_each_taking_the_one_below_s_oldest(env: StorageEnv) -> None:
    conf = config(env, keep={"hourly": 3, "daily": 2, "weekly": 2})
    previous: dict[str, dict[str, bytes]] = {}
    for number, (at, promoted, held) in enumerate(LEVELS_FED_IN_ORDER):
        result = cycle(env, conf, number, at)
        assert (result.name, result.promoted, result.pruned) == ("hourly.0", promoted, []), at
        snapshots = volume(conf)
        assert cycles_held(snapshots) == held, at
        # A promotion is rsnapshot's rename: the very files and completeness marker.
        if "daily" in promoted:
            assert snapshots["daily.0"] == previous["hourly.2"], at
        if "weekly" in promoted:
            assert snapshots["weekly.0"] == previous["daily.1"], at
        assert snapshots["hourly.0"][f"localhost/{SINK}"] == (env.sink / SINK).read_bytes()
        assert all(".kcb-snapshot.json" in files for files in snapshots.values())
        previous = snapshots
    # The recovery point is the newest snapshot holding the topic's file; the counts per level.
    assert result.recovery["orders"].snapshot == "hourly.0"
    assert result.counts == {"hourly": 3, "daily": 2, "weekly": 2}


def test_an_upgrade_lowers_a_count_and_removing_a_level_keeps_its_snapshots(
    env: StorageEnv, log_lines: io.StringIO
) -> None:
    conf = config(env, keep={"hourly": 3, "daily": 2, "weekly": 2})
    days = ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11", "2026-12-12"]
    for number, day in enumerate(days):
        cycle(env, conf, number, f"{day}T01:00")
    before = volume(conf)
    assert cycles_held(before) == {
        "hourly.0": 5,
        "hourly.1": 4,
        "hourly.2": 3,
        "daily.0": 2,
        "daily.1": 1,
        "weekly.0": 0,
    }

    # helm upgrade: hourly 3 -> 2, weekly removed; the same day (no daily due).
    lowered = config(env, keep={"hourly": 2, "daily": 2})
    result = cycle(env, lowered, 6, "2026-12-12T13:00")
    assert (result.pruned, result.promoted) == (["hourly.2"], [])
    after = volume(lowered)
    assert cycles_held(after) == {
        "hourly.0": 6,
        "hourly.1": 5,
        "daily.0": 2,
        "daily.1": 1,
        "weekly.0": 0,
    }
    assert after["weekly.0"] == before["weekly.0"]
    unconfigured = events(log_lines, "snapshot.level_unconfigured")
    assert [(e["snapshot_level"], e["snapshots"]) for e in unconfigured] == [
        ("weekly", ["weekly.0"])
    ]
    assert "kcb snapshots prune --level weekly" in unconfigured[0]["note"]
    pruned = events(log_lines, "snapshot.pruned")
    assert [Path(e["dir"]).name for e in pruned] == ["hourly.2"]

    # The next day: daily takes the new oldest hourly, hourly.1; weekly.0 stays.
    result = cycle(env, lowered, 7, "2026-12-13T01:00")
    assert (result.pruned, result.promoted) == ([], ["daily"])
    assert cycles_held(volume(lowered)) == {
        "hourly.0": 7,
        "hourly.1": 6,
        "daily.0": 5,
        "daily.1": 2,
        "weekly.0": 0,
    }


def test_moving_from_retention_to_keep_leaves_alpha_untouched(
    env: StorageEnv, log_lines: io.StringIO
) -> None:
    original = config(env, retention=3)
    for number in range(4):
        result = cycle(env, original, number, f"2026-12-07T0{number}:00")
        assert (result.name, result.promoted) == ("alpha.0", [])
    alpha = volume(original)
    assert cycles_held(alpha) == {"alpha.0": 3, "alpha.1": 2, "alpha.2": 1}

    keep = config(env, retention=3, keep={"hourly": 2, "daily": 3})
    for number in range(4, 8):
        result = cycle(env, keep, number, f"2026-12-07T0{number}:00")
        assert (result.name, result.pruned) == ("hourly.0", [])
    snapshots = volume(keep)
    assert cycles_held(snapshots) == {
        "alpha.0": 3,
        "alpha.1": 2,
        "alpha.2": 1,
        "hourly.0": 7,
        "hourly.1": 6,
        "daily.0": 4,  # fed at 06:00, the first cycle with an hourly.1
    }
    assert {name: snapshots[name] for name in alpha} == alpha  # not a byte changed
    unconfigured = events(log_lines, "snapshot.level_unconfigured")
    assert {e["snapshot_level"] for e in unconfigured} == {"alpha"}
    assert unconfigured[-1]["snapshots"] == ["alpha.0", "alpha.1", "alpha.2"]


def test_a_failure_after_a_promotion_keeps_it_recorded_and_done_once(
    env: StorageEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rsnapshot daily` ran, then `rsnapshot hourly` failed: daily.0 (the hourly.1 it took)
    is kept, the promotion is recorded, so the next cycle the same day does not feed daily
    again (which would delete daily.1 and take another hourly)."""
    from kafka_connect_backup.core.errors import KcbError
    from kafka_connect_backup.tools import rsnapshot

    conf = config(env, keep={"hourly": 2, "daily": 2})
    cycle(env, conf, 0, "2026-12-07T01:00")
    cycle(env, conf, 1, "2026-12-07T02:00")
    real_run = rsnapshot.run

    def failing_hourly(conf_path: Path, lockfile: Path, step: str = "", **kw: Any) -> Any:
        if step == "hourly":
            raise KcbError("rsnapshot hourly failed (test)", fix="-", cause="rsnapshot_failed")
        return real_run(conf_path, lockfile, step, **kw)

    monkeypatch.setattr(rsnapshot, "run", failing_hourly)
    with pytest.raises(KcbError) as caught:
        cycle(env, conf, 2, "2026-12-07T03:00")
    assert caught.value.cause == "rsnapshot_failed"
    assert "kept ['hourly.0', 'daily.0']" in caught.value.message
    monkeypatch.setattr(rsnapshot, "run", real_run)
    assert cycles_held(volume(conf)) == {"hourly.0": 1, "daily.0": 0}

    result = cycle(env, conf, 3, "2026-12-07T04:00")
    assert result.promoted == []
    assert cycles_held(volume(conf)) == {"hourly.0": 3, "hourly.1": 1, "daily.0": 0}
    result = cycle(env, conf, 4, "2026-12-08T00:00")
    assert result.promoted == ["daily"]
    assert cycles_held(volume(conf)) == {"hourly.0": 4, "hourly.1": 3, "daily.0": 1, "daily.1": 0}
