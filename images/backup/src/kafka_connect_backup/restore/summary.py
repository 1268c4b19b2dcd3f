"""The end-of-run report: what was read, matched, skipped (by reason), delivered and failed,
printed for the operator and optionally written as JSON (--summary-json)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.units import took
from kafka_connect_backup.kafka.timefilter import iso
from kafka_connect_backup.restore.plan import Plan


class PhaseClock:
    """Wall seconds per named phase: `lap(name)` charges the time since the last lap."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._last
        self._last = now


@dataclass
class Summary:
    topic: str
    bootstrap: str | None
    window: str
    plan: Plan
    dry_run: bool = False
    # What the restore changes (restore/target.py Consequences.as_dict), when Kafka was read.
    target: dict[str, Any] | None = None
    delivered: int = 0  # what the topic gained (its end offsets before and after)
    failed: int = 0  # matched records the topic did not get
    interrupted: bool = False  # Ctrl-C or SIGTERM stopped the send
    # Why `delivered` is only the acknowledged records (a lower bound), when the end offsets
    # could not be read after the send.
    unverified: str | None = None
    outages: int = 0  # times Kafka became unreachable during the send
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    starts: list[int] = field(default_factory=list)  # the topic's end offsets before the send
    ends: list[int] | None = None  # and after it, when Kafka gave them
    # Wall seconds per phase of this run (cli.py: prepare, scan, checks, send), so a slow
    # restore shows where its time went; start-up before main() is not included.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "bootstrap": self.bootstrap,
            "window": self.window,
            "dry_run": self.dry_run,
            "target": self.target,
            "files": [
                {
                    "path": str(f.source.path),
                    "bytes": f.source.size,
                    "compressed": f.source.compressed,
                    "lines": f.lines + f.torn,
                    "matched": f.matched,
                    "skipped": dict(sorted(f.skipped.items())),
                    "torn_last_line": f.torn,
                    "first_record_time": iso(f.first_epoch),
                    "last_record_time": iso(f.last_epoch),
                }
                for f in self.plan.files
            ],
            "read": self.plan.read,
            "matched": self.plan.matched,
            "skipped": dict(sorted(self.plan.skipped.items())),
            "missing_timestamp_included": sum(f.missing_included for f in self.plan.files),
            "would_send": self.plan.matched if self.dry_run else 0,
            "interrupted": self.interrupted,
            "delivered": self.delivered,
            "failed": self.failed,
            "delivered_from": "acknowledgements" if self.unverified else "end offsets",
            "unverified": self.unverified,
            "kafka_outages": self.outages,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.delivered / self.seconds) if self.seconds else 0,
            "phase_seconds": {name: round(value, 3) for name, value in self.phases.items()},
        }

    def render(self) -> str:
        skipped = self.plan.skipped
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
        lines = [
            (
                f"read {self.plan.read}, matched {self.plan.matched}, "
                f"skipped {sum(skipped.values())} ({reasons})"
            ),
        ]
        if self.dry_run:
            lines.append(f"dry run: would send {self.plan.matched} records to {self.topic}")
        else:
            rate = f" in {took(self.seconds)}" if self.seconds else ""
            if self.unverified:
                lines.append(
                    f"delivered at least {self.delivered} (acknowledged), failed at most "
                    f"{self.failed}{rate}: {self.unverified}; compare the topic's end offsets "
                    "with the matched records before sending any of them again"
                )
            else:
                lines.append(f"delivered {self.delivered}, failed {self.failed}{rate}")
            if self.interrupted:
                lines.append(
                    f"INTERRUPTED: {self.topic} holds the {self.delivered} delivered records; "
                    "the rest was not sent (to finish, restore from the time after them, or "
                    "recreate the topic and restore again)"
                )
            for error, count in self.errors.most_common(5):
                lines.append(f"  failure: {error} ({count})")
        return "\n".join(lines)

    def write_json(self, path: Path, stdout: TextIO) -> None:
        """To `path` atomically (a reader never sees half a summary), or to stdout for `-`."""
        text = json.dumps(self.as_dict(), indent=2) + "\n"
        if str(path) == STDOUT:
            stdout.write(text)
            stdout.flush()
        else:
            atomic_write_text(path, text)


# --summary-json - : the JSON goes to stdout, the readable report to stderr.
STDOUT = "-"
