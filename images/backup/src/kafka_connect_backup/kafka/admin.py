"""Kafka Admin API calls of a restore: reachability, topic describe / delete / create, and
resetting a consumer group to the earliest offsets (what the original runbook did with
kafka-topics.sh --zookeeper and kafka-consumer-groups.sh)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from kafka_connect_backup.core.exit_codes import EXIT_UNREACHABLE, RestoreError
from kafka_connect_backup.kafka.client import (
    CAUSE_ACL,
    CAUSE_AUTH,
    CAUSE_TLS,
    CAUSE_UNREACHABLE,
    Diagnosis,
    KafkaConnection,
    KafkaSecurityError,
    diagnose,
    probe,
)

# Kafka's default largest record batch (broker message.max.bytes, topic max.message.bytes).
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
# Consumer groups whose committed offsets are read at once (one short-lived handle each).
_GROUPS_AT_ONCE = 8

# librdkafka logs every refused connection; restore reports one clear error of its own instead.
_quiet = logging.getLogger("kcb.restore.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaCheckError(RestoreError):
    """Kafka is unreachable, refuses this client (credentials, TLS, an ACL), or the topic is
    not what the restore needs (exit code 3). `cause`: the supervisor's metric label."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, message: str, *, cause: str = CAUSE_UNREACHABLE) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replication_factor: int
    # Topic-level overrides (retention.ms, cleanup.policy, ...) to carry over on re-creation.
    configs: dict[str, str] = field(default_factory=dict)


