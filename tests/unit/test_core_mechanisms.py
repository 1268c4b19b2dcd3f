"""The shared mechanisms of core/ and tools/run.py: the record store, the temp-file cleaner,
time formatting, the command runner and the grace watch."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from kafka_connect_backup.core import records, shutdown_grace
from kafka_connect_backup.core.durable import remove_temp_files
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.core.shutdown_grace import GraceWatch, ShutdownGrace, StoppedPastGrace
from kafka_connect_backup.core.units import compact_stamp, human_duration, took, utc_iso
from kafka_connect_backup.tools.run import TimedOut, run

pytestmark = pytest.mark.unit


class Sample(msgspec.Struct, frozen=True, rename="camel"):
    finished_at: float
    ok: bool
    names: tuple[str, ...] = ()


def test_a_record_round_trips_in_the_hand_written_format(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    assert records.load(path, Sample) is None
    records.save(path, Sample(1.5, True, ("a",)))
    assert path.read_text() == '{"finishedAt": 1.5, "ok": true, "names": ["a"]}'
    assert records.load(path, Sample) == Sample(1.5, True, ("a",))
    records.save(path, {"b": 1, "a": [2]}, indent=2, sort_keys=True)
    assert path.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'


def test_an_old_file_with_unknown_keys_and_integer_times_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"finishedAt": 17, "ok": false, "extra": {"x": 1}}')
    assert records.load(path, Sample) == Sample(17.0, False)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"finishedAt": 1', "JSONDecodeError"),
        ('{"ok": true}', "ValidationError"),
        ('{"finishedAt": "soon", "ok": true}', "ValidationError"),
        ("[]", "ValidationError"),
    ],
)
def test_a_corrupt_record_is_one_error_naming_file_and_cause(
    tmp_path: Path, text: str, cause: str
) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(RecordUnreadable) as caught:
        records.load(path, Sample)
    assert caught.value.reason.startswith(f"{cause}: ")
    assert str(path) in str(caught.value)


def test_the_temp_cleaner_removes_only_matching_non_directories(tmp_path: Path) -> None:
    for name in ("a.tmp", "b.tmp", "keep.sink"):
        (tmp_path / name).write_text("x")
    (tmp_path / "dir.tmp").mkdir()
    removed = remove_temp_files(tmp_path, lambda name: name.endswith(".tmp"))
    assert removed == [tmp_path / "a.tmp", tmp_path / "b.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.tmp", "keep.sink"]
    assert remove_temp_files(tmp_path / "absent", str.isascii) == []


def test_times_and_durations_read_one_way() -> None:
    moment = datetime(2026, 1, 19, 15, 57, 30, 250000, tzinfo=UTC)
    assert utc_iso(moment) == "2026-01-19T15:57:30Z"
    assert utc_iso(moment, timespec="milliseconds") == "2026-01-19T15:57:30.250Z"
    assert utc_iso(moment.timestamp(), timespec="auto") == "2026-01-19T15:57:30.250000Z"
    assert compact_stamp(moment.timestamp()) == "20260119T155730Z"
    assert (took(0.04), took(12.345), took(4000)) == ("0.0s", "12.3s", "4000.0s")
    assert [human_duration(s) for s in (None, -3, 45, 150, 5400, 259200)] == [
        "?",
        "0s",
        "45s",
        "2.5m",
        "1.5h",
        "3.0d",
    ]


def test_the_runner_gives_stdin_once_and_merges_the_output() -> None:
    code = (
        "import sys; line = input(); print('out', line); print('err', file=sys.stderr); sys.exit(3)"
    )
    done = run([sys.executable, "-c", code], stdin="secret")
    assert done.exit_code == 3
    assert sorted(done.output.split("\n")) == ["", "err", "out secret"]


def test_the_runner_stops_a_command_past_its_timeout() -> None:
    code = "import time; print('started', flush=True); time.sleep(60)"
    start = time.monotonic()
    with pytest.raises(TimedOut) as caught:
        run([sys.executable, "-c", code], timeout=1.0, session=True, term_wait=5)
    assert time.monotonic() - start < 15
    assert caught.value.output == "started\n"


def test_the_runner_stops_a_command_past_the_grace_after_one_announcement(monkeypatch) -> None:
    class Stopped(StoppedPastGrace):
        pass

    announced: list[tuple[str, dict[str, object]]] = []

    class Log:
        def warning(self, event: str, **fields: object) -> None:
            announced.append((event, fields))

    monkeypatch.setattr(shutdown_grace, "log", Log())
    grace = ShutdownGrace(lambda: True, seconds=0.5)
    watch = GraceWatch(grace, "test.grace", "a note", lambda: Stopped("stopped"))
    with pytest.raises(Stopped):
        run([sys.executable, "-c", "import time; time.sleep(60)"], watch=watch, session=True)
    assert [event for event, _ in announced] == ["test.grace"]
    assert {"pid", "running_seconds", "grace_seconds", "note"} <= set(announced[0][1])
