"""Names of connectors and sink files, compatible with the original chart.

Connector `{topic}-{sinkName}` (consumer group `connect-{topic}-{sinkName}`) writes
`{sinkPath}/{topic}-{sinkName}-{period}.sink`; period is `YYYY-MM` (monthly, the original),
`YYYY-MM-DD` (daily) or `YYYY-MM-DDTHH` (hourly), the UTC month, day or hour. The names sort in
time order within a rotation, and no name of one rotation reads as another's. A stale file is
compressed to `{file}-{unix-epoch}.gz`.

With `sinkFormat: envelope` (whole records as JSON lines, kafka/envelope.py) the
file is `{topic}-{sinkName}-{period}.envelope.sink`: a format switch starts a new file, a
file never mixes formats, and the names still end in `.sink` (and `.gz` once compressed), so
rsnapshot's `*.sink` / `*.gz` include rules, the compressor and the `*.sink*` restore globs
take them as they take value files. The stem (`{topic}-{sinkName}`) is the same in both.

Restore replays a topic's files in the order they were written: sort_key says how that order
is read from the names and the files' mtimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka_connect_backup.core.config_basics import SinkFormat, SinkRotation
from kafka_connect_backup.layout.names import (
    COMPRESS_TEMP_SUFFIX,
    COPY_TEMP_PREFIX,
    COPY_TEMP_SUFFIX,
)

# ASCII digits only, and the whole name (`$` would also match before a final newline).
_SINK_NAME = re.compile(
    r"(?P<stem>.+)-(?P<period>[0-9]{4}-[0-9]{2}(?:-[0-9]{2}(?:T[0-9]{2})?)?)"
    r"(?:\.(?P<format>envelope))?"
    r"\.sink(?:-(?P<epoch>[0-9]+)\.gz)?",
    re.DOTALL,
)


def connector_name(topic: str, sink_name: str) -> str:
    return f"{topic}-{sink_name}"


# A topic's metadata file beside its sink files (kafka/topic_metadata.py writes and reads it).
METADATA_SUFFIX = ".topic.json"


def metadata_name(topic: str, sink_name: str) -> str:
    return f"{connector_name(topic, sink_name)}{METADATA_SUFFIX}"


def is_metadata_name(name: str) -> bool:
    return (
        name.endswith(METADATA_SUFFIX)
        and len(name) > len(METADATA_SUFFIX)
        and not name.startswith(".")
    )


def consumer_group(topic: str, sink_name: str) -> str:
    return f"connect-{connector_name(topic, sink_name)}"


def period_of(moment: datetime, rotation: SinkRotation) -> str:
    """The period of `moment` (a UTC time: the supervisor's clock) for `rotation`."""
    # Not strftime("%Y"): glibc writes years before 1000 with fewer than 4 digits.
    month = f"{moment.year:04d}-{moment.month:02d}"
    if rotation is SinkRotation.MONTHLY:
        return month
    day = f"{month}-{moment.day:02d}"
    return day if rotation is SinkRotation.DAILY else f"{day}T{moment.hour:02d}"


def sink_file(
    sink_path: Path,
    topic: str,
    sink_name: str,
    period: str,
    sink_format: SinkFormat = SinkFormat.VALUE,
) -> Path:
    marker = "" if sink_format is SinkFormat.VALUE else f".{sink_format.value}"
    return sink_path / f"{connector_name(topic, sink_name)}-{period}{marker}.sink"


def compressed_name(path: Path, epoch: int) -> Path:
    return path.with_name(f"{path.name}-{epoch}.gz")


# Epoch seconds have 10 digits until the year 2286: the longest `-{epoch}.gz` in practice.
_LONGEST_EPOCH = 9_999_999_999


def compress_temp_name(name: str) -> str:
    return f".{name}{COMPRESS_TEMP_SUFFIX}"


def copy_temp_name(name: str) -> str:
    return f"{COPY_TEMP_PREFIX}{name}{COPY_TEMP_SUFFIX}"


def longest_names(
    topic: str, sink_name: str, rotation: SinkRotation, sink_format: SinkFormat
) -> tuple[str, str]:
    """The longest file names a topic's files take: on the data volume (the compressor's
    temporary file of a compressed file) and on the backup volume (the snapshot copy's
    temporary file of one). Names are ASCII (topic and sink name rules): characters = bytes."""
    period = period_of(datetime(2000, 12, 31, 23), rotation)  # a fixed width per rotation
    plain = sink_file(Path(), topic, sink_name, period, sink_format)
    compressed = compressed_name(plain, _LONGEST_EPOCH).name
    return compress_temp_name(compressed), copy_temp_name(compressed)


@dataclass(frozen=True)
class SinkFileName:
    """A parsed sink file name: `{stem}-{period}.sink` or `{stem}-{period}.sink-{epoch}.gz`,
    where stem is `{topic}-{sinkName}` (topic and sink name may both contain dashes), with
    `.envelope` before `.sink` for an envelope file."""

    path: Path
    stem: str
    period: str
    epoch: int | None
    sink_format: SinkFormat = SinkFormat.VALUE

    @property
    def compressed(self) -> bool:
        return self.epoch is not None


def parse_sink_file(path: Path) -> SinkFileName | None:
    """The parts of a sink file name, or None when the name is not a sink file's."""
    match = _SINK_NAME.fullmatch(path.name)
    if match is None:
        return None
    epoch = match.group("epoch")
    return SinkFileName(
        path,
        match.group("stem"),
        match.group("period"),
        int(epoch) if epoch else None,
        SinkFormat(match.group("format") or SinkFormat.VALUE),
    )


def period_span(period: str) -> tuple[datetime, datetime]:
    """The [start, end) of a `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHH` period, in UTC (the
    connector's file takes the period of the wall clock when it is declared, period_of). A
    name whose period is no date or hour (month 13, hour 24, year 0) was not written by a
    connector: its year, or year 1."""
    date, _, hour = period.partition("T")
    parts = [int(part) for part in date.split("-")]
    length = timedelta(hours=1) if hour else timedelta(days=1) if len(parts) == 3 else None
    try:
        start = datetime(parts[0], parts[1], parts[2] if length else 1, int(hour or 0), tzinfo=UTC)
    except ValueError:
        start = datetime(max(parts[0], 1), 1, 1, tzinfo=UTC)
        length = None
        parts = [start.year, 12]
    try:
        if length is not None:
            return start, start + length
        year, month = (parts[0] + 1, 1) if parts[1] == 12 else (parts[0], parts[1] + 1)
        return start, datetime(year, month, 1, tzinfo=UTC)
    except (OverflowError, ValueError):  # the last period of year 9999
        return start, datetime.max.replace(tzinfo=UTC)


def sort_key(name: SinkFileName, mtime_ns: int | None = None) -> tuple[int, int, str, int, int]:
    """The order the files of a topic were written in, which restore replays them in.

    One connector writes one file at a time, so its files' write spans do not overlap and the
    last write (mtime) orders them. The name alone cannot where two periods overlap: a
    `sinkFormat` switch starts `{period}.envelope.sink` beside `{period}.sink` of the same
    period, and a `sinkRotation` switch puts a `YYYY-MM` file beside the `YYYY-MM-DD` files of
    that month (written before it after daily -> monthly, after it after monthly -> daily), or
    a `YYYY-MM-DD` file beside the `YYYY-MM-DDTHH` files of that day (daily <-> hourly).
    The mtime is clamped into the file's period, so a copy that lost it (cp without -p;
    rsnapshot, the compressor and restore's moves keep it) still falls back on the period
    order (by its end, then its start); a file without a known mtime counts as written up to
    its period's end. Then by name, compression epoch (the older `.gz` of a re-created
    period first), and last the value file before the envelope file (value is the original
    format, so the likelier switch is value -> envelope)."""
    start, end = period_span(name.period)
    start_ns, end_ns = (int(moment.timestamp()) * 1_000_000_000 for moment in (start, end))
    written = end_ns if mtime_ns is None else min(max(mtime_ns, start_ns), end_ns)
    envelope = int(name.sink_format is not SinkFormat.VALUE)
    return (written, start_ns, name.stem, name.epoch or 0, envelope)
