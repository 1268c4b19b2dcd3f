"""The scan's helper process (restore/scan_helper.py): the plan is the one a serial scan
makes, whichever batches the helper classifies, and a helper that fails or dies only costs
its share of the work."""

import dataclasses
import os
import random
import signal
from pathlib import Path

import pytest

from kafka_connect_backup.kafka.timefilter import (
    MissingTimestamp,
    TimeFilter,
    TimeWindow,
    parse_time,
)
from kafka_connect_backup.restore import scan_helper
from kafka_connect_backup.restore.plan import MissingTimestampError, Plan, scan
from kafka_connect_backup.restore.sources import SourceError, SourceFile, from_patterns

pytestmark = pytest.mark.unit


def mixed_file(path: Path, lines: int = 60_000, seed: int = 5) -> Path:
    """Several 4 MiB batches of every kind of line: kept, before/after the window, not JSON,
    no time, another offset, long lines; and a torn last line."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(lines):
            kind = rng.random()
            if kind < 0.02:
                handle.write("not json\n")
            elif kind < 0.04:
                handle.write('{"x": 1}\n')
            elif kind < 0.05:
                handle.write(f'{{"utcTime": "2021-01-03T10:00:00+02:00", "i": {i}}}\n')
            elif kind < 0.051:
                handle.write(f'{{"utcTime": "2021-01-04T00:00:00", "p": "{"y" * 5000}"}}\n')
            else:
                pad = "z" * rng.randrange(10, 300)
                day, hour = 1 + i % 28, i % 24
                handle.write(
                    f'{{"utcTime": "2021-01-{day:02d}T{hour:02d}:00:00Z", "p": "{pad}"}}\n'
                )
        handle.write('{"torn": ')
    return path


def shape(plan: Plan) -> list[tuple[object, ...]]:
    return [
        (
            f.lines,
            f.ranges,
            dict(f.skipped),
            f.first_epoch,
            f.last_epoch,
            f.torn,
            f.largest,
            f.largest_line,
            f.missing_included,
        )
        for f in plan.files
    ]


@pytest.fixture
def sources(tmp_path):
    first = mixed_file(tmp_path / "a.sink")
    second = mixed_file(tmp_path / "b.sink", lines=30_000, seed=6)
    assert first.stat().st_size > 2 * (4 << 20)
    return from_patterns([str(first), str(second)])


WINDOW = TimeFilter(TimeWindow(parse_time("2021-01-05T00:00"), parse_time("2021-01-20T00:00")))


def serial(sources: list[SourceFile], missing: MissingTimestamp = MissingTimestamp.SKIP) -> Plan:
    return scan(sources, WINDOW, missing)


@pytest.mark.parametrize("missing", [MissingTimestamp.SKIP, MissingTimestamp.INCLUDE])
def test_the_helper_makes_the_serial_scans_plan(sources, monkeypatch, missing):
    expected = shape(serial(sources, missing))
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    taken: list[int] = []
    submit = scan_helper.ScanHelper.submit

    def counting(self, job):
        taken.append(job.offset)
        return submit(self, job)

    monkeypatch.setattr(scan_helper.ScanHelper, "submit", counting)
    assert shape(scan(sources, WINDOW, missing)) == expected
    assert taken, "the helper classified no batch"


def test_missing_timestamp_fail_names_the_same_line(sources, monkeypatch):
    with pytest.raises(MissingTimestampError) as serial_error:
        serial(sources, MissingTimestamp.FAIL)
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    with pytest.raises(MissingTimestampError) as helped:
        scan(sources, WINDOW, MissingTimestamp.FAIL)
    assert str(helped.value) == str(serial_error.value)


def test_a_line_that_is_not_utf8_is_named_the_same_after_batches_the_helper_took(
    tmp_path, monkeypatch
):
    """The scan does not count the lines of a batch the helper takes: a bad line after such
    batches is still named by its file-wide number, and the file's non-ASCII (valid)
    lines pass."""
    path = mixed_file(tmp_path / "a.sink")
    with path.open("a") as handle:  # after the torn line: it becomes a whole line
        handle.write('caf\u00e9"}\n')
    with path.open("ab") as handle:
        handle.write(b'{"utcTime": "2021-01-06T00:00:00Z", "p": "\xff"}\n')
    sources = from_patterns([str(path)])
    with pytest.raises(SourceError) as serial_error:
        serial(sources)
    assert "line 60002, byte" in str(serial_error.value)
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    with pytest.raises(SourceError) as helped:
        scan(sources, WINDOW, MissingTimestamp.SKIP)
    assert str(helped.value) == str(serial_error.value)


def test_a_batch_the_helper_gives_back_is_classified_by_the_scan(sources, monkeypatch):
    expected = shape(serial(sources))
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    result = scan_helper.ScanHelper.result
    monkeypatch.setattr(scan_helper.ScanHelper, "result", lambda self, t: result(self, t) and None)
    assert shape(scan(sources, WINDOW, MissingTimestamp.SKIP)) == expected


def test_a_helper_that_dies_costs_only_its_share(sources, monkeypatch):
    expected = shape(serial(sources))
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    submit = scan_helper.ScanHelper.submit

    def kill_then_submit(self, job):
        if self._sent == 1:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.join()
        return submit(self, job)

    monkeypatch.setattr(scan_helper.ScanHelper, "submit", kill_then_submit)
    assert shape(scan(sources, WINDOW, MissingTimestamp.SKIP)) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"identity": (0, 0)},  # the path now names another file
        {"tail": b"other\n"},  # the file holds other bytes there than the scan read
        {"offset": 1 << 40},  # the file is shorter than the scan saw it
    ],
)
def test_a_batch_the_helper_cannot_read_as_the_scan_did_is_classified_by_the_scan(
    sources, monkeypatch, change
):
    expected = shape(serial(sources))
    monkeypatch.setattr(scan_helper, "MIN_BYTES", 0)
    submit = scan_helper.ScanHelper.submit
    monkeypatch.setattr(
        scan_helper.ScanHelper,
        "submit",
        lambda self, job: submit(self, dataclasses.replace(job, **change)),
    )
    assert shape(scan(sources, WINDOW, MissingTimestamp.SKIP)) == expected


def test_no_helper_for_little_data_or_one_cpu(monkeypatch):
    with scan_helper.scan_helper(1 << 20, WINDOW, False) as helper:
        assert helper is None
    monkeypatch.setattr(scan_helper, "_cpus", lambda: 1)
    with scan_helper.scan_helper(1 << 40, WINDOW, False) as helper:
        assert helper is None
