"""The result of the last `kcb snapshots verify` of the release's backup, kept on the data
volume (`{sinkPath}/.kcb-verify.json`, beside the drill's record) so the supervisor's
kcb_verify_* metrics and `kcb status` show it, wherever the command ran.

Only a verify of the config's own backup is recorded (not one of a `--snapshot-root` copy).
rsnapshot copies only `*.sink` / `*.gz` / `*.topic.json`: it never sees this file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_connect_backup.config import Config
from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.inspect.verify import Verification
from kafka_connect_backup.layout.names import VERIFY_NAME

log = get_logger(__name__)


@dataclass(frozen=True)
class VerifyRecord:
    finished_at: float
    ok: bool
    deep: bool
    snapshots: list[str]
    problems: int


def verify_path(config: Config) -> Path:
    return config.sink_path / VERIFY_NAME


def save_verification(config: Config, result: Verification) -> None:
    """Best effort: a verify that cannot record its result still reports it (logged)."""
    body = {
        "finishedAt": time.time(),
        "ok": result.ok,
        "deep": result.deep,
        "snapshots": [s.name for s in result.snapshots],
        "problems": result.counts()["problems"],
    }
    try:
        atomic_write_text(verify_path(config), json.dumps(body))
    except OSError as exc:
        log.warning("verify.not_recorded", path=str(verify_path(config)), error=str(exc))


def load_last_verification(config: Config) -> VerifyRecord | None:
    try:
        data = json.loads(verify_path(config).read_text(encoding="utf-8"))
        return VerifyRecord(
            float(data["finishedAt"]),
            bool(data["ok"]),
            bool(data["deep"]),
            [str(name) for name in data["snapshots"]],
            int(data["problems"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
