"""A topic's metadata kept with every snapshot: `{sinkPath}/{topic}-{sinkName}.topic.json`.

The sink files hold the records; this file holds what a restore needs to put the topic back as
it was: its partition count, replication factor and non-default (dynamic topic) configs such
as cleanup.policy=compact, and the committed offsets of every consumer group on the topic, all
read while the connectors are stopped in a backup cycle, with the time they were read:

    {"format": "kcb-topic-metadata", "version": 1, "topic": "orders", "time": "2026-12-01T...Z",
     "partitions": 3, "replicationFactor": 1, "configs": {"cleanup.policy": "compact"},
     "groups": {"billing": {"0": 120, "2": 7}}}

It is rewritten (atomically) every cycle, so each snapshot keeps the copy of its own cycle;
rsnapshot includes `*.topic.json`, the compressor never touches it (not a sink file name),
`kcb snapshots verify` checks it parses, `kcb snapshots list` shows it, and restore.py reads
the one beside its source files (`--restore-groups`, the runbook's recreate-topic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka_connect_backup.core.config_basics import is_topic_name
from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.units import utc_iso
from kafka_connect_backup.kafka.envelope import MAX_LONG, MAX_PARTITION
from kafka_connect_backup.kafka.timefilter import in_utc
from kafka_connect_backup.layout.sinkfiles import METADATA_SUFFIX, metadata_name

PATTERN = f"*{METADATA_SUFFIX}"
FORMAT = "kcb-topic-metadata"
VERSION = 1
# More than any real topic has (Kafka's own field is an int32): a count above it is a damaged
# or hostile file, and restore's plan (a line per target partition) would never finish.
MAX_PARTITIONS = 1_000_000
MAX_REPLICATION_FACTOR = 2**15 - 1  # Kafka's int16 field


class MetadataError(ValueError):
    """A metadata file that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TopicMetadata:
    topic: str
    time: datetime
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[int, int]] = field(default_factory=dict)  # group -> partition -> offset

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "topic": self.topic,
            "time": utc_iso(self.time, timespec="milliseconds"),
            "partitions": self.partitions,
            "replicationFactor": self.replication_factor,
            "configs": dict(sorted(self.configs.items())),
            "groups": {
                group: {str(p): o for p, o in sorted(offsets.items())}
                for group, offsets in sorted(self.groups.items())
            },
        }


def write_metadata(directory: Path, sink_name: str, metadata: TopicMetadata) -> Path:
    path = directory / metadata_name(metadata.topic, sink_name)
    atomic_write_text(path, json.dumps(metadata.as_dict(), indent=1) + "\n")
    return path


def _count(data: dict[str, Any], name: str, path: Path, most: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        shown = repr(value) if not isinstance(value, int) or value < 10**12 else f"{value:.3g}"
        raise MetadataError(f"{path}: {name} must be an integer from 1 to {most}, got {shown}")
    return value


def _text(value: Any, name: str) -> str:
    """A string every later reader can print and send (no lone surrogate from a \\ud800
    escape); ValueError naming the field."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: {value!r} is not valid Unicode") from None
    return value


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object, got {value!r}")
    return value


def _number(value: Any, name: str, limit: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():  # a JSON key
        value = int(value)
    if value.__class__ is not int or not 0 <= value <= limit:
        raise ValueError(f"{name}: expected an integer from 0 to {limit}, got {value!r}")
    return int(value)


def _groups(value: Any) -> dict[str, dict[int, int]]:
    groups: dict[str, dict[int, int]] = {}
    for group, offsets in _object(value, "groups").items():
        name = _text(group, "groups")
        if not name:
            raise ValueError("groups: a group without a name")
        groups[name] = {
            _number(p, f"groups.{name} partition", MAX_PARTITION): _number(
                o, f"groups.{name} offset", MAX_LONG
            )
            for p, o in _object(offsets, f"groups.{name}").items()
        }
    return groups


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_metadata(path: Path) -> TopicMetadata:
    """The metadata a file holds, with values Kafka can hold and every reader can show;
    MetadataError naming the file and what is wrong otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        raise MetadataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MetadataError(f"{path} is not a topic metadata file (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MetadataError(f"{path} is not a topic metadata file (no format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise MetadataError(
            f"{path} has metadata version {data.get('version')!r}; this version reads {VERSION}"
        )
    try:
        topic = _text(data["topic"], "topic")
        if not is_topic_name(topic):
            raise ValueError(f"topic: {topic!r} is not a Kafka topic name")
        # In UTC: every reader shows it as an epoch or an ISO time (ValueError outside 1..9999).
        moment = in_utc(datetime.fromisoformat(_text(data["time"], "time")))
        configs = {
            _text(k, "configs"): _text(v, f"configs.{k}")
            for k, v in _object(data.get("configs"), "configs").items()
        }
        groups = _groups(data.get("groups"))
    except (KeyError, ValueError) as exc:
        raise MetadataError(f"{path}: a field is missing or malformed ({exc})") from None
    return TopicMetadata(
        topic,
        moment,
        _count(data, "partitions", path, MAX_PARTITIONS),
        _count(data, "replicationFactor", path, MAX_REPLICATION_FACTOR),
        configs,
        groups,
    )


def find_metadata(directories: list[Path], connector: str) -> Path | None:
    """The metadata file of `connector` (`{topic}-{sinkName}`) in the first of `directories`
    holding one."""
    name = f"{connector}{METADATA_SUFFIX}"
    for directory in directories:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None
