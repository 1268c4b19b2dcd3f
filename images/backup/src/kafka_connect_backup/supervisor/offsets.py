"""What a cycle records about each stop, with bounded timeouts (one Admin client is kept for all
cycles, so its connections and metadata stay warm; it is dropped after a failure and not asked
while no server accepts a connection):

- each sink connector's committed offsets, read in the connector's own stop window
  (`sink_offsets`): a stopped sink has written exactly the records before them, so they go
  into the snapshot's completeness marker and `kcb snapshots verify --deep` can compare a
  topic's line count in alpha.0 with them;
- per topic, its metadata file in the sink directory (`record`; kafka/topic_metadata.py: partitions,
  replication factor, non-default configs, every consumer group's committed offsets, the
  sink's as read at its stop), so the snapshot taken next holds it beside the sink files.
  Only the sink's own offsets need the connector stopped: the rest is read once per cycle.

Best effort, by choice: the records are the backup, and a snapshot without fresh metadata
still restores them, so Kafka not answering (or a metadata file that cannot be written) is a
warning in the log and costs only this cycle's metadata (the previous cycle's file, with its
own time, stays), never the backup."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from kafka_connect_backup.config import Config
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata, write_metadata
from kafka_connect_backup.layout.sinkfiles import connector_name, consumer_group
from kafka_connect_backup.layout.snapshot_status import Committed
from kafka_connect_backup.supervisor.kafka_outage import KafkaOutage

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

    def __init__(
        self, config: Config, timeout: float = 10.0, outage: KafkaOutage | None = None
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._admin: KafkaAdmin | None = None
        self.outage = outage or KafkaOutage(None)

    def _client(self) -> KafkaAdmin | None:
        """The kept Admin client, made when needed; None (reported) when Kafka cannot answer.
        Every use probes the servers first: with the broker gone, a kept client would wait its
        whole timeout in each connector's stop window (10 s of Connect down per connector)."""
        connection = self.config.kafka.connection()
        bootstrap = connection.bootstrap
        if not _listening(bootstrap):
            self._admin = None
            exc = KafkaCheckError(f"no Kafka server listens at {bootstrap}")
            self.outage.failed(exc, "record_offsets", NOT_RECORDED)
            log.warning("cycle.offsets_not_recorded", error=str(exc), note=NOT_RECORDED)
            return None
        if self._admin is not None:
            return self._admin
        try:
            admin = KafkaAdmin(connection, timeout=self.timeout)
            admin.check_reachable()
        except KafkaCheckError as exc:
            self.outage.failed(exc, "record_offsets", NOT_RECORDED)
            log.warning("cycle.offsets_not_recorded", error=str(exc), note=NOT_RECORDED)
            return None
        self._admin = admin
        return admin

    def sink_offsets(self, topic: str) -> dict[int, int] | None:
        """The topic's sink group's committed offsets (call while its connector is stopped);
        None when Kafka cannot tell."""
        admin = self._client()
        if admin is None:
            return None
        group = consumer_group(topic, self.config.sink_name)
        try:
            return admin.group_offsets(group, topic)
        except (KafkaCheckError, KafkaException) as exc:
            self._admin = None  # a fresh client next time (a restarted broker)
            if isinstance(exc, KafkaException):
                exc = admin.refused(exc, f"reading group {group}'s offsets")
            self.outage.failed(exc, "record_offsets", NOT_RECORDED)
            log.warning(
                "cycle.offsets_not_recorded", topic=topic, error=str(exc), note=NOT_RECORDED
            )
            return None

    def record(self, at_stop: dict[str, dict[int, int]] | None = None) -> Committed | None:
        """Write every topic's metadata file; return the sinks' committed offsets, or None when
        Kafka cannot tell. `at_stop`: topic -> the sink's offsets read in its stop window
        (the connectors run again meanwhile, so their groups have moved on); without it, every
        connector is taken to be stopped now."""
        topics = list(self.config.topics)
        admin = self._client()
        if admin is None:
            return None
        try:
            shapes = admin.describe_topics(topics)
            for topic, info in shapes.items():
                if info is None:  # hidden by a missing ACL, or really gone
                    admin.check_access(topic, ("Read", "DescribeConfigs"), doing=NOT_RECORDED)
            counts = {t: info.partitions for t, info in shapes.items() if info is not None}
            offsets = admin.committed_on_topics(topics, counts)
        except (KafkaCheckError, KafkaException) as exc:
            self._admin = None  # a fresh client next cycle
            if isinstance(exc, KafkaException):
                exc = admin.refused(exc, "reading the topics' metadata and groups")
            self.outage.failed(exc, "record_offsets", NOT_RECORDED)
            log.warning("cycle.offsets_not_recorded", error=str(exc), note=NOT_RECORDED)
            return None
        self.outage.answered()
        if at_stop is not None:
            for topic in topics:
                group = consumer_group(topic, self.config.sink_name)
                offsets.setdefault(topic, {}).pop(group, None)
                if at_stop.get(topic):
                    offsets[topic][group] = at_stop[topic]
        return _write(self.config, shapes, offsets)


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
