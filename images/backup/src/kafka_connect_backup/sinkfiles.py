"""Names of connectors and sink files, compatible with the original chart.

Connector `{topic}-{sinkName}` (consumer group `connect-{topic}-{sinkName}`) writes
`{sinkPath}/{topic}-{sinkName}-{period}.sink`; period is `YYYY-MM` (monthly, the original) or
`YYYY-MM-DD` (daily). A stale file is compressed to `{file}-{unix-epoch}.gz`.

With `sinkFormat: envelope` (whole records as JSON lines, kafka_connect_backup/envelope.py) the
file is `{topic}-{sinkName}-{period}.envelope.sink`: a format switch starts a new file, a
file never mixes formats, and the names still end in `.sink` (and `.gz` once compressed), so
rsnapshot's `*.sink` / `*.gz` include rules, the compressor and the `*.sink*` restore globs
take them as they take value files. The stem (`{topic}-{sinkName}`) is the same in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kafka_connect_backup.config_basics import SinkFormat, SinkRotation

# ASCII digits only, and the whole name (`$` would also match before a final newline).
_SINK_NAME = re.compile(
    r"(?P<stem>.+)-(?P<period>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?)(?:\.(?P<format>envelope))?"
    r"\.sink(?:-(?P<epoch>[0-9]+)\.gz)?",
    re.DOTALL,
)


def connector_name(topic: str, sink_name: str) -> str:
    return f"{topic}-{sink_name}"


def consumer_group(topic: str, sink_name: str) -> str:
    return f"connect-{connector_name(topic, sink_name)}"


def period_of(moment: datetime, rotation: SinkRotation) -> str:
    # Not strftime("%Y"): glibc writes years before 1000 with fewer than 4 digits.
    month = f"{moment.year:04d}-{moment.month:02d}"
    return month if rotation is SinkRotation.MONTHLY else f"{month}-{moment.day:02d}"


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


# The temporary names a sink file takes on its way: the compressor's beside the `.gz` it
# writes on the data volume (supervisor/compress.py), the snapshot copy's in `.sync` on the
# backup volume (supervisor/sync_copy.py; no backed-up pattern matches it).
COMPRESS_TEMP_SUFFIX = ".kcb-tmp"
COPY_TEMP_PREFIX = ".kcb-copy-"
COPY_TEMP_SUFFIX = ".part"
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
    period = period_of(datetime(2000, 12, 31), rotation)  # a fixed width per rotation
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


def sort_key(name: SinkFileName) -> tuple[str, str, int, str]:
    """Order files by period (then by compression epoch), as restore replays them."""
    return (name.period, name.stem, name.epoch or 0, name.sink_format.value)
