"""Times from outside: restore's --from/--to bounds (parse_time), record times (iso_moment,
record_moment) and the hot loop that inlines them (classify.classify_batch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.kafka.timefilter import (
    EARLIEST,
    LATEST,
    TimeFilter,
    TimeParseError,
    TimeWindow,
    Verdict,
    iso,
    iso_moment,
    parse_time,
    record_moment,
)
from kafka_connect_backup.restore.classify import classify_batch

pytestmark = pytest.mark.fuzz

# Every offset datetime accepts (strictly within a day), to the minute; fromisoformat reads them.
OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
# Any moment of the years 1..9999, near the ends of the range too.
NAIVE = st.datetimes(min_value=datetime.min, max_value=datetime.max)
TIMESPECS = st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"])


def is_utc(moment: datetime) -> bool:
    return moment.tzinfo is UTC


def utc_of(naive: datetime, zone: timezone) -> datetime | None:
    """The reference: the instant naive-at-zone in UTC, by plain arithmetic, or None when it
    falls outside the years 1..9999."""
    offset = zone.utcoffset(None)
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        return None


def truncate(naive: datetime, timespec: str) -> datetime:
    text = naive.isoformat(timespec=timespec)
    return datetime.fromisoformat(text)


@given(naive=NAIVE, zone=OFFSETS, timespec=TIMESPECS)
@example(naive=datetime(1, 1, 1), zone=timezone(timedelta(hours=5)), timespec="minutes")
@example(naive=datetime(9999, 12, 31, 23), zone=timezone(timedelta(hours=-5)), timespec="minutes")
def test_an_offset_time_parses_to_the_same_instant_in_utc(
    naive: datetime, zone: timezone, timespec: str
) -> None:
    """format -> parse: the instant is kept and given in UTC; an instant outside the years
    1..9999 in UTC (0001-01-01T00:00+05:00) is not a time, refused like any bad bound."""
    text = naive.isoformat(timespec=timespec) + zone.tzname(None).removeprefix("UTC")
    expected = utc_of(truncate(naive, timespec), zone)
    if expected is None:
        with pytest.raises(TimeParseError):
            parse_time(text)
        assert record_moment(text) is None
        return
    for moment in (parse_time(text), iso_moment(text), record_moment(text)):
        assert moment == expected
        assert moment is not None and is_utc(moment)


@given(naive=NAIVE, timespec=TIMESPECS, zone=st.sampled_from(["", "Z", "+00:00", "-00:00"]))
def test_a_time_without_zone_or_with_utc_is_that_time_in_utc(
    naive: datetime, timespec: str, zone: str
) -> None:
    text = naive.isoformat(timespec=timespec) + zone
    moment = parse_time(f"  {text}\n")  # bounds come from a command line: spaces are trimmed
    assert moment == truncate(naive, timespec).replace(tzinfo=UTC)
    assert is_utc(moment)


@given(text=st.text(max_size=40))
@example(text="0001-01-01T00:00+00:01")
@example(text="2021-01-19T15:57\x00")
@example(text="\ud800")
def test_any_bound_text_is_a_utc_time_or_a_one_line_time_parse_error(text: str) -> None:
    try:
        moment = parse_time(text)
    except TimeParseError as exc:
        message = str(exc)
        assert "\n" not in message and repr(text) in message
        # Not a time at all, or one whose UTC instant no datetime holds (said as such).
        assert "for example 2021-01-19T15:57" in message or (
            "is outside the years 1..9999 in UTC" in message
        )
    else:
        assert is_utc(moment) and EARLIEST <= moment <= LATEST


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    NAIVE.map(lambda d: d.isoformat()),
)


@given(value=st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5))
@example(value=253_402_300_799_999)  # the last millisecond of 9999
@example(value=10**30)
@example(value=float("nan"))
def test_a_record_time_is_none_or_a_utc_moment_whose_epoch_shows(value: object) -> None:
    """Whatever a record's field holds: no exception, and a time it gives is in UTC with an
    epoch the plan and summary can print (summary.iso)."""
    moment = record_moment(value)
    if moment is None:
        return
    assert is_utc(moment) and EARLIEST <= moment <= LATEST
    shown = iso(moment.timestamp())
    assert shown is not None
    assert abs(datetime.fromisoformat(shown) - moment) <= timedelta(milliseconds=1)


@given(text=NAIVE.map(lambda d: d.isoformat() + "Z"))
@example(text="9999-12-31T23:59:59.999999Z")
@example(text="0001-01-01T00:00:00Z")
def test_the_epoch_of_any_record_time_prints(text: str) -> None:
    """summary.iso once raised 'year 10000 is out of range' for a record of the last
    microseconds of 9999 (its float epoch rounds up past datetime.max)."""
    shown = iso(iso_moment(text).timestamp())
    assert shown is not None and shown.startswith(text[:4])


# -- the hot loop against the general path ------------------------------------------------

FIELD = "utcTime"
_AROUND = st.datetimes(min_value=datetime(2021, 1, 19, 12), max_value=datetime(2021, 1, 19, 20))
_ISO = st.builds(
    lambda moment, zone, timespec: moment.isoformat(timespec=timespec) + zone,
    st.one_of(_AROUND, NAIVE),
    st.sampled_from(["", "Z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59"]),
    TIMESPECS,
)
_VALUES = st.one_of(
    _ISO,
    st.text(max_size=12),
    st.integers(min_value=1_611_000_000, max_value=1_611_100_000),
    st.integers(min_value=1_611_000_000_000, max_value=1_611_100_000_000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.lists(st.integers(min_value=-9, max_value=9), max_size=2),
    st.dictionaries(st.sampled_from([FIELD, "x"]), _ISO, max_size=2),
)


def _json(value: object) -> bytes:
    # orjson refuses integers beyond 64 bits; the standard library writes them.
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        import json

        return json.dumps(value).encode()


_RECORDS = st.one_of(
    st.builds(lambda v: _json({FIELD: v, "id": 1}), _VALUES),
    st.builds(lambda v: _json({"other": v}), _VALUES),
    st.builds(lambda v: _json([v]), _VALUES),
    st.builds(lambda v: _json({"meta": {"time": v}}), _VALUES),
)
# Broken lines: cut short (a torn write), with stray bytes (not UTF-8), or anything at all.
_LINES = st.one_of(
    _RECORDS,
    st.builds(lambda line, cut: line[:cut], _RECORDS, st.integers(min_value=0, max_value=60)),
    st.builds(lambda line, junk: line + junk, _RECORDS, st.binary(min_size=1, max_size=4)),
    st.builds(lambda time: b'{"utcTime": "%s", "n": 1e400}' % time.encode(), _ISO),
    # Where a field decoder that skips the other fields could part from a whole parse.
    st.builds(
        lambda a, b: b'{"utcTime": "%s", "utcTime": "%s"}' % (a.encode(), b.encode()), _ISO, _ISO
    ),
    st.builds(lambda time: b'{"utc\\u0054ime": "%s"}' % time.encode(), _ISO),
    st.builds(lambda time: b'{"x": "\\ud800", "utcTime": "%s"}' % time.encode(), _ISO),
    st.builds(lambda time: b'{"x": "\xff\xfe", "utcTime": "%s"}' % time.encode(), _ISO),
    st.builds(lambda time: b'{"x": "caf\xc3\xa9", "utcTime": "%s"}' % time.encode(), _ISO),
    st.builds(
        lambda time, depth: (
            b'{"x": %s%s, "utcTime": "%s"}' % (b"[" * depth, b"]" * depth, time.encode())
        ),
        _ISO,
        st.sampled_from([1, 1000, 1100, 3000]),
    ),
    st.binary(max_size=40),
)
_BOUNDS = st.one_of(_AROUND, NAIVE).map(lambda d: d.replace(tzinfo=UTC))


def reference(time_filter: TimeFilter, line: bytes) -> Verdict:
    """The decision of the general path alone (FieldReader + record_moment)."""
    moment = time_filter.moment(line)
    start, end = time_filter.bounds
    if moment is None:
        return Verdict.MISSING_TIMESTAMP
    if moment < start:
        return Verdict.BEFORE_FROM
    return Verdict.AT_OR_AFTER_TO if moment >= end else Verdict.KEEP


@given(
    lines=st.lists(_LINES, max_size=30),
    bounds=st.tuples(st.one_of(st.none(), _BOUNDS), st.one_of(st.none(), _BOUNDS)),
    field=st.sampled_from([FIELD, "meta.time"]),
    include_missing=st.booleans(),
)
@example(
    lines=[b'{"utcTime": "0001-01-01T00:00+05:00"}', b'{"utcTime": "9999-12-31T23:00-05:00"}'],
    bounds=(None, None),
    field=FIELD,
    include_missing=False,
)
def test_hot_loop_decides_every_line_as_the_general_path_does(
    lines: list[bytes],
    bounds: tuple[datetime | None, datetime | None],
    field: str,
    include_missing: bool,
) -> None:
    """classify_batch inlines the ISO parsing of the common case; for any line (valid or not,
    any offset, any bounds, a flat or dotted field) its answer is the one FieldReader +
    record_moment give, and so are its counts and its time range."""
    start, end = bounds
    if start is not None and end is not None and end <= start:
        start, end = end, None
    time_filter = TimeFilter(TimeWindow(start, end), field)
    expected = [reference(time_filter, line) for line in lines]
    result = classify_batch(lines, time_filter, include_missing=include_missing)
    sent = [
        e is Verdict.KEEP or (include_missing and e is Verdict.MISSING_TIMESTAMP) for e in expected
    ]
    assert [v == 1 for v in result.verdicts] == sent
    assert result.before == expected.count(Verdict.BEFORE_FROM)
    assert result.after == expected.count(Verdict.AT_OR_AFTER_TO)
    assert result.no_time == expected.count(Verdict.MISSING_TIMESTAMP)
    moments = [m for m in map(time_filter.moment, lines) if m is not None]
    if moments:
        assert (result.low, result.high) == (min(moments), max(moments))
        assert is_utc(result.low) and is_utc(result.high)
