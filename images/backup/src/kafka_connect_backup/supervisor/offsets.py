"""What a cycle records while the connectors are stopped, with bounded timeouts (Connect is
down meanwhile; one Admin client is kept for all cycles, so its connections and metadata stay
warm, and every group's offsets are asked for at once):

- per topic, its metadata file in the sink directory (topic_metadata.py: partitions,
  replication factor, non-default configs, every consumer group's committed offsets), so the
  snapshot taken next holds it beside the topic's sink files;
- the sink connectors' committed offsets, for the snapshot's completeness marker: a stopped
  sink has written exactly the records before them, so `kcb snapshots verify --deep` can
  compare a topic's line count in alpha.0 with them.

Best effort, by choice: the records are the backup, and a snapshot without fresh metadata
still restores them, so Kafka not answering (or a metadata file that cannot be written) is a
warning in the log and costs only this cycle's metadata (the previous cycle's file, with its
own time, stays), never the backup."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from kafka_connect_backup.config import Config
from kafka_connect_backup.logs import get_logger
from kafka_connect_backup.restore.kafkaops import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.sinkfiles import connector_name, consumer_group
from kafka_connect_backup.snapshot_status import Committed
from kafka_connect_backup.topic_metadata import TopicMetadata, write_metadata

log = get_logger(__name__)

NOT_RECORDED = (
    "this snapshot keeps the previous cycle's topic metadata files (each says when it was "
    "read), and snapshots verify --deep cannot compare its line counts"
)


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


class StopRecorder:
    """Records the stop of each cycle (one per Cycle, so for the daemon's lifetime)."""

    def __init__(self, config: Config, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout
        self._admin: KafkaAdmin | None = None

    def record(self) -> Committed | None:
        """Write every topic's metadata file; return each sink group's committed offsets, or
        None when Kafka cannot tell."""
        config = self.config
        bootstrap = config.kafka.bootstrap_servers
        if not _listening(bootstrap):
            log.warning(
                "cycle.offsets_not_recorded",
                error=f"no Kafka server listens at {bootstrap}",
                note=NOT_RECORDED,
            )
            return None
        topics = list(config.topics)
        try:
            if self._admin is None:
                admin = KafkaAdmin(bootstrap, timeout=self.timeout)
                admin.check_reachable()
                self._admin = admin
            shapes = self._admin.describe_topics(topics)
            offsets = self._admin.committed_on_topics(topics)
        except (KafkaCheckError, KafkaException) as exc:
            self._admin = None  # a fresh client next cycle
            log.warning("cycle.offsets_not_recorded", error=str(exc), note=NOT_RECORDED)
            return None
        return _write(config, shapes, offsets)


def record_at_stop(config: Config, timeout: float = 10.0) -> Committed | None:
    """One record with a client of its own (StopRecorder.record)."""
    return StopRecorder(config, timeout).record()


def _write(
    config: Config,
    shapes: dict[str, TopicInfo | None],
    offsets: dict[str, dict[str, dict[int, int]]],
) -> Committed:
    """The metadata files (a file that cannot be written is a warning), and the sinks' offsets."""
    topics = list(config.topics)
    now = datetime.now(UTC)
    for topic in topics:
        info = shapes[topic]
        if info is None:
            log.warning("cycle.topic_metadata_not_recorded", topic=topic, error="no such topic")
            continue
        metadata = TopicMetadata(
            topic,
            now,
            info.partitions,
            info.replication_factor,
            info.configs,
            offsets.get(topic, {}),
        )
        try:
            write_metadata(config.sink_path, config.sink_name, metadata)
        except OSError as exc:
            log.warning(
                "cycle.topic_metadata_not_recorded",
                topic=topic,
                error=f"{exc.strerror or exc}: {exc.filename or config.sink_path}",
            )
    return {
        connector_name(topic, config.sink_name): {
            str(partition): offset
            for partition, offset in sorted(
                offsets.get(topic, {}).get(consumer_group(topic, config.sink_name), {}).items()
            )
        }
        for topic in topics
    }
