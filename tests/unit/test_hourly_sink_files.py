"""sinkRotation hourly (issue 27): `{topic}-{sinkName}-YYYY-MM-DDTHH.sink` named, parsed, spanned
and ordered like the monthly and daily files; the connectors declared on the hour's file, the
compressor never touching the current hour's file, and the name-length limits of its longer
period."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kafka_connect_backup.config import ConfigError, SinkFormat, SinkRotation, parse_config
from kafka_connect_backup.connect.connectors import current_files, desired_connectors
from kafka_connect_backup.layout.sinkfiles import (
    SinkFileName,
    compressed_name,
    longest_names,
    parse_sink_file,
    period_of,
    period_span,
    sink_file,
    sort_key,
)
from kafka_connect_backup.supervisor.compress import compress_idle_files, set_aside_reopened

pytestmark = pytest.mark.unit

ROOT = Path("/data/filesink")
MOMENT = datetime(2026, 12, 7, 15, 42, 9, tzinfo=UTC)


def test_the_period_of_each_rotation() -> None:
    assert period_of(MOMENT, SinkRotation.MONTHLY) == "2026-12"
    assert period_of(MOMENT, SinkRotation.DAILY) == "2026-12-07"
    assert period_of(MOMENT, SinkRotation.HOURLY) == "2026-12-07T15"
    # Four-digit years and two-digit hours, whatever the moment.
    assert period_of(datetime(999, 1, 2, 3), SinkRotation.HOURLY) == "0999-01-02T03"
    assert period_of(datetime(2026, 1, 1, 0, 0), SinkRotation.HOURLY) == "2026-01-01T00"


def test_hourly_names_of_both_formats_parse_back() -> None:
    value = sink_file(ROOT, "orders", "file-sink", "2026-12-07T15")
    envelope = sink_file(ROOT, "orders", "file-sink", "2026-12-07T15", SinkFormat.ENVELOPE)
    assert value.name == "orders-file-sink-2026-12-07T15.sink"
    assert envelope.name == "orders-file-sink-2026-12-07T15.envelope.sink"
    assert parse_sink_file(value) == SinkFileName(value, "orders-file-sink", "2026-12-07T15", None)
    gz = compressed_name(envelope, 1796655600)
    assert gz.name == "orders-file-sink-2026-12-07T15.envelope.sink-1796655600.gz"
    assert parse_sink_file(gz) == SinkFileName(
        gz, "orders-file-sink", "2026-12-07T15", 1796655600, SinkFormat.ENVELOPE
    )
    # A stem that looks like a period stays the stem.
    tricky = sink_file(ROOT, "t-2026-12-07", "s-2026-12", "2026-12-07T01")
    assert parse_sink_file(tricky) == SinkFileName(
        tricky, "t-2026-12-07-s-2026-12", "2026-12-07T01", None
    )


@pytest.mark.parametrize(
    "name",
    [
        "t-s-2026-12-07t15.sink",  # lowercase t
        "t-s-2026-12-07T1.sink",
        "t-s-2026-12-07T150.sink",
        "t-s-2026-12-07 15.sink",
        "t-s-2026-12-07T15:00.sink",
        "t-s-2026-12T15.sink",
        "t-s-2026-12-07T\u0661\u0665.sink",  # non-ASCII digits
        "t-s-2026-12-07T15.sink\n",
    ],
)
def test_near_hourly_names_are_no_sink_files(name: str) -> None:
    assert parse_sink_file(ROOT / name) is None


def test_hourly_period_span_is_the_utc_hour() -> None:
    assert period_span("2026-12-07T15") == (
        datetime(2026, 12, 7, 15, tzinfo=UTC),
        datetime(2026, 12, 7, 16, tzinfo=UTC),
    )
    assert period_span("2026-12-31T23")[1] == datetime(2027, 1, 1, tzinfo=UTC)
    # The daily and monthly spans are unchanged.
    assert period_span("2026-12-07") == (
        datetime(2026, 12, 7, tzinfo=UTC),
        datetime(2026, 12, 8, tzinfo=UTC),
    )
    assert period_span("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    # The last hour there is; no hour a connector writes (24, month 13): the year.
    assert period_span("9999-12-31T23") == (
        datetime(9999, 12, 31, 23, tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    )
    year = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_span("2026-12-07T24") == year
    assert period_span("2026-13-07T01") == year


def _name(period: str) -> SinkFileName:
    parsed = parse_sink_file(sink_file(ROOT, "orders", "bk", period))
    assert parsed is not None
    return parsed


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def test_hours_sort_in_time_order_and_beside_a_day_by_their_last_write() -> None:
    hours = [f"2026-12-07T{h:02d}" for h in (9, 10, 23)] + ["2026-12-08T00"]
    assert [n.period for n in sorted(map(_name, reversed(hours)), key=sort_key)] == hours
    # daily -> hourly at 15:00: the day's file (last written 15:00:05) before the hours after.
    day, h15, h16 = _name("2026-12-07"), _name("2026-12-07T15"), _name("2026-12-07T16")
    written = {
        day.period: _ns(datetime(2026, 12, 7, 15, 0, 5, tzinfo=UTC)),
        h15.period: _ns(datetime(2026, 12, 7, 15, 59, tzinfo=UTC)),
        h16.period: _ns(datetime(2026, 12, 7, 16, 30, tzinfo=UTC)),
    }
    ordered = sorted([h16, day, h15], key=lambda n: sort_key(n, written[n.period]))
    assert [n.period for n in ordered] == ["2026-12-07", "2026-12-07T15", "2026-12-07T16"]
    # hourly -> daily at 16:00: the hours before the day's file.
    written[day.period] = _ns(datetime(2026, 12, 7, 23, tzinfo=UTC))
    ordered = sorted([day, h16, h15], key=lambda n: sort_key(n, written[n.period]))
    assert [n.period for n in ordered] == ["2026-12-07T15", "2026-12-07T16", "2026-12-07"]


def test_connectors_are_declared_on_the_hours_file() -> None:
    config = parse_config({"topics": ["orders"], "sinkRotation": "hourly"})
    assert config.sink_rotation is SinkRotation.HOURLY
    period = period_of(MOMENT, config.sink_rotation)
    (connector,) = desired_connectors(config, period).values()
    expected = "/data/filesink/orders-local-file-sink-backup-2026-12-07T15.sink"
    assert connector["file"] == expected
    assert current_files(config, period) == {Path(expected)}


def test_an_unknown_rotation_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"topics": ["orders"], "sinkRotation": "minutely"})
    assert "'monthly', 'daily' or 'hourly'" in str(caught.value)


def test_the_longest_hourly_names_fit_and_one_more_character_does_not() -> None:
    """The hourly period is 3 characters longer than the daily one: the topic limits drop by
    3 (data volume: 196 monthly, 193 daily, 190 hourly with the default sinkName)."""
    data, copy = longest_names("t", "s", SinkRotation.HOURLY, SinkFormat.VALUE)
    assert data == ".t-s-2000-12-31T23.sink-9999999999.gz.kcb-tmp"
    assert copy == ".kcb-copy-t-s-2000-12-31T23.sink-9999999999.gz.part"
    parse_config({"topics": ["t" * 190], "sinkRotation": "hourly"})
    with pytest.raises(ConfigError) as caught:
        parse_config({"topics": ["t" * 191], "sinkRotation": "hourly"})
    assert "takes 256 bytes, at most 255 fit (fix: a topic of at most 190 characters" in str(
        caught.value
    )


def _write(path: Path, text: str, when: datetime) -> bytes:
    path.write_text(text)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return text.encode()


def test_the_compressor_leaves_the_current_hour_and_takes_the_idle_others(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 16, 0, 30, tzinfo=UTC)
    recent = now - timedelta(seconds=20)
    current = tmp_path / "orders-bk-2026-12-07T16.sink"
    last_hour = tmp_path / "orders-bk-2026-12-07T15.sink"
    day = tmp_path / "orders-bk-2026-12-06.sink"  # before a daily -> hourly switch
    _write(current, '{"n":3}\n', recent)
    hour_data = _write(last_hour, '{"n":2}\n', recent)
    _write(day, '{"n":1}\n', recent)
    # Idle for at least a day only: nothing yet (the last hour's file was written 20 s ago).
    result = compress_idle_files(tmp_path, now=now, rotation=SinkRotation.HOURLY, idle_days=1)
    assert result.compressed == [] and result.skipped == []
    result = compress_idle_files(tmp_path, now=now, rotation=SinkRotation.HOURLY, idle_days=0)
    epoch = int(now.timestamp())
    assert sorted(c.target.name for c in result.compressed) == [
        f"orders-bk-2026-12-06.sink-{epoch}.gz",
        f"orders-bk-2026-12-07T15.sink-{epoch}.gz",
    ]
    assert result.skipped == [current]
    assert current.exists() and not last_hour.exists() and not day.exists()
    gz = compressed_name(last_hour, epoch)
    assert gzip.decompress(gz.read_bytes()) == hour_data
    assert gz.stat().st_mtime == recent.timestamp()  # the last write, which restore orders by


def test_a_file_written_before_another_of_its_topic_is_set_aside_before_it_is_reopened(
    tmp_path: Path,
) -> None:
    """daily -> hourly -> daily in one day: the day's file, last written before the hour's,
    is compressed before the connector is pointed at it again; then the new one is left."""
    now = datetime(2026, 12, 7, 17, 0, 5, tzinfo=UTC)
    day = tmp_path / "orders-bk-2026-12-07.sink"
    hour = tmp_path / "orders-bk-2026-12-07T16.sink"
    other = tmp_path / "payments-bk-2026-12-07T16.sink"  # another topic's: no matter
    data = _write(day, '{"n":1}\n', datetime(2026, 12, 7, 15, 0, 2, tzinfo=UTC))
    _write(hour, '{"n":2}\n', datetime(2026, 12, 7, 16, 59, tzinfo=UTC))
    _write(other, '{"n":0}\n', datetime(2026, 12, 7, 16, 59, tzinfo=UTC))
    assert set_aside_reopened([hour, other], now) == [] and hour.exists()  # the newest: kept
    assert other.exists()
    assert set_aside_reopened([day], now) == []
    aside = compressed_name(day, int(now.timestamp()))
    assert not day.exists() and gzip.decompress(aside.read_bytes()) == data
    assert aside.stat().st_mtime == datetime(2026, 12, 7, 15, 0, 2, tzinfo=UTC).timestamp()
    assert set_aside_reopened([day], now) == []  # gone: the connector starts it anew
    # The new day's file, written last, is kept; once idle it compresses beside the old one.
    new = _write(day, '{"n":3}\n', datetime(2026, 12, 7, 17, 30, tzinfo=UTC))
    assert set_aside_reopened([day], now) == [] and day.read_bytes() == new
    later = datetime(2026, 12, 9, tzinfo=UTC)
    result = compress_idle_files(tmp_path, now=later, rotation=SinkRotation.DAILY, idle_days=1)
    assert sorted(c.source.name for c in result.compressed) == sorted(
        [day.name, hour.name, other.name]
    )
    assert gzip.decompress(compressed_name(day, int(later.timestamp())).read_bytes()) == new
    assert gzip.decompress(aside.read_bytes()) == data


def test_a_file_that_cannot_be_set_aside_is_not_reopened(tmp_path: Path) -> None:
    """A .gz of the same name holding the file's start (a cut-short compression): not
    compressed again, so the connector keeps its current file (False)."""
    now = datetime(2026, 12, 7, 17, 0, 5, tzinfo=UTC)
    day = tmp_path / "orders-bk-2026-12-07.sink"
    data = _write(day, '{"n":1}\n{"n":2}\n', datetime(2026, 12, 7, 15, tzinfo=UTC))
    _write(tmp_path / "orders-bk-2026-12-07T16.sink", "{}\n", datetime(2026, 12, 7, 16, tzinfo=UTC))
    stale = compressed_name(day, 1796600000)
    stale.write_bytes(gzip.compress(data[:8]))
    assert set_aside_reopened([day], now) == [day]
    assert day.read_bytes() == data and gzip.decompress(stale.read_bytes()) == data[:8]


def test_an_empty_file_is_opened_again_as_it_is(tmp_path: Path) -> None:
    """No record in it, nothing to order: the connector appends to it as to a new file; an
    empty .gz of the name blocks no later compression either."""
    now = datetime(2026, 12, 7, 17, 0, 5, tzinfo=UTC)
    day = tmp_path / "orders-bk-2026-12-07.sink"
    _write(day, "", datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC))
    _write(tmp_path / "orders-bk-2026-12-07T16.sink", "{}\n", datetime(2026, 12, 7, 16, tzinfo=UTC))
    assert set_aside_reopened([day], now) == [] and day.read_bytes() == b""
    compressed_name(day, 1796600000).write_bytes(gzip.compress(b""))
    data = _write(day, '{"n":1}\n', datetime(2026, 12, 7, 17, 30, tzinfo=UTC))
    later = datetime(2026, 12, 9, tzinfo=UTC)
    result = compress_idle_files(tmp_path, now=later, rotation=SinkRotation.DAILY, idle_days=1)
    assert compressed_name(day, int(later.timestamp())) in [c.target for c in result.compressed]
    assert gzip.decompress(compressed_name(day, int(later.timestamp())).read_bytes()) == data
