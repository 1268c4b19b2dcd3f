"""Kafka Admin API calls of a restore: reachability, topic describe / delete / create, and
resetting a consumer group to the earliest offsets (what the original runbook did with
kafka-topics.sh --zookeeper and kafka-consumer-groups.sh)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from kafka_connect_backup.restore.errors import EXIT_UNREACHABLE, RestoreError

DEFAULT_PORT = 9092
# Kafka's default largest record batch (broker message.max.bytes, topic max.message.bytes).
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
# Consumer groups whose committed offsets are read at once (one short-lived handle each).
_GROUPS_AT_ONCE = 8

# librdkafka logs every refused connection; restore reports one clear error of its own instead.
_quiet = logging.getLogger("kcb.restore.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaCheckError(RestoreError):
    """Kafka is unreachable or the topic is not what the restore needs (exit code 3)."""

    exit_code = EXIT_UNREACHABLE


def bootstrap_servers(server: str) -> str:
    """The original's `kafka_server`: a host without a port means port 9092 (also in lists)."""
    hosts = []
    for host in (part.strip() for part in server.split(",")):
        if not host:
            raise ValueError(f"{server!r} is not a Kafka server: use host or host:port")
        if host.startswith("["):  # [IPv6] or [IPv6]:port
            hosts.append(host if "]:" in host else f"{host}:{DEFAULT_PORT}")
        elif ":" in host:
            port = host.rsplit(":", 1)[1]
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{host!r} has a bad port: use host or host:port (port 1-65535)")
            hosts.append(host)
        else:
            hosts.append(f"{host}:{DEFAULT_PORT}")
    return ",".join(hosts)


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replication_factor: int
    # Topic-level overrides (retention.ms, cleanup.policy, ...) to carry over on re-creation.
    configs: dict[str, str] = field(default_factory=dict)


