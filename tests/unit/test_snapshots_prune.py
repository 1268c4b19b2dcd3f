"""`kcb snapshots prune --level L`: the plan first, --yes to delete, and the refusals (a level
the supervisor prunes by count, the only copy of a backed-up file, a name that is no level)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import listing_digest, marker_document

pytestmark = pytest.mark.unit

FILES = "localhost/data/filesink"


def snapshot(root: Path, name: str, taken: str, files: list[str], *, marked: bool = True) -> None:
    where = root / name / FILES
    where.mkdir(parents=True)
    for file in files:
        (where / file).write_text('{"n":1}\n' * 10)
    moment = datetime.fromisoformat(taken).replace(tzinfo=UTC)
    if marked:
        entries, digest = listing_digest(root / name)
        document = marker_document(verified=True, entries=entries, digest=digest, finished=moment)
        (root / name / MARKER_NAME).write_text(json.dumps(document))
    os.utime(root / name, (moment.timestamp(), moment.timestamp()))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """hourly.0..1 and a removed level weekly.0..1; alpha.0 from backup.retention. November's
    file is compressed in hourly.0 (the same file); October's is in weekly.1 and alpha.0 only."""
    root = tmp_path / "backup"
    snapshot(
        root,
        "hourly.0",
        "2026-12-07T07:00:05",
        [
            "orders-sink-2026-12.sink",
            "orders-sink-2026-11.sink-1764547200.gz",
            "orders-sink.topic.json",
        ],
    )
    snapshot(root, "hourly.1", "2026-12-07T06:00:05", ["orders-sink-2026-12.sink"])
    snapshot(root, "weekly.0", "2026-11-30T00:00:05", ["orders-sink-2026-11.sink"])
    snapshot(
        root,
        "weekly.1",
        "2026-11-23T00:00:05",
        ["orders-sink-2026-11.sink", "orders-sink-2026-10.sink"],
    )
    snapshot(root, "alpha.0", "2026-11-01T10:00:00", ["orders-sink-2026-10.sink"], marked=False)
    return root


@pytest.fixture
def keep() -> dict[str, int]:
    """backup.keep as the config gives it (hourly only, weekly removed)."""
    return {"hourly": 24}


def prune(tmp_path: Path, root: Path, keep: dict[str, int], *extra: str) -> int:
    config = tmp_path / "config.yaml"
    config.write_text(
        "topics: [orders]\nsinkName: sink\nrestartTimeout: 15m\n"
        f"backup: {{keep: {json.dumps(keep)}}}\n"
    )
    return kcb(
        ["snapshots", "prune", "--config", str(config), "--snapshot-root", str(root), *extra]
    )


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_the_plan_first_then_yes_deletes(
    tmp_path: Path, root: Path, keep: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert prune(tmp_path, root, keep, "--level", "weekly") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        (
            f"prune 2 snapshots of level weekly in {root} (240 B of files; hard-linked files "
            "shared with kept snapshots free nothing):"
        ),
        "  weekly.0    taken 2026-11-30T00:00:05Z  80 B",
        "  weekly.1    taken 2026-11-23T00:00:05Z  160 B",
        "nothing deleted: give --yes to delete them",
    ]
    assert names(root) == ["alpha.0", "hourly.0", "hourly.1", "weekly.0", "weekly.1"]

    assert prune(tmp_path, root, keep, "--level", "weekly", "--yes") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "deleted weekly.0, weekly.1"
    assert names(root) == ["alpha.0", "hourly.0", "hourly.1"]
    assert prune(tmp_path, root, keep, "--level", "weekly") == 0
    assert capsys.readouterr().out == f"kcb: no weekly.N in {root}: nothing to prune\n"


def test_the_only_copy_of_a_file_is_refused_unless_allow_loss(
    tmp_path: Path, root: Path, keep: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert prune(tmp_path, root, keep, "--level", "weekly", "--yes") == 0
    capsys.readouterr()
    # October's file is now in alpha.0 alone.
    assert prune(tmp_path, root, keep, "--level", "alpha", "--yes") == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "kcb: error: pruning level alpha would delete the only copy of 1 backed-up file: "
        f"alpha.0/{FILES}/orders-sink-2026-10.sink (no kept complete snapshot holds them) "
        "(fix: keep the level, or copy those files elsewhere (kcb snapshots export) and give "
        "--allow-loss)\n"
    )
    assert "  alpha.0     taken 2026-11-01T10:00:00Z  80 B\n" in captured.out  # the plan first
    assert "alpha.0" in names(root)
    assert prune(tmp_path, root, keep, "--level", "alpha", "--yes", "--allow-loss") == 0
    assert names(root) == ["hourly.0", "hourly.1"]


def test_an_incomplete_snapshot_keeps_nothing(
    tmp_path: Path, root: Path, keep: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """weekly.1's October file is also in alpha.0: once alpha.0 is incomplete, it is not a
    copy to count on."""
    (root / "alpha.0" / FILES / "orders-sink-2026-10.sink").write_text("cut")
    (root / "alpha.0" / "localhost" / "orders-sink.topic.json").write_text("{}")  # marker lost
    assert prune(tmp_path, root, keep, "--level", "weekly", "--yes") == 2
    assert "orders-sink-2026-10.sink" in capsys.readouterr().err
    assert "weekly.1" in names(root)


@pytest.mark.parametrize(
    ("level", "keep_levels", "message"),
    [
        (
            "hourly",
            {"hourly": 24},
            (
                "kcb: error: level hourly is configured (backup.keep.hourly: 24): the supervisor "
                "prunes hourly.N by count at every cycle (fix: lower backup.keep.hourly instead, "
                "or remove hourly from backup.keep first)\n"
            ),
        ),
        (
            "alpha",
            {},
            (
                "kcb: error: level alpha is backup.retention's, in use (backup.keep is empty): the "
                "supervisor prunes alpha.N by count at every cycle (fix: lower backup.retention "
                "instead)\n"
            ),
        ),
        (
            "yearly",
            {},
            (
                "kcb: error: --level 'yearly' is not a snapshot level (fix: give one of alpha, "
                "hourly, daily, weekly, monthly)\n"
            ),
        ),
    ],
)
def test_levels_the_supervisor_prunes_and_no_level_are_refused(
    tmp_path: Path,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    level: str,
    keep_levels: dict[str, int],
    message: str,
) -> None:
    before = names(root)
    assert prune(tmp_path, root, keep_levels, "--level", level, "--yes") == 2
    assert capsys.readouterr() == ("", message)
    assert names(root) == before


def test_a_snapshot_root_that_is_not_there_is_said_so(
    tmp_path: Path, keep: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "not-mounted"
    assert prune(tmp_path, missing, keep, "--level", "daily", "--yes") == 2
    assert capsys.readouterr() == (
        "",
        f"kcb: snapshot root {missing} does not exist: is the backup mounted?\n",
    )
