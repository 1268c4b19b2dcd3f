"""Time filtering of restore: real timestamp comparison, bounds, dotted fields, missing times."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kafka_connect_backup.kafka.timefilter import (
    FieldReader,
    MissingTimestamp,
    TimeFilter,
    TimeParseError,
    TimeWindow,
    Verdict,
    parse_time,
    record_moment,
)
from kafka_connect_backup.restore.classify import classify_batch
from kafka_connect_backup.restore.plan import scan_file
from kafka_connect_backup.restore.sources import SourceFile

pytestmark = pytest.mark.unit


def window(start: str, end: str | None = None) -> TimeFilter:
    return TimeFilter(TimeWindow(parse_time(start), parse_time(end) if end else None))


def verdict(time_filter: TimeFilter, line: bytes) -> Verdict:
    """One line through the restore's hot loop (classify.classify_batch)."""
    result = classify_batch([line], time_filter, include_missing=False)
    if result.verdicts == b"\x01":
        return Verdict.KEEP
    if result.before:
        return Verdict.BEFORE_FROM
    if result.after:
        return Verdict.AT_OR_AFTER_TO
    assert result.no_time == 1
    return Verdict.MISSING_TIMESTAMP


# The hot loop's property test against the general path: tests/fuzz/test_fuzz_times.py.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-01-19T15:57", datetime(2021, 1, 19, 15, 57, tzinfo=UTC)),
        ("2021-01-19T15:57:30", datetime(2021, 1, 19, 15, 57, 30, tzinfo=UTC)),
        ("2021-01-19T15:57:30Z", datetime(2021, 1, 19, 15, 57, 30, tzinfo=UTC)),
        ("2021-01-19T15:57:30.250Z", datetime(2021, 1, 19, 15, 57, 30, 250000, tzinfo=UTC)),
        ("2021-01-19T16:57+01:00", datetime(2021, 1, 19, 15, 57, tzinfo=UTC)),
        ("2021-01-19", datetime(2021, 1, 19, tzinfo=UTC)),
        (" 2021-01-19 15:57 ", datetime(2021, 1, 19, 15, 57, tzinfo=UTC)),
    ],
)
def test_iso_8601_with_or_without_seconds_and_zone_no_zone_is_utc(text, expected):
    moment = parse_time(text)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)  # aware, in UTC (a naive time has None)


@pytest.mark.parametrize("text", ["yesterday", "2021-13-01T00:00", "19/01/2021", ""])
def test_bad_time_names_the_accepted_form(text):
    with pytest.raises(
        TimeParseError, match=r"is not an ISO-8601 time \(for example 2021-01-19T15:57"
    ):
        parse_time(text)


def test_start_day_defect_of_the_original_is_fixed(tmp_path: Path) -> None:
    """The original compared utcTime[:10] (the date) with '2021-01-19T15:57': '2021-01-19' <
    '2021-01-19T15:57' as strings, so every record of the start day was dropped. Checked
    through the scan the restore runs (plan.scan_file), not a side path."""
    lines = [
        b'{"utcTime":"2021-01-19T15:56:59.999Z"}',  # before --from
        b'{"utcTime":"2021-01-19T16:30:00.000Z"}',  # later the same day: kept
        b'{"utcTime":"2021-01-19T15:57"}',  # inclusive bound: kept
        b'{"utcTime":"2021-01-19T15:56"}',  # before --from
    ]
    path = tmp_path / "orders-sink-2021-01.sink"
    path.write_bytes(b"\n".join(lines) + b"\n")
    source = SourceFile(path, path.stat().st_size, compressed=False, sink=None)
    plan = scan_file(source, window("2021-01-19T15:57"), MissingTimestamp.SKIP)
    assert plan.lines == 4 and plan.ranges == [(1, 3)]
    assert plan.skipped == {Verdict.BEFORE_FROM.value: 2}


def test_to_is_exclusive_and_zones_are_compared_as_instants():
    bounded = window("2021-01-19T15:57", "2021-01-19T17:00")
    assert verdict(bounded, b'{"utcTime":"2021-01-19T16:59:59Z"}') is Verdict.KEEP
    assert verdict(bounded, b'{"utcTime":"2021-01-19T17:00:00Z"}') is Verdict.AT_OR_AFTER_TO
    # 17:30+01:00 is 16:30Z: inside the window although its wall clock is past --to.
    assert verdict(bounded, b'{"utcTime":"2021-01-19T17:30:00+01:00"}') is Verdict.KEEP
    # 16:30-01:00 is 17:30Z: outside, although its wall clock is before --to.
    assert verdict(bounded, b'{"utcTime":"2021-01-19T16:30:00-01:00"}') is Verdict.AT_OR_AFTER_TO


def test_to_must_be_after_from():
    with pytest.raises(TimeParseError, match=r"--to 2021-01-19T15:00:00\+00:00 must be after"):
        TimeWindow(parse_time("2021-01-19T15:57"), parse_time("2021-01-19T15:00"))
    with pytest.raises(TimeParseError, match="must be after"):
        TimeWindow(parse_time("2021-01-19T15:57"), parse_time("2021-01-19T15:57"))


def test_dotted_field_and_epoch_numbers():
    nested = TimeFilter(TimeWindow(parse_time("2021-01-19T15:57"), None), "meta.event.time")
    assert verdict(nested, b'{"meta":{"event":{"time":"2021-01-19T16:00Z"}}}') is Verdict.KEEP
    assert verdict(nested, b'{"meta":{"event":"x"}}') is Verdict.MISSING_TIMESTAMP
    assert verdict(nested, b'{"utcTime":"2021-01-19T16:00Z"}') is Verdict.MISSING_TIMESTAMP
    seconds = datetime(2021, 1, 19, 16, tzinfo=UTC).timestamp()
    assert record_moment(int(seconds)) == datetime(2021, 1, 19, 16, tzinfo=UTC)
    assert record_moment(int(seconds * 1000)) == datetime(2021, 1, 19, 16, tzinfo=UTC)
    assert record_moment(True) is None


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'{"utcTime":null}',
        b'{"utcTime":"soon"}',
        b'{"other":1}',
        b'"2021-01-19T16:00Z"',
        b'{"utcTime":{"t":1}}',
    ],
)
def test_lines_without_a_readable_time_are_missing(line):
    assert verdict(window("2021-01-19T15:57"), line) is Verdict.MISSING_TIMESTAMP


@pytest.mark.parametrize("field", ["", ".", "a..b", "a."])
def test_bad_field_names(field):
    with pytest.raises(ValueError, match="is not a field name"):
        FieldReader(field)


def test_offset_aware_and_naive_records_mix():
    start = datetime(2021, 1, 19, 15, 57, tzinfo=timezone(timedelta(hours=2)))
    keep = TimeFilter(TimeWindow(start, None))
    assert verdict(keep, b'{"utcTime":"2021-01-19T13:57"}') is Verdict.KEEP
    assert verdict(keep, b'{"utcTime":"2021-01-19T13:56:59"}') is Verdict.BEFORE_FROM
