"""Shared pieces of the supervisor integration tests: configs (scripts/local_config.py with
these tests' settings), a captured JSON log, an adjustable clock, a producer thread that keeps
producing during a cycle."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Producer

from kafka_connect_backup.config import Config, parse_config
from kafka_connect_backup.core.logs import configure_logging
from local_config import local_config


def sink_name() -> str:
    """A sink name unique to one test: its connectors never collide on the shared worker."""
    return f"sup-{uuid.uuid4().hex[:8]}"


# What a supervisor test runs with unless it says otherwise: cycles only on demand, quick
# reconciling, no metrics endpoint, every log event.
TEST_SETTINGS: dict[str, Any] = {
    "restartTimeout": "1d",
    "reconcileIntervalSeconds": 0.5,
    "connect": {"stopTimeoutSeconds": 30},
    "logLevel": "DEBUG",
}


def config_data(
    *,
    topics: list[str],
    sink: str,
    sink_path: Path,
    connect_url: str,
    backup: dict[str, Any] | None = None,
    metrics_port: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """A supervisor test's config document; `extra` (config key names) wins over TEST_SETTINGS."""
    return local_config(
        topics=topics,
        sink_name=sink,
        sink_path=sink_path,
        connect_url=connect_url,
        metrics_port=metrics_port,
        backup=backup,
        **{**TEST_SETTINGS, **extra},
    )


def make_config(**kwargs: Any) -> Config:
    return parse_config(config_data(**kwargs))


class LogCapture:
    """structlog configured to write JSON lines into memory."""

    def __init__(self, level: str = "DEBUG") -> None:
        self.stream = io.StringIO()
        configure_logging(level, stream=self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [e for e in found if name is None or e.get("event") == name]


# A fixed mid-month moment: a test's clock never depends on today's date (on the 1st of a
# 31-day month, "next month" from the real date is already past compressAfterDays).
MID_MONTH = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)


class Clock:
    """An injectable clock the test can move (month change); starts at MID_MONTH."""

    def __init__(self, now: datetime = MID_MONTH) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def held_now() -> Clock:
    """The real instant, held still: passed as `clock=` to the Supervisor or Cycle under
    test and read by the test for the period it expects, both name the same sink file even
    when a test runs across midnight at the end of a month."""
    return Clock(datetime.now(UTC))


def next_month_start(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, 0, 0, 5, tzinfo=UTC)


class ProducerThread(threading.Thread):
    """Produces numbered JSON records (delivery-confirmed) until stopped; `lines` holds
    exactly what the broker acknowledged, in order."""

    def __init__(self, bootstrap: str, topic: str, *, prefix: str, interval: float = 0.002):
        super().__init__(daemon=True)
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
        )
        self.topic, self.prefix, self.interval = topic, prefix, interval
        self.sent: list[str] = []
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.lines.append(msg.value().decode())

    def run(self) -> None:
        i = 0
        while not self._halt.is_set():
            line = json.dumps(
                {"id": f"{self.prefix}-{i}", "utcTime": datetime.now(UTC).isoformat()},
                separators=(",", ":"),
            )
            self.producer.produce(self.topic, line.encode(), on_delivery=self._delivered)
            self.sent.append(line)
            self.producer.poll(0)
            i += 1
            time.sleep(self.interval)
        self.producer.flush(60)

    def finish(self) -> list[str]:
        self._halt.set()
        self.join(90)
        assert not self.errors, self.errors[:3]
        assert len(self.lines) == len(self.sent)
        return self.lines


def delete_connectors(connect_url: str, suffix: str) -> None:
    """Remove a test's connectors from the shared worker."""
    try:
        names = requests.get(f"{connect_url}/connectors", timeout=10).json()
    except requests.RequestException:
        return
    for name in names:
        if name.endswith(suffix):
            requests.delete(f"{connect_url}/connectors/{name}", timeout=30)
