"""restore.py and `kcb snapshots export` read a snapshot of any level: `--snapshot daily.3`, or
`--snapshot-at TIME` (the newest complete one taken at or before TIME, across levels), and say
which one they chose and why."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import listing_digest, marker_document
from kafka_connect_backup.restore.cli import main as restore
from kafka_connect_backup.restore.validate import Settings

pytestmark = pytest.mark.unit

SINK = "local-file-sink-backup"
STEM = f"connect1-{SINK}"


def snapshot(root: Path, name: str, taken: str, records: int, *, complete: bool = True) -> None:
    """`name` taken at `taken` holding the first `records` records of the topic (one a
    minute from 2026-12-06T00:00Z): a later snapshot holds more."""
    files = root / name / "localhost" / "data" / "filesink"
    files.mkdir(parents=True)
    lines = [
        f'{{"utcTime":"2026-12-06T{minute // 60:02d}:{minute % 60:02d}:00Z","n":{minute}}}\n'
        for minute in range(records)
    ]
    (files / f"{STEM}-2026-12.sink").write_text("".join(lines))
    entries, digest = listing_digest(root / name)
    moment = datetime.fromisoformat(taken).replace(tzinfo=UTC)
    document = marker_document(
        verified=True, entries=entries, digest=digest if complete else "0" * 64, finished=moment
    )
    (root / name / MARKER_NAME).write_text(json.dumps(document))
    os.utime(root / name, (moment.timestamp(), moment.timestamp()))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """hourly.0..2 at 20:00, 19:00, 18:00 (18:00 cut short), daily.0..1 at 00:00 of the 6th
    and the 5th... taken after 2026-12-06T00:00, and a left-over alpha.0."""
    monkeypatch.setattr(
        "kafka_connect_backup.restore.validate.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml"
    )
    root = tmp_path / "backup"
    snapshot(root, "hourly.0", "2026-12-06T20:00:05", 1200)
    snapshot(root, "hourly.1", "2026-12-06T19:00:05", 1140)
    snapshot(root, "hourly.2", "2026-12-06T18:00:05", 1080, complete=False)
    snapshot(root, "daily.0", "2026-12-06T12:00:05", 720)
    snapshot(root, "daily.1", "2026-12-06T06:00:05", 360)
    snapshot(root, "alpha.0", "2026-12-06T03:00:00", 180)
    return root


def run_restore(root: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "connect1",
        "127.0.0.1:9",
        "--from",
        "2026-12-01",
        "--dry-run",
        "--snapshot-root",
        str(root),
    ]
    code = restore(
        [*argv, "--sink-name", SINK, *extra], stdin=io.StringIO(), stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


def test_restore_snapshot_at_chooses_across_levels_by_time(root: Path) -> None:
    code, out, err = run_restore(root, "--snapshot-at", "2026-12-06T18:30")
    assert (code, err) == (0, "")
    # hourly.2 (18:00) is incomplete: daily.0 (12:00) is the newest complete one before 18:30.
    assert (
        "snapshot: daily.0, taken 2026-12-06T12:00:05Z: the newest at or before "
        "2026-12-06T18:30:00Z; skipped hourly.2 (incomplete)\n"
    ) in out
    assert out.endswith("dry run: would send 720 records to connect1\n")
    code, out, _ = run_restore(root, "--snapshot-at", "2026-12-06T19:30+01:00")
    assert "snapshot: daily.0, taken 2026-12-06T12:00:05Z: the newest at or before " in out
    code, out, _ = run_restore(root, "--snapshot-at", "2026-12-06T19:00:05Z")
    assert "snapshot: hourly.1, taken 2026-12-06T19:00:05Z: the newest at or before" in out
    assert out.endswith("would send 1140 records to connect1\n")


def test_restore_snapshot_by_level_name(root: Path) -> None:
    code, out, err = run_restore(root, "--snapshot", "daily.1")
    assert (code, err) == (0, "")
    assert "snapshot: daily.1, taken 2026-12-06T06:00:05Z: given by --snapshot\n" in out
    assert out.endswith("dry run: would send 360 records to connect1\n")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--snapshot", "daily.1", "--snapshot-at", "2026-12-06"],
            (
                "give either --snapshot (a snapshot by name) or --snapshot-at (the newest taken at "
                "or before a time), not both"
            ),
        ),
        (
            ["--snapshot", "yearly.1"],
            (
                "--snapshot 'yearly.1' is not a snapshot name: use {level}.N with a level of "
                "alpha, hourly, daily, weekly, monthly (e.g. daily.3; kcb snapshots list shows "
                "them), or "
                "--snapshot-at TIME for the newest taken at or before TIME"
            ),
        ),
        (
            ["--snapshot-at", "yesterday"],
            (
                "--snapshot-at 'yesterday' is not an ISO-8601 time (for example 2021-01-19T15:57, "
                "2021-01-19T15:57:30Z or 2021-01-19T15:57:30+01:00)"
            ),
        ),
        (
            ["--snapshot-at", "2026-12-06", "--files", "x"],
            "give either restore_files or --snapshot-at, not both",
        ),
        (
            ["--snapshot-at", "2026-12-06T02:00"],
            (
                "no snapshot in {root} was taken at or before 2026-12-06T02:00:00Z: the oldest is "
                "alpha.0, taken 2026-12-06T03:00:00Z (fix: give a time at or after "
                "2026-12-06T03:00:00Z)"
            ),
        ),
    ],
)
def test_restore_refuses_with_a_clear_message(root: Path, extra: list[str], message: str) -> None:
    code, out, err = run_restore(root, *extra)
    assert (code, out, err) == (
        2,
        "",
        f"restore.py: error: {message.replace('{root}', str(root))}\n",
    )


def test_the_runbook_journal_keeps_the_time_not_the_name(root: Path) -> None:
    """A later cycle renames the chosen snapshot (daily.0 becomes daily.1): a re-run of the
    same --snapshot-at command is the same restore."""
    from kafka_connect_backup.restore.cli import build_parser
    from kafka_connect_backup.restore.runbook.driver import _fingerprint
    from kafka_connect_backup.restore.validate import settings_from_args

    def settings(*extra: str) -> Settings:
        argv = ["connect1", "k:9092", "--from", "2026-12-01", "--runbook", *extra]
        return settings_from_args(build_parser().parse_args(argv), need_sources=False)

    at = settings("--snapshot-at", "2026-12-06T18:30")
    first = _fingerprint(replace(at, snapshot="daily.0"))
    assert first == _fingerprint(replace(at, snapshot="daily.1"))
    assert (first["snapshot"], first["snapshot_at"]) == (None, "2026-12-06T18:30:00Z")
    named = _fingerprint(settings("--snapshot", "daily.0"))
    assert named["snapshot"] == "daily.0" and "snapshot_at" not in named


def export(root: Path, *extra: str) -> list[str]:
    return [
        "snapshots", "export", "--snapshot-root", str(root), "--topic", "connect1",
        "--sink-name", SINK, "--from", "2026-12-06T05:59", *extra,
    ]  # fmt: skip


def test_export_by_time_by_name_and_by_default(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kcb(export(root, "--snapshot-at", "2026-12-06T11:00")) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ['{"utcTime":"2026-12-06T05:59:00Z","n":359}']
    assert captured.err.splitlines() == [
        (
            "kcb: snapshot daily.1, taken 2026-12-06T06:00:05Z: the newest at or before "
            "2026-12-06T11:00:00Z"
        ),
        (
            "kcb: exported 1 records of connect1 from daily.1 (1 files, 360 read, 359 skipped: "
            "before_from 359; from 2026-12-06T05:59:00+00:00 (inclusive) to the last record) to "
            "stdout"
        ),
    ]
    assert kcb(export(root, "--snapshot", "daily.0")) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 720 - 359
    assert captured.err.startswith("kcb: exported 361 records of connect1 from daily.0 ")
    assert kcb(export(root)) == 0  # the newest of all
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1200 - 359
    assert captured.err.startswith(
        "kcb: snapshot hourly.0, taken 2026-12-06T20:00:05Z: the newest snapshot\n"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--snapshot", "daily.0", "--snapshot-at", "2026-12-06"], "give either --snapshot"),
        (["--snapshot", "daily"], "--snapshot 'daily' is not a snapshot name"),
        (["--snapshot-at", "noon"], "--snapshot-at 'noon' is not an ISO-8601 time"),
        (["--snapshot-at", "2026-12-01"], "no snapshot in "),
    ],
)
def test_export_refusals(
    root: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert kcb(export(root, *extra)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"kcb: error: {message}")
    assert len(captured.err.splitlines()) == 1


def test_snapshots_list_shows_every_level_newest_first_with_times_and_ages(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = datetime(2026, 12, 6, 20, 14, 5, tzinfo=UTC)
    monkeypatch.setattr("kafka_connect_backup.inspect.snapshots.now", lambda: moment)
    snapshot(root, "weekly.0", "2026-11-30T00:00:05", 0)
    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--no-range"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"snapshots in {root} (newest: hourly.0, taken 2026-12-06T20:00:05Z (14.0m ago)):"
    )
    headers = [line for line in out[1:] if not line.startswith("    ")]
    # The level taking every cycle's snapshot first, then the ones it feeds, then alpha.
    assert [line[: line.index(" ago)") + 5] for line in headers[:-1]] == [
        "hourly.0  2026-12-06T20:00:05Z (14.0m ago)",
        "hourly.1  2026-12-06T19:00:05Z (1.2h ago)",
        "hourly.2  2026-12-06T18:00:05Z (2.2h ago)",
        "daily.0   2026-12-06T12:00:05Z (8.2h ago)",
        "daily.1   2026-12-06T06:00:05Z (14.2h ago)",
        "alpha.0   2026-12-06T03:00:00Z (17.2h ago)",
        "weekly.0  2026-11-30T00:00:05Z (6.8d ago)",
    ]
    assert [line.split()[4] for line in headers[:-1]] == [
        "complete", "complete", "INCOMPLETE", "complete", "complete", "complete", "complete"
    ]  # fmt: skip
    assert headers[-1].startswith("incomplete: hourly.2: ")

    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--json", "--no-range"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["level"], s["takenAt"]) for s in listed][:4] == [
        ("hourly.0", "hourly", "2026-12-06T20:00:05Z"),
        ("hourly.1", "hourly", "2026-12-06T19:00:05Z"),
        ("hourly.2", "hourly", "2026-12-06T18:00:05Z"),
        ("daily.0", "daily", "2026-12-06T12:00:05Z"),
    ]
    assert {"name", "path", "date", "status", "status_reason", "files"} <= set(listed[0])