class KafkaAdmin:
    def __init__(self, bootstrap: str, timeout: float = 15.0) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "logger": _quiet,
            # Its failures are raised as errors; its log lines (reconnects) only add noise.
            "log_level": 2,
            "log.connection.close": False,
        }
        self.admin = AdminClient(config)

    def check_reachable(self) -> None:
        try:
            self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise KafkaCheckError(
                f"cannot reach Kafka at {self.bootstrap} within {self.timeout:.0f}s "
                f"({_reason(exc)}): check the server name and port; nothing was sent"
            ) from None

    def topics(self) -> set[str]:
        metadata = self.admin.list_topics(timeout=self.timeout)
        return set(metadata.topics)

    def describe(self, topic: str, *, configs: bool = True) -> TopicInfo | None:
        return self.describe_topics([topic], configs=configs)[topic]

    def describe_topics(
        self, topics: list[str], *, configs: bool = True
    ) -> dict[str, TopicInfo | None]:
        """Each topic's shape (None: it does not exist), in one metadata request and one
        describe-configs request for them all."""
        # All topics, not list_topics(topic=...): asking for one topic by name can auto-create
        # it on a cluster with auto.create.topics.enable, and "unknown topic" must stay unknown.
        metadata = self.admin.list_topics(timeout=self.timeout)
        shapes: dict[str, tuple[int, int]] = {}
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                replicas = max(len(p.replicas) for p in found.partitions.values())
                shapes[topic] = (len(found.partitions), replicas)
        overrides = self._overrides(list(shapes)) if configs and shapes else {}
        return {
            topic: None
            if topic not in shapes
            else TopicInfo(topic, *shapes[topic], overrides.get(topic, {}))
            for topic in topics
        }

    def _overrides(self, topics: list[str]) -> dict[str, dict[str, str]]:
        resources = [ConfigResource(ResourceType.TOPIC, topic) for topic in topics]
        futures = self.admin.describe_configs(resources, request_timeout=self.timeout)
        dynamic = 1  # ConfigSource.DYNAMIC_TOPIC_CONFIG
        found: dict[str, dict[str, str]] = {}
        for resource, future in futures.items():
            try:
                entries = future.result(self.timeout)
            except KafkaException:
                continue
            found[resource.name] = {
                name: entry.value
                for name, entry in entries.items()
                if getattr(entry.source, "value", entry.source) == dynamic
                and entry.value is not None
            }
        return found

    def max_message_bytes(self, topic: str) -> int:
        """The largest record batch `topic` accepts (its max.message.bytes, as set or
        inherited); for a topic not created yet, the broker's message.max.bytes it will get."""
        metadata = self.admin.list_topics(timeout=self.timeout)
        if topic in metadata.topics:
            resource, name = ConfigResource(ResourceType.TOPIC, topic), "max.message.bytes"
        elif metadata.brokers:
            broker = str(min(metadata.brokers))
            resource, name = ConfigResource(ResourceType.BROKER, broker), "message.max.bytes"
        else:
            return DEFAULT_MAX_MESSAGE_BYTES
        try:
            entries = self.admin.describe_configs([resource])[resource].result(self.timeout)
            return int(entries[name].value)
        except (KafkaException, KeyError, TypeError, ValueError):
            return DEFAULT_MAX_MESSAGE_BYTES

    def delete(self, topic: str, wait: float = 60.0) -> None:
        try:
            self.admin.delete_topics([topic], operation_timeout=wait)[topic].result(wait)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in _code(exc):
                raise
        self._wait(lambda: topic not in self.topics(), wait, f"topic {topic} still listed")

    def create(self, info: TopicInfo, wait: float = 60.0) -> None:
        new = NewTopic(
            info.name,
            num_partitions=info.partitions,
            replication_factor=info.replication_factor,
            config=dict(info.configs),
        )
        deadline = time.monotonic() + wait
        while True:
            try:
                self.admin.create_topics([new], operation_timeout=wait)[info.name].result(wait)
                break
            except KafkaException as exc:
                code = _code(exc)
                if "TOPIC_ALREADY_EXISTS" in code and self.describe(info.name) is not None:
                    break
                # Deletion is asynchronous: creating too soon answers "marked for deletion".
                if "TOPIC_ALREADY_EXISTS" in code and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise
        self._wait(lambda: self.describe(info.name) is not None, wait, f"{info.name} not visible")

    def _offsets(self, topic: str, partitions: int, spec: OffsetSpec) -> list[TopicPartition]:
        request = {TopicPartition(topic, p): spec for p in range(partitions)}
        results = self.admin.list_offsets(request, request_timeout=self.timeout)
        found = [
            TopicPartition(topic, tp.partition, result.result(self.timeout).offset)
            for tp, result in results.items()
        ]
        return sorted(found, key=lambda tp: tp.partition)

    def earliest_offsets(self, topic: str, partitions: int) -> list[TopicPartition]:
        return self._offsets(topic, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]

    def latest_offsets(self, topic: str, partitions: int) -> list[TopicPartition]:
        return self._offsets(topic, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]

    def committed_on(self, topic: str) -> dict[str, dict[int, int]]:
        """Every consumer group with a committed offset on `topic`: group -> partition ->
        offset."""
        return self.committed_on_topics([topic]).get(topic, {})

    def committed_on_topics(
        self, topics: list[str], partitions: dict[str, int] | None = None
    ) -> dict[str, dict[str, dict[int, int]]]:
        """topic -> group -> partition -> offset, for every group with a committed offset on
        one of `topics` (`partitions`: topic -> its partition count, if known). The groups
        are asked a few at a time."""
        listing = self.admin.list_consumer_groups(request_timeout=self.timeout).result(self.timeout)
        groups = sorted(g.group_id for g in listing.valid)
        if partitions is None:
            shapes = self.describe_topics(topics, configs=False)
            partitions = {t: info.partitions for t, info in shapes.items() if info is not None}
        wanted = {t: n for t, n in partitions.items() if t in set(topics)}
        with ThreadPoolExecutor(max_workers=_GROUPS_AT_ONCE) as pool:
            answers = list(pool.map(lambda group: self._committed(group, wanted), groups))
        found: dict[str, dict[str, dict[int, int]]] = {}
        for group, by_topic in zip(groups, answers, strict=True):
            for topic, offsets in by_topic.items():
                found.setdefault(topic, {})[group] = offsets
        return found

    def group_offsets(
        self, group: str, topic: str, partitions: int | None = None
    ) -> dict[int, int]:
        """One group's committed offsets on `topic`: partition -> offset (none: {})."""
        if partitions is None:
            info = self.describe(topic, configs=False)
            if info is None:
                return {}
            partitions = info.partitions
        return self._committed(group, {topic: partitions}).get(topic, {})

    def _committed(self, group: str, partitions: dict[str, int]) -> dict[str, dict[int, int]]:
        """The group's committed offsets on these topics' partitions, read by a consumer
        handle of the group that never joins it. Not the Admin API's ListConsumerGroupOffsets:
        librdkafka crashes the process (SIGSEGV in rd_kafka_cgrp_op) when a coordinator answers
        it NOT_COORDINATOR, as one does while it loads or moves (librdkafka #5040, open; seen
        here at a broker's first groups); a consumer looks its coordinator up again."""
        wanted = [TopicPartition(t, p) for t, count in partitions.items() for p in range(count)]
        if not wanted:
            return {}
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "logger": _quiet,
                "log_level": 2,
                "log.connection.close": False,
            }
        )
        try:
            answered = consumer.committed(wanted, timeout=self.timeout)
        finally:
            consumer.close()
        found: dict[str, dict[int, int]] = {}
        for tp in answered:
            if tp.error is None and tp.offset >= 0:
                found.setdefault(tp.topic, {})[tp.partition] = tp.offset
        return found

    def set_group_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        """Commit `offsets` (partition -> offset) of `topic` for `group` (which must have no
        active members)."""
        request = [
            ConsumerGroupTopicPartitions(
                group, [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())]
            )
        ]
        self.admin.alter_consumer_group_offsets(request)[group].result(self.timeout)

    def reset_group(self, group: str, topic: str, partitions: int) -> list[TopicPartition]:
        """Commit the earliest offset of every partition of `topic` for `group` (which must
        have no active members: its connector stopped)."""
        offsets = self.earliest_offsets(topic, partitions)
        request = [ConsumerGroupTopicPartitions(group, offsets)]
        self.admin.alter_consumer_group_offsets(request)[group].result(self.timeout)
        return offsets

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise KafkaCheckError(f"timed out after {timeout:.0f}s: {what}")
            time.sleep(0.2)


def _code(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    name = getattr(error, "name", None)
    return str(name() if callable(name) else error)


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    text = getattr(error, "str", None)
    return str(text() if callable(text) else exc)
