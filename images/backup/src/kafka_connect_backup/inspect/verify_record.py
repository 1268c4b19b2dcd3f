"""The result of the last `kcb snapshots verify` of the release's backup, kept on the data
volume (`{sinkPath}/.kcb-verify.json`, beside the drill's record) so the supervisor's
kcb_verify_* metrics and `kcb status` show it, wherever the command ran.

Only a verify of the config's own backup is recorded (not one of a `--snapshot-root` copy).
rsnapshot copies only `*.sink` / `*.gz` / `*.topic.json`: it never sees this file.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from kafka_connect_backup.config import Config
from kafka_connect_backup.core import records
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.inspect.verify import Verification
from kafka_connect_backup.layout.names import VERIFY_NAME

log = get_logger(__name__)


class VerifyRecord(msgspec.Struct, frozen=True, rename="camel"):
    finished_at: float
    ok: bool
    deep: bool
    snapshots: list[str]
    problems: int


def verify_path(config: Config) -> Path:
    return config.sink_path / VERIFY_NAME


def save_verification(config: Config, result: Verification) -> None:
    """Best effort: a verify that cannot record its result still reports it (logged)."""
    body = VerifyRecord(
        finished_at=time.time(),
        ok=result.ok,
        deep=result.deep,
        snapshots=[s.name for s in result.snapshots],
        problems=result.counts()["problems"],
    )
    records.save_or_warn(verify_path(config), body, log, "verify.not_recorded")


def load_last_verification(config: Config) -> VerifyRecord | None:
    """None when no verification was recorded, or its record cannot be read."""
    try:
        return records.load(verify_path(config), VerifyRecord)
    except RecordUnreadable:
        return None
