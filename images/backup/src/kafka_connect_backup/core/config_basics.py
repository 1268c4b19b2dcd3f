"""The config's import-light parts: the sink file kinds, the topic name rule, the default
path and the defaults restore.py falls back on without a config file. config.py builds its
models on them; restore.py reads them without importing pydantic and yaml (a third of its
start-up, measured)."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path

DEFAULT_CONFIG_PATH = Path(os.environ.get("KCB_CONFIG", "/etc/kcb/config.yaml"))

# Kafka topic names: legal characters and length (Kafka's own rule; "." and ".." are refused
# too, see is_topic_name).
TOPIC_PATTERN = r"^[a-zA-Z0-9._-]{1,249}$"

# The defaults of the config keys restore.py uses (config.py's models default to them).
DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_CONNECT_URL = "http://127.0.0.1:8083"
DEFAULT_SINK_NAME = "local-file-sink-backup"
DEFAULT_SINK_PATH = Path("/data/filesink")
DEFAULT_MOUNT_POINT = Path("/mnt/backup")  # also the snapshot root (no snapshotSubdir)


def is_topic_name(name: str) -> bool:
    return re.fullmatch(TOPIC_PATTERN, name) is not None and name not in (".", "..")


class SinkRotation(StrEnum):
    """How often a connector starts a new sink file: the period in its name is `YYYY-MM`
    (monthly, the original), `YYYY-MM-DD` (daily) or `YYYY-MM-DDTHH` (hourly), in UTC."""

    MONTHLY = "monthly"
    DAILY = "daily"
    HOURLY = "hourly"


class SinkFormat(StrEnum):
    """What a sink file's lines hold: `value`, the record value as the original wrote it
    (`{topic}-{sinkName}-{period}.sink`), or `envelope`, the whole record as one JSON line
    (timestamp, partition, offset, key, value, headers; `...-{period}.envelope.sink`)."""

    VALUE = "value"
    ENVELOPE = "envelope"