class KafkaAdmin:
    """The package's Admin client (and the group-offset reads beside it), made from the one
    client configuration (client.KafkaConnection)."""

    def __init__(self, connection: KafkaConnection, timeout: float = 15.0) -> None:
        self.connection = connection
        self.bootstrap = connection.bootstrap
        self.timeout = timeout
        # What librdkafka reported on its own (a refused login, a failed TLS handshake): a
        # request that merely timed out is explained by these.
        self.reported: deque[KafkaError] = deque(maxlen=20)
        self.admin = AdminClient(self._settings())

    def _settings(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self.connection.settings(
                {
                    "logger": _quiet,
                    # Its failures are raised as errors; its log lines (reconnects) only add noise.
                    "log_level": 2,
                    "log.connection.close": False,
                    "error_cb": self.reported.append,
                    **(extra or {}),
                }
            )
        except KafkaSecurityError as exc:
            cause = CAUSE_TLS if "certificate" in str(exc) else CAUSE_AUTH
            raise KafkaCheckError(f"{exc}; nothing was sent", cause=cause) from None

    def diagnosis(self, *errors: KafkaError | KafkaException) -> Diagnosis | None:
        """Why Kafka refuses this client, from `errors` and what librdkafka reported."""
        self.admin.poll(0)  # serves error_cb
        return diagnose(self.connection, [*errors, *reversed(self.reported)])

    def refused(self, exc: KafkaException, doing: str) -> KafkaCheckError:
        """`exc` of a request `doing` something, as the error to show: the diagnosis (a
        refused login, TLS, a missing ACL) when there is one."""
        found = self.diagnosis(exc)
        if found is not None:
            return KafkaCheckError(f"{doing}: {found.message}", cause=found.cause)
        return KafkaCheckError(f"{doing}: Kafka at {self.bootstrap} answered {_reason(exc)}")

    def check_reachable(self) -> None:
        """Kafka answers this client (its credentials, TLS and at least one topic or cluster
        permission accepted). A refused login or TLS handshake fails at once, by name."""
        deadline = time.monotonic() + self.timeout
        probed = False
        while True:
            try:
                self.admin.list_topics(timeout=min(1.0, self.timeout))
                return
            except KafkaException as exc:
                found = self.diagnosis(exc)
                if found is None and not probed:
                    probed, found = True, probe(self.connection)
                if found is not None:
                    raise KafkaCheckError(
                        f"{found.message}; nothing was sent", cause=found.cause
                    ) from None
                if time.monotonic() >= deadline:
                    raise KafkaCheckError(
                        f"cannot reach Kafka at {self.bootstrap} within {self.timeout:.0f}s "
                        f"({_reason(exc)}): check the server name and port; nothing was sent"
                    ) from None

    def check_access(
        self,
        topic: str,
        operations: Iterable[str],
        *,
        create: bool = False,
        groups: Iterable[str] = (),
        doing: str = "nothing was sent",
    ) -> None:
        """Refuse, before anything changes, when this client may not do `operations` (Kafka's
        names: Describe, Write, Read, Delete, DescribeConfigs) on `topic`, Create it (`create`:
        on the topic or the cluster) or Read `groups`: one line naming every missing ACL."""
        missing: list[tuple[str, str, str]] = []  # (operation, resource type, name)
        allowed = self._authorized_topic(topic)
        if allowed is not None:
            missing += [(op, "topic", topic) for op in operations if op not in allowed]
            if create and "Create" not in allowed and "Create" not in self._authorized_cluster():
                missing.append(("Create", "topic", topic))
        for group in groups:
            if "Read" not in self._authorized_group(group):
                missing.append(("Read", "group", group))
        if missing:
            raise self.not_allowed(missing, doing)

    def not_allowed(self, missing: list[tuple[str, str, str]], doing: str = "") -> KafkaCheckError:
        denied = "; ".join(f"{op} on {kind} {name}" for op, kind, name in missing)
        return KafkaCheckError(
            f"Kafka at {self.bootstrap} does not allow {self.connection.security.describe()} "
            f"{denied}: {self._grant_hint(missing)}" + (f"; {doing}" if doing else ""),
            cause=CAUSE_ACL,
        )

    def denied(self, exc: KafkaException, operation: str, kind: str, name: str) -> Exception:
        """`exc` as the missing ACL it means (an authorization failure), else as it is."""
        if _code(exc).endswith("_AUTHORIZATION_FAILED"):
            return self.not_allowed([(operation, kind, name)])
        return exc

    def _authorized_topic(self, topic: str) -> set[str] | None:
        """The operations allowed on `topic` (None: it does not exist, nothing to check)."""
        request = TopicCollection([topic])
        try:
            found = self.admin.describe_topics(
                request, include_authorized_operations=True, request_timeout=self.timeout
            )[topic].result(self.timeout)
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args else None
            if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                return set()
            raise self.refused(exc, f"describing topic {topic}") from None
        return _names(found.authorized_operations)

    def _authorized_cluster(self) -> set[str]:
        try:
            found = self.admin.describe_cluster(
                include_authorized_operations=True, request_timeout=self.timeout
            ).result(self.timeout)
        except KafkaException as exc:
            raise self.refused(exc, "describing the cluster") from None
        return _names(found.authorized_operations)

    def _authorized_group(self, group: str) -> set[str]:
        found = self._describe_group(group, authorized_operations=True)
        return set() if found is None else _names(found.authorized_operations)

    def _grant_hint(self, missing: list[tuple[str, str, str]]) -> str:
        security = self.connection.security
        who = f"User:{security.username}" if security.username else "User:<its principal>"
        op, kind, name = missing[0]
        more = " (and likewise for the others)" if len(missing) > 1 else ""
        return (
            f"grant it, e.g. kafka-acls --bootstrap-server {self.bootstrap} --add "
            f"--allow-principal {who} --operation {op} --{kind} {name}{more} (the chart "
            "README's 'Kafka ACLs' lists what each command needs)"
        )

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
            except KafkaException as exc:
                # A missing DescribeConfigs must be named, not lose the configs silently (a
                # re-created topic would come back without them).
                if _code(exc) == "TOPIC_AUTHORIZATION_FAILED":
                    raise self.denied(exc, "DescribeConfigs", "topic", resource.name) from None
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
                raise self.denied(exc, "Delete", "topic", topic) from None
        self._wait(lambda: topic not in self.topics(), wait, f"topic {topic} still listed")

    def refuses_creation(self, info: TopicInfo) -> str | None:
        """Why the cluster would not create the topic as `info` says (a config it does not
        know, e.g. one of an older Kafka version; too many replicas), asked with a validate-only
        request, or None. None too when the topic exists or the answer is about access
        (check_access says that)."""
        new = NewTopic(
            info.name,
            num_partitions=info.partitions,
            replication_factor=info.replication_factor,
            config=dict(info.configs),
        )
        try:
            self.admin.create_topics([new], validate_only=True, operation_timeout=self.timeout)[
                info.name
            ].result(self.timeout)
        except KafkaException as exc:
            code = _code(exc)
            if "TOPIC_ALREADY_EXISTS" in code or "AUTHORIZATION" in code:
                return None
            return _reason(exc)
        return None

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
                raise self.denied(exc, "Create", "topic", info.name) from None
        self.wait_for_leaders(info.name, wait)

    def wait_for_leaders(self, topic: str, wait: float = 60.0) -> int:
        """Wait until every partition of `topic` has a leader that answers for it (a new
        topic's partitions may have none yet when create_topics returns: a produce or an
        offsets request would fail NOT_LEADER_FOR_PARTITION); returns the partition count."""
        deadline = time.monotonic() + wait
        while True:
            problem, partitions = self._leaderless(topic)
            if problem is None:
                return partitions
            if time.monotonic() >= deadline:
                raise KafkaCheckError(
                    f"topic {topic}: {problem} {wait:.0f}s after it was created: the brokers "
                    "may be overloaded or restarting; run the command again once `kafka-topics "
                    f"--describe --topic {topic}` shows a leader for every partition"
                )
            time.sleep(0.2)

    def _leaderless(self, topic: str) -> tuple[str | None, int]:
        try:
            found = self.admin.list_topics(timeout=self.timeout).topics.get(topic)
        except KafkaException as exc:
            return f"no metadata ({_reason(exc)})", 0
        if found is None or found.error is not None or not found.partitions:
            return "not visible yet", 0
        without = sorted(p.id for p in found.partitions.values() if p.leader < 0 or p.error)
        if without:
            return f"partitions {_ranges(without)} have no leader", 0
        count = len(found.partitions)
        try:  # the leaders answer for their partitions
            self.latest_offsets(topic, count)
        except KafkaException as exc:
            return f"leaders not answering yet ({_reason(exc)})", 0
        return None, count

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
        consumer = Consumer(self._settings({"group.id": group, "enable.auto.commit": False}))
        try:
            answered = consumer.committed(wanted, timeout=self.timeout)
        except KafkaException as exc:
            raise self.denied(exc, "Describe", "group", group) from None
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

    def active_members(self, groups: Iterable[str]) -> dict[str, list[str]]:
        """The client ids of the members of each group that has any (a group being changed
        must have none: its consumers would commit over the change, or read again)."""
        wanted = sorted(set(groups))
        if not wanted:
            return {}
        found: dict[str, list[str]] = {}
        for group in wanted:
            described = self._describe_group(group)
            members = sorted(str(m.client_id) for m in described.members or ())
            if members:
                found[group] = members
        return found

    def _describe_group(self, group: str, *, authorized_operations: bool = False) -> Any:
        """A group's description (None: describing it is not allowed, when its authorized
        operations are asked for); a coordinator still loading (a broker just started) is
        waited for, up to the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.admin.describe_consumer_groups(
                    [group],
                    include_authorized_operations=authorized_operations,
                    request_timeout=self.timeout,
                )[group].result(self.timeout)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                code = error.code() if error is not None else None
                if authorized_operations and code == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    return None
                retriable = error is not None and error.retriable()
                if not retriable or time.monotonic() >= deadline:
                    raise self.refused(exc, f"describing group {group}") from None
                time.sleep(0.5)

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


def _names(operations: Iterable[AclOperation] | None) -> set[str]:
    """AclOperation.DESCRIBE_CONFIGS -> 'DescribeConfigs' (the names kafka-acls uses)."""
    return {op.name.title().replace("_", "") for op in operations or ()}


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _code(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    name = getattr(error, "name", None)
    return str(name() if callable(name) else error)


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    text = getattr(error, "str", None)
    return str(text() if callable(text) else exc)
