"""The runbook's journal: a small JSON file recording which steps are done and what they
learned (connectors stopped, files moved, the topic's partitions before deletion), so a re-run
after a failure at any step continues instead of repeating or guessing.

Written atomically (temp file, fsync, rename): a crash leaves the previous or the new state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka_connect_backup.core import records
from kafka_connect_backup.core.durable import commit
from kafka_connect_backup.core.records import RecordUnreadable
from kafka_connect_backup.core.units import compact_stamp
from kafka_connect_backup.layout.names import archived_journal_name

DONE = "done"
STARTED = "started"


@dataclass
class Journal:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            data = records.load(path, dict[str, Any])
        except RecordUnreadable as exc:
            raise OSError(f"cannot read the restore journal {path}: {exc.error}") from None
        if data is None:
            return cls(path, {"steps": {}, "created": time.time()})
        data.setdefault("steps", {})
        return cls(path, data)

    def status(self, step: str) -> str | None:
        entry = self.data["steps"].get(step)
        return None if entry is None else str(entry["status"])

    def done(self, step: str) -> bool:
        return self.status(step) == DONE

    def mark(self, step: str, status: str, **details: Any) -> None:
        self.data["steps"][step] = {"status": status, "at": time.time(), **details}
        self.save()

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records.save(self.path, self.data, indent=2, sort_keys=True)

    def latest_finished(self) -> Journal | None:
        """The newest archived journal of a finished runbook beside this one, if any."""
        finished = sorted(self.path.parent.glob(archived_journal_name(self.path.stem, "*")))
        return Journal.load(finished[-1]) if finished else None

    def archive(self) -> Path:
        """A finished runbook: keep its journal for the record, out of the way of the next."""
        stamp = compact_stamp()
        target = self.path.with_name(archived_journal_name(self.path.stem, stamp))
        commit(self.path, target)
        return target
