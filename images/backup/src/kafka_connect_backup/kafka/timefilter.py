"""Which records a restore keeps: each line's time, read from a JSON field, against [from, to).

The original compared the first 10 characters of `utcTime` (the date) with a full
`YYYY-MM-DDTHH:MM` bound, so the whole start day was dropped. Here both sides are real
timestamps: ISO-8601 strings (no zone = UTC) or epoch numbers (seconds, or milliseconds when
larger than 1e11), compared as UTC epoch seconds.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
import orjson

from kafka_connect_backup.core.units import utc_iso

_ISO_EXAMPLES = "for example 2021-01-19T15:57, 2021-01-19T15:57:30Z or 2021-01-19T15:57:30+01:00"
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLIS_THRESHOLD = 1e11
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
# The value field holding a record's time in value files (the original's).
DEFAULT_TIMESTAMP_FIELD = "utcTime"


class TimeParseError(ValueError):
    """A bound given on the command line is not an ISO-8601 time."""


def in_utc(moment: datetime) -> datetime:
    """An aware datetime as the same instant in UTC (a naive one is taken as UTC). ValueError
    when that instant is outside the years 1..9999 (e.g. 0001-01-01T00:00+01:00)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1..9999 in UTC") from None


def iso_moment(text: str) -> datetime:
    """The one ISO-8601 parser, for bounds and records alike (the restore's hot loop inlines
    it): with or without seconds, fraction or zone; no zone means UTC. The result is always in
    UTC, so every moment compares without offsets and has an epoch in range. ValueError when
    text is not such a time, TypeError when it is not a string."""
    return in_utc(datetime.fromisoformat(text))


def parse_time(text: str) -> datetime:
    """A bound given on the command line."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeParseError(f"{text!r} is not an ISO-8601 time ({_ISO_EXAMPLES})") from None
    try:
        return in_utc(moment)
    except ValueError as exc:  # a valid time whose UTC instant no datetime holds
        raise TimeParseError(
            f"{text!r}: {exc}: give a time within them (for example 0001-01-01T00:00Z)"
        ) from None


def record_moment(value: Any) -> datetime | None:
    """A record's time value as an aware datetime, or None when it is not a time."""
    if isinstance(value, str):
        try:
            return iso_moment(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        seconds = number / 1000.0 if abs(number) >= _MILLIS_THRESHOLD else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class MissingTimestamp(StrEnum):
    """What to do with a line whose time cannot be read."""

    SKIP = "skip"
    INCLUDE = "include"
    FAIL = "fail"


class Verdict(StrEnum):
    KEEP = "keep"
    BEFORE_FROM = "before_from"
    AT_OR_AFTER_TO = "at_or_after_to"
    MISSING_TIMESTAMP = "missing_timestamp"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A run of 19 digits or more may be an integer beyond 64 bits, which orjson turns into a float
# (123456789012345678901234567890 -> 1.2345678901234568e+29): two ids would become one key.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def json_value(line: bytes) -> Any:
    """The JSON value of a line, exactly, or None when it is not JSON (RFC 8259). orjson reads
    almost every line; the rare ones it would read inexactly (integers beyond 64 bits) or
    refuse although valid (a number beyond a double, like 1e400; nesting deeper than 1024)
    are read by the standard library instead."""
    if _LONG_NUMBER.search(line) is None:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


@functools.cache
def string_field_decoder(key: str) -> msgspec.json.Decoder[Any]:
    """Decodes a JSON object's top-level `key` as a string (`.value`), skipping every other
    field without building it: the restore's hot loop, about twice as fast as a whole orjson
    parse. It raises msgspec.DecodeError for anything else (not an object, no such field,
    another type), RecursionError beyond about 1000 levels of nesting (json_value reads
    deeper). Its skipping checks the JSON syntax but not the UTF-8 of skipped strings, so it
    is only used on ASCII lines; for those its field value is json_value's."""
    line_type = msgspec.defstruct("Line", [("value", str)], rename={"value": key})
    return msgspec.json.Decoder(line_type)


class FieldReader:
    """Reads a (dotted) JSON field of a line: `utcTime`, `meta.event.time`."""

    def __init__(self, field: str) -> None:
        if not field or any(not part for part in field.split(".")):
            raise ValueError(f"{field!r} is not a field name (use e.g. utcTime or meta.time)")
        self.field = field
        self.path = tuple(field.split("."))

    def read(self, line: bytes) -> Any:
        """The field's value, or None when the line is not a JSON object holding it."""
        value: Any = json_value(line)
        if value is None:
            return None
        for part in self.path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
            if value is None:
                return None
        return value


@dataclass(frozen=True)
class TimeWindow:
    """[start, end): start inclusive, end exclusive; None = unbounded."""

    start: datetime | None
    end: datetime | None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise TimeParseError(
                f"--to {self.end.isoformat()} must be after the from time {self.start.isoformat()}"
            )

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the first record"
        end = f"before {self.end.isoformat()}" if self.end else "the last record"
        return f"from {start} (inclusive) to {end}"


class TimeFilter:
    """A window and the field to read; classify.classify_batch classifies lines against it."""

    def __init__(self, window: TimeWindow, field: str = DEFAULT_TIMESTAMP_FIELD) -> None:
        self.window = window
        self.reader = FieldReader(field)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes, the extremes when unbounded."""
        return self.window.start or EARLIEST, self.window.end or LATEST

    def moment(self, line: bytes) -> datetime | None:
        return record_moment(self.reader.read(line))


def iso(epoch: float | None, *, seconds: bool = False) -> str | None:
    """A record time's epoch as ISO-8601 UTC (to the second with `seconds`). The epoch of a
    time in the last microseconds of 9999 rounds, as a float, past datetime.max: it shows as
    the last representable moment."""
    if epoch is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        moment = LATEST if epoch > 0 else EARLIEST
    return utc_iso(moment, timespec="seconds" if seconds else "auto")
