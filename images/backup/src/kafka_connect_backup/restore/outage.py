"""One readable line per broker outage during a send, instead of librdkafka's flood.

librdkafka logs (and reports through error_cb) every refused reconnection, several a second for
as long as a broker is down. Restore says once that Kafka is unreachable and what happens to
the records meanwhile, and once that it is back (from librdkafka's statistics, which name each
broker's state), with the number of connection errors it did not repeat. Other librdkafka
errors are passed on, each distinct text once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson
from confluent_kafka import KafkaError

# Connection-level errors: the broker (or all of them) cannot be reached right now.
_CONNECTION_ERRORS = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
# librdkafka's log facilities of connection failures (the same events error_cb reports).
_CONNECTION_FACILITIES = frozenset({"FAIL", "ERROR"})
STATS_INTERVAL_MS = 1000


class OutageReporter:
    """The producer's error_cb, stats_cb and logger in one: `say` gets each line to show."""

    def __init__(self, say: Callable[[str], None], delivery_timeout: float) -> None:
        self.say = say
        self.delivery_timeout = delivery_timeout
        self.down_since: float | None = None
        self.outages = 0
        self.suppressed = 0
        self._shown: set[str] = set()
        self.logger = logging.getLogger(f"kcb.restore.librdkafka.{id(self)}")
        self.logger.propagate = False
        self.logger.addHandler(_Forward(self))

    def producer_config(self) -> dict[str, object]:
        return {
            "error_cb": self.on_error,
            "stats_cb": self.on_stats,
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "logger": self.logger,
        }

    def on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._connection_lost("no broker answers")
        elif error.code() in _CONNECTION_ERRORS:
            self._connection_lost(error.str())
        else:
            self._once(f"Kafka error: {error.str()}")

    def on_log(self, facility: str, text: str) -> None:
        if facility in _CONNECTION_FACILITIES:
            # The same event reaches on_error, which reports the outage once.
            return
        self._once(f"librdkafka: {text}")

    def on_stats(self, stats_json: str) -> None:
        if self.down_since is None:
            return
        brokers = orjson.loads(stats_json).get("brokers", {})
        # The bootstrap entry never becomes UP once the real broker connections exist.
        if any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in brokers.values()):
            self.recovered()

    def recovered(self) -> None:
        """Kafka answers again (seen in the statistics, or by the count after the send)."""
        if self.down_since is None:
            return
        seconds = time.monotonic() - self.down_since
        repeated = f"; {self.suppressed} repeated connection errors not shown"
        self.say(
            f"restore.py: Kafka reachable again after {seconds:.0f}s"
            + (repeated if self.suppressed else "")
        )
        self.down_since = None
        self.suppressed = 0

    def _connection_lost(self, text: str) -> None:
        if self.down_since is not None:
            self.suppressed += 1
            return
        self.down_since = time.monotonic()
        self.outages += 1
        self.say(
            f"restore.py: Kafka unreachable ({text}); retrying: a record not delivered "
            f"within the delivery timeout ({self.delivery_timeout:.0f}s) is counted as failed"
        )

    def _once(self, line: str) -> None:
        if line not in self._shown:
            self._shown.add(line)
            self.say(f"restore.py: {line}")


class _Forward(logging.Handler):
    """librdkafka's log lines arrive as `FAC [client] [thread]: text` log records."""

    def __init__(self, reporter: OutageReporter) -> None:
        super().__init__()
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        facility, _, text = record.getMessage().partition(" ")
        self.reporter.on_log(facility, text)
