"""Restore drills: prove that the newest snapshot restores, by restoring part of it.

For each topic: every sink file of the topic in the snapshot (the newest complete one of any
level, or the one given) is read through the restore pipeline's own scan
(`sources.from_snapshot`, `plan.scan`: readable, UTF-8), the newest
N complete lines are taken as the sample, a scratch topic `kcb-drill-{topic}-{epoch}` (one
partition) is created, the sample is produced into it by restore's producer and read back by a
consumer, and the count and a sha256 of the values in order are compared with the sample's.
The scratch topic is deleted at the end, whatever happened. The encrypted backup is mounted
privately once for all topics (`backup_mount.snapshot_access`), as `kcb snapshots` does.

A drill never touches the topics themselves, their consumer groups or Connect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from kafka_connect_backup.config import Config
from kafka_connect_backup.core.exit_codes import EXIT_INVALID, RestoreError
from kafka_connect_backup.core.units import took
from kafka_connect_backup.kafka.admin import (
    KafkaAdmin,
    KafkaCheckError,
    TopicInfo,
)
from kafka_connect_backup.kafka.client import KafkaConnection
from kafka_connect_backup.kafka.producer import (
    RECORD_OVERHEAD,
    RecordProducer,
    largest_record,
    size_settings,
)
from kafka_connect_backup.kafka.timefilter import MissingTimestamp, TimeFilter, TimeWindow
from kafka_connect_backup.layout.names import NEWEST_SNAPSHOT
from kafka_connect_backup.layout.sinkfiles import connector_name
from kafka_connect_backup.layout.snapshot_status import NoSnapshotChosen, choose_snapshot
from kafka_connect_backup.restore.backup_mount import snapshot_access
from kafka_connect_backup.restore.plan import FilePlan, Plan, scan
from kafka_connect_backup.restore.replay import planned_segments
from kafka_connect_backup.restore.sources import SourceError, from_snapshot, snapshot_dir

SCRATCH_PREFIX = "kcb-drill-"
# The scan keeps files up to this size in memory, so the sample is not read twice.
CACHE_BYTES = 64 << 20
DELIVERY_TIMEOUT_SECONDS = 60.0
READ_BACK_TIMEOUT_SECONDS = 120.0
MAX_TOPIC_LENGTH = 249
# Topic configs carried from the drilled topic to its scratch topic: what decides whether its
# records fit (cleanup.policy=compact is not: it refuses the keyless records a restore sends).
CARRIED_CONFIGS = ("max.message.bytes",)


class NothingToDrill(SourceError):
    """The topic's files in the snapshot hold no line at all: an idle topic, skipped (a
    scheduled drill must not alert on a healthy topic that received nothing)."""


class DrillUnavailable(RestoreError):
    """The drill could not run at all: the backup could not be mounted, the snapshot does not
    exist, or Kafka is unreachable (exit 2)."""

    exit_code = EXIT_INVALID


@dataclass
class TopicDrill:
    topic: str
    snapshot: str
    scratch: str = ""
    files: list[str] = field(default_factory=list)  # relative to the snapshot root
    read: int = 0  # complete lines in the topic's files of the snapshot
    records: int = 0  # the sample: the newest `records` of them
    read_back: int = 0
    snapshot_sha256: str = ""
    read_back_sha256: str = ""
    seconds: float = 0.0
    error: str | None = None
    skipped: str | None = None  # why nothing was drilled (an idle topic): not a failure

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def hash_match(self) -> bool:
        return bool(self.read_back_sha256) and self.snapshot_sha256 == self.read_back_sha256

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "ok": self.ok,
            "snapshot": self.snapshot,
            "scratchTopic": self.scratch,
            "files": self.files,
            "read": self.read,
            "records": self.records,
            "readBack": self.read_back,
            "snapshotSha256": self.snapshot_sha256,
            "readBackSha256": self.read_back_sha256,
            "hashMatch": self.hash_match,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "skipped": self.skipped,
        }

    def render(self) -> str:
        if self.skipped is not None:
            return f"  {self.topic}: skipped, {self.skipped} ({took(self.seconds)})"
        if self.ok:
            detail = (
                f"{self.records} records (newest of {self.read} in {len(self.files)} files) "
                f"restored and read back, sha256 {self.snapshot_sha256[:16]} matches"
            )
        else:
            detail = str(self.error)
        verdict = "passed" if self.ok else "FAILED"
        return f"  {self.topic}: {verdict}, {detail} ({took(self.seconds)})"


@dataclass
class DrillReport:
    snapshot: str
    bootstrap: str
    root: str = ""  # where alpha.N were read (a private mount point is gone afterwards)
    mounted_from: str | None = None  # the encrypted target mounted for the drill
    topics: list[TopicDrill] = field(default_factory=list)
    error: str | None = None  # the drill could not run (DrillUnavailable)
    aborted: bool = False
    seconds: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.aborted and all(t.ok for t in self.topics)

    @property
    def skipped(self) -> bool:
        """Every topic skipped (idle): the drill proved nothing, and failed nothing."""
        return self.ok and bool(self.topics) and all(t.skipped for t in self.topics)

    @property
    def result(self) -> str:
        return "skipped" if self.skipped else "passed" if self.ok else "failed"

    @property
    def first_error(self) -> str | None:
        if self.error is not None:
            return self.error
        failed = next((t for t in self.topics if not t.ok), None)
        return f"{failed.topic}: {failed.error}" if failed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": self.result,
            "snapshot": self.snapshot,
            "bootstrap": self.bootstrap,
            "snapshotRoot": self.root,
            "mountedFrom": self.mounted_from,
            "error": self.error,
            "aborted": self.aborted,
            "seconds": round(self.seconds, 3),
            "finishedAt": self.finished_at,
            "topics": [t.as_dict() for t in self.topics],
        }

    def render(self) -> str:
        where = (
            f"the encrypted backup {self.mounted_from} (mounted privately for the drill)"
            if self.mounted_from
            else self.root or "the backup"  # not reached: the mount failed
        )
        lines = [f"drill of {self.snapshot} from {where}, through Kafka at {self.bootstrap}:"]
        if self.error is not None:
            lines.append(f"  not run: {self.error}")
        lines.extend(t.render() for t in self.topics)
        passed = sum(t.ok and not t.skipped for t in self.topics)
        skipped = sum(bool(t.skipped) for t in self.topics)
        lines.append(
            f"drill {self.result.upper()}: {passed} of {len(self.topics)} topics restored exactly"
            + (f", {skipped} skipped (no record in the snapshot)" if skipped else "")
            + f" ({took(self.seconds)})"
            + (" (aborted: shutdown requested)" if self.aborted else "")
        )
        return "\n".join(lines)


def scratch_name(topic: str, epoch: int) -> str:
    """`kcb-drill-{topic}-{epoch}`, the topic part shortened to keep a legal length."""
    suffix = f"-{epoch}"
    room = MAX_TOPIC_LENGTH - len(SCRATCH_PREFIX) - len(suffix)
    return f"{SCRATCH_PREFIX}{topic[:room]}{suffix}"


def newest(plan: Plan, count: int) -> Plan:
    """The plan cut down to its last `count` planned lines (sink files are in time order)."""
    left = count
    kept: list[FilePlan] = []
    for file_plan in reversed(plan.files):
        ranges: list[tuple[int, int]] = []
        for start, end in reversed(file_plan.ranges):
            if left <= 0:
                break
            first = max(start, end - left)
            ranges.append((first, end))
            left -= end - first
        if ranges:
            kept.append(dataclasses.replace(file_plan, ranges=ranges[::-1]))
        if left <= 0:
            break
    return Plan(kept[::-1])


def sample_values(plan: Plan) -> list[bytes]:
    """The planned lines, in file order (restore's own reader of planned lines)."""
    values: list[bytes] = []
    for file_plan in plan.files:
        for segment in planned_segments(file_plan):
            values.extend(segment)
    return values


def values_sha256(values: Iterable[bytes]) -> str:
    """sha256 of the values in order, each ended by a newline (as a sink file holds them)."""
    digest = hashlib.sha256()
    for value in values:
        digest.update(value)
        digest.update(b"\n")
    return digest.hexdigest()


def read_back(
    connection: KafkaConnection, topic: str, expected: int, timeout: float
) -> list[bytes]:
    """The values of partition 0 of `topic` from its start to its end offset (`expected`
    records at least are waited for, up to `timeout`); no consumer group offset is committed."""
    consumer = Consumer(
        connection.settings(
            {
                "group.id": f"{topic}-reader",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 3,
            }
        )
    )
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while len(values) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is None:
                    values.append(message.value() or b"")
                elif error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise KafkaException(error)
    finally:
        consumer.close()
    return values


def _relative(message: str, root: Path) -> str:
    """Paths in a message relative to the snapshot root (a private mount point means nothing
    once unmounted): `alpha.0/localhost/.../orders-sink-2026-11.sink`."""
    return message.replace(f"{root}/", "")


def first_difference(expected: Sequence[bytes], got: Sequence[bytes]) -> int:
    """Index of the first value that differs (the shorter length when one is a prefix)."""
    pairs = enumerate(zip(expected, got, strict=False))
    return next((i for i, (a, b) in pairs if a != b), min(len(expected), len(got)))


class _TopicRun:
    """One topic's drill, in the order that touches Kafka last: read, create, send, compare,
    delete (always)."""

    def __init__(self, admin: KafkaAdmin, root: Path, result: TopicDrill) -> None:
        self.admin = admin
        self.root = root
        self.result = result

    def sample(self, connector: str, records: int) -> list[bytes]:
        result = self.result
        sources = from_snapshot(self.root, result.snapshot, connector)
        result.files = [str(s.path.relative_to(self.root)) for s in sources]
        everything = TimeFilter(TimeWindow(None, None), "utcTime")
        plan = scan(sources, everything, MissingTimestamp.INCLUDE, cache_bytes=CACHE_BYTES)
        result.read = plan.matched
        values = sample_values(newest(plan, records))
        result.records = len(values)
        result.snapshot_sha256 = values_sha256(values)
        if not plan.read:
            raise NothingToDrill(
                f"{result.snapshot} holds no record of {result.topic} ({len(result.files)} "
                "empty files): nothing to drill (an idle topic)"
            )
        if not values:
            raise SourceError(
                f"{result.snapshot} holds no complete record of {result.topic} "
                f"({len(result.files)} files): nothing to restore"
            )
        return values

    def scratch_info(self, scratch: str) -> TopicInfo:
        source = self.admin.describe(self.result.topic)
        configs = source.configs if source else {}
        carried = {k: v for k, v in configs.items() if k in CARRIED_CONFIGS}
        # Replication factor -1: the broker's default.replication.factor, so acks=all works
        # wherever the broker's min.insync.replicas does.
        return TopicInfo(scratch, 1, -1, carried)

    def restore(self, values: list[bytes]) -> None:
        result = self.result
        connection = self.admin.connection
        max_message_bytes = self.admin.max_message_bytes(result.scratch)
        largest = max(len(v) for v in values)
        if largest > largest_record(max_message_bytes):
            raise RestoreError(
                f"a record of {largest} bytes in the sample is larger than scratch topic "
                f"{result.scratch} takes (max.message.bytes {max_message_bytes}, less "
                f"{RECORD_OVERHEAD} bytes of framing): raise {result.topic}'s max.message.bytes "
                "(a restore of it needs that too)"
            )
        producer = RecordProducer(
            connection,
            result.scratch,
            {
                "message.timeout.ms": int(DELIVERY_TIMEOUT_SECONDS * 1000),
                **size_settings(max_message_bytes),
            },
        )
        producer.send_values(values)
        counter = producer.flush(DELIVERY_TIMEOUT_SECONDS + 10)
        if counter.failed or counter.undelivered:
            if any("authorization failed" in reason.lower() for reason in counter.errors):
                raise self.admin.not_allowed([("Write", "topic", result.scratch)])
            reasons = ", ".join(f"{k} ({v})" for k, v in counter.errors.most_common(3)) or "timeout"
            raise RestoreError(
                f"{counter.failed + counter.undelivered} of {len(values)} records not delivered "
                f"to scratch topic {result.scratch}: {reasons}"
            )
        end = self.admin.latest_offsets(result.scratch, 1)[0].offset
        try:
            got = read_back(
                connection, result.scratch, max(end, len(values)), READ_BACK_TIMEOUT_SECONDS
            )
        except KafkaException as exc:
            raise self.admin.denied(exc, "Read", "topic", result.scratch) from None
        result.read_back = len(got)
        result.read_back_sha256 = values_sha256(got)
        if len(got) != len(values):
            raise RestoreError(
                f"read back {len(got)} of {len(values)} records from scratch topic "
                f"{result.scratch} (its end offset: {end})"
            )
        if result.read_back_sha256 != result.snapshot_sha256:
            index = first_difference(values, got)
            raise RestoreError(
                f"the {len(values)} values read back differ from the snapshot's (sha256 "
                f"{result.read_back_sha256[:16]} instead of {result.snapshot_sha256[:16]}; "
                f"first difference at record {index + 1} of the sample)"
            )

    def delete_scratch(self) -> None:
        result = self.result
        try:
            self.admin.delete(result.scratch)
        except (KafkaException, KafkaCheckError) as exc:
            problem = (
                f"scratch topic {result.scratch} was not deleted ({exc}): delete it with "
                f"kafka-topics.sh --delete --topic {result.scratch}"
            )
            result.error = problem if result.error is None else f"{result.error}; {problem}"


def drill_topic(
    admin: KafkaAdmin, root: Path, snapshot: str, topic: str, sink_name: str, records: int
) -> TopicDrill:
    """One topic's drill; its failure is in the result (error names the file or the count)."""
    result = TopicDrill(topic, snapshot)
    started = time.monotonic()
    run = _TopicRun(admin, root, result)
    created = False
    try:
        try:
            values = run.sample(connector_name(topic, sink_name), records)
        except NothingToDrill as exc:
            result.skipped = str(exc)
            return result
        result.scratch = scratch_name(topic, int(time.time()))
        admin.create(run.scratch_info(result.scratch))
        created = True
        # A producer without Write fails fatally inside librdkafka: check first, by name.
        admin.check_access(result.scratch, ("Write", "Read"), doing="the drill did not run")
        run.restore(values)
    except RestoreError as exc:
        result.error = _relative(str(exc), root)
    except KafkaException as exc:
        result.error = str(admin.refused(exc, f"Kafka, drilling into {result.scratch}"))
    finally:
        if created or (result.scratch and result.scratch in _topics_or_empty(admin)):
            run.delete_scratch()
        result.seconds = time.monotonic() - started
    return result


def _topics_or_empty(admin: KafkaAdmin) -> set[str]:
    """A create that failed half-way may still have made the topic."""
    try:
        return admin.topics()
    except KafkaException:
        return set()


def run_drill(
    config: Config,
    *,
    topics: Sequence[str] | None = None,
    records: int | None = None,
    snapshot: str | None = NEWEST_SNAPSHOT,
    snapshot_root: Path | None = None,
    should_abort: Callable[[], bool] = lambda: False,
) -> DrillReport:
    """Drill every topic (or those given) of the config; never raises for a failed drill: the
    report says what failed (`error` when it could not run at all). snapshot None: the newest
    complete snapshot of any level (layout/snapshot_status.choose_snapshot)."""
    connection = config.kafka.connection()
    report = DrillReport(snapshot or "the newest snapshot", connection.bootstrap)
    count = records or config.backup.drill.records
    started = time.monotonic()
    try:
        with snapshot_access(snapshot_root, config) as access:
            report.root = str(access.root)
            report.mounted_from = str(access.mounted_from) if access.mounted_from else None
            try:
                if snapshot is None:
                    snapshot = choose_snapshot(access.root, None)[0].name
                    report.snapshot = snapshot
                snapshot_dir(access.root, snapshot)
            except (SourceError, NoSnapshotChosen) as exc:
                raise DrillUnavailable(str(exc)) from None
            admin = KafkaAdmin(connection)
            admin.check_reachable()
            for topic in topics or config.topics:
                if should_abort():
                    report.aborted = True
                    break
                report.topics.append(
                    drill_topic(admin, access.root, snapshot, topic, config.sink_name, count)
                )
    except (DrillUnavailable, KafkaCheckError, SourceError) as exc:
        # SourceError here: the backup could not be mounted (BackupMountError).
        report.error = str(exc).removesuffix("; nothing was sent")
    report.seconds = time.monotonic() - started
    report.finished_at = time.time()
    return report
