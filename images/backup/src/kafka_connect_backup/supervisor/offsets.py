"""The sink connectors' committed offsets at a cycle's stop, recorded in the snapshot's
completeness marker: a stopped sink has written exactly the records before them, so
`kcb snapshots verify --deep` can compare a topic's line count in alpha.0 with them.

Best effort: Kafka not answering costs the comparison, never the backup."""

from __future__ import annotations

import socket

from confluent_kafka import KafkaException

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


def committed_at_stop(config: Config, timeout: float = 10.0) -> Committed | None:
    """Each topic's sink group's committed offsets, or None when Kafka cannot tell."""
    bootstrap = config.kafka.bootstrap_servers
    if not _listening(bootstrap):
        log.warning(
            "cycle.offsets_not_recorded",
            error=f"no Kafka server listens at {bootstrap}",
            note="snapshots verify --deep cannot compare this snapshot's line counts",
        )
        return None
    admin = KafkaAdmin(bootstrap, timeout=timeout)
    try:
        admin.check_reachable()
        return {
            connector_name(topic, config.sink_name): {
                str(partition): offset
                for partition, offset in sorted(
                    admin.group_offsets(consumer_group(topic, config.sink_name), topic).items()
                )
            }
            for topic in config.topics
        }
    except (KafkaCheckError, KafkaException) as exc:
        log.warning(
            "cycle.offsets_not_recorded",
            error=str(exc),
            note="snapshots verify --deep cannot compare this snapshot's line counts",
        )
        return None
