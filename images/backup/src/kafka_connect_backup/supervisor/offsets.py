"""The sink connectors' committed offsets at a cycle's stop, recorded in the snapshot's
completeness marker: a stopped sink has written exactly the records before them, so
`kcb snapshots verify --deep` can compare a topic's line count in alpha.0 with them.

They are read while Connect is stopped, so the read is on Connect's downtime: one Admin client
is kept for all cycles (its connections and metadata stay warm) and every group's offsets are
asked for at once, so the read costs about one round trip whatever the number of topics.

Best effort: Kafka not answering costs the comparison, never the backup."""

from __future__ import annotations

import socket

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

from kafka_connect_backup.config import Config
from kafka_connect_backup.logs import get_logger
from kafka_connect_backup.restore.kafkaops import KafkaAdmin, KafkaCheckError
from kafka_connect_backup.sinkfiles import connector_name, consumer_group
from kafka_connect_backup.snapshot_status import Committed

log = get_logger(__name__)


def _listening(bootstrap: str) -> bool:
    """Whether any bootstrap server accepts a TCP connection (a refused port answers at once,
    where the Admin client would wait its whole timeout while Connect stays stopped)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        except (OSError, ValueError):
            continue
        return True
    return False


class CommittedOffsets:
    """Reads each topic's sink group's committed offsets; one per Cycle (daemon lifetime)."""

    def __init__(self, config: Config, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout
        self._admin: KafkaAdmin | None = None

    def at_stop(self) -> Committed | None:
        """Connector -> partition -> offset, or None when Kafka cannot tell."""
        bootstrap = self.config.kafka.bootstrap_servers
        if not _listening(bootstrap):
            self._not_recorded(f"no Kafka server listens at {bootstrap}")
            return None
        try:
            if self._admin is None:
                admin = KafkaAdmin(bootstrap, timeout=self.timeout)
                admin.check_reachable()
                self._admin = admin
            return self._read(self._admin)
        except (KafkaCheckError, KafkaException) as exc:
            self._admin = None  # a fresh client next cycle
            self._not_recorded(str(exc))
            return None

    def _read(self, admin: KafkaAdmin) -> Committed:
        topics = list(self.config.topics)
        groups = {topic: consumer_group(topic, self.config.sink_name) for topic in topics}
        # The Admin API lists one group per request: send them all, then wait.
        futures = {
            topic: admin.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(groups[topic])], request_timeout=self.timeout
            )[groups[topic]]
            for topic in topics
        }
        committed: Committed = {}
        for topic in topics:
            listed = futures[topic].result(self.timeout)
            offsets = {
                tp.partition: tp.offset
                for tp in listed.topic_partitions or []
                if tp.topic == topic and tp.offset >= 0
            }
            committed[connector_name(topic, self.config.sink_name)] = {
                str(partition): offset for partition, offset in sorted(offsets.items())
            }
        return committed

    def _not_recorded(self, error: str) -> None:
        log.warning(
            "cycle.offsets_not_recorded",
            error=error,
            note="snapshots verify --deep cannot compare this snapshot's line counts",
        )
