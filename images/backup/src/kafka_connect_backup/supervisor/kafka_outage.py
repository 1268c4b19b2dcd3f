"""The supervisor's Kafka access (the metadata and offsets read at each stop, the lag metrics):
one log event and one count on kcb_failures{cause} when it stops working, and one when it
works again, instead of a warning at every attempt or librdkafka's own stream of lines.

Causes: kafka_auth (credentials refused), kafka_tls (handshake, CA, host name), kafka_acl (a
permission missing), kafka_unreachable (no answer)."""

from __future__ import annotations

import threading

from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.kafka.admin import KafkaCheckError
from kafka_connect_backup.supervisor.metrics import Metrics

log = get_logger(__name__)


class KafkaOutage:
    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics
        self.cause: str | None = None  # the current outage's, None while Kafka answers
        self._lock = threading.Lock()  # the cycle and the daemon's observer both report

    def failed(self, exc: KafkaCheckError, step: str, note: str = "") -> None:
        with self._lock:
            if exc.cause == self.cause:
                return
            self.cause = exc.cause
        log.error("kafka.unavailable", cause=exc.cause, step=step, error=str(exc), note=note)
        if self.metrics is not None:
            self.metrics.failures.labels(cause=exc.cause, step=step).inc()

    def answered(self) -> None:
        with self._lock:
            cause, self.cause = self.cause, None
        if cause is not None:
            log.info("kafka.available", after=cause)
