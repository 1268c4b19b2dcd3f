"""The restore pipeline's stages, shared by a plain restore (cli.py) and the runbook's replay
(runbook.py): resolve the sources, scan them into a plan, describe it, check Kafka, send,
report; and the private mount of the encrypted backup that --snapshot reads."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from kafka_connect_backup.restore.backup_mount import snapshot_access
from kafka_connect_backup.restore.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from kafka_connect_backup.restore.kafkaops import KafkaAdmin, KafkaCheckError
from kafka_connect_backup.restore.plan import Plan, scan
from kafka_connect_backup.restore.producer import MESSAGE_TIMEOUT_SECONDS, RecordProducer
from kafka_connect_backup.restore.replay import replay
from kafka_connect_backup.restore.sources import (
    SourceFile,
    from_patterns,
    from_snapshot,
)
from kafka_connect_backup.restore.summary import Summary, iso
from kafka_connect_backup.restore.target import Consequences, TargetState, read_target
from kafka_connect_backup.restore.timefilter import TimeFilter
from kafka_connect_backup.restore.validate import InvalidInput, Settings
from kafka_connect_backup.units import counted, human_bytes

# Every queued record is delivered or reported failed within the message timeout: the flush
# waits that long (plus a margin for the last reports), not more.
FLUSH_TIMEOUT = MESSAGE_TIMEOUT_SECONDS + 10.0
# After Ctrl-C: the in-flight requests' answers, not the whole timeout.
INTERRUPTED_FLUSH = 10.0
# A dry run does not wait long for a broker it only reads from.
DRY_RUN_KAFKA_TIMEOUT = 3.0


class Progress:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty()
        self.stream = stream

    @contextmanager
    def bar(self, total: int | None, description: str) -> Iterator[Callable[[int], None] | None]:
        if not self.enabled:
            yield None
            return
        from tqdm import tqdm

        with tqdm(
            total=total, desc=description, unit=" rec", unit_scale=True, file=self.stream
        ) as bar:

            def update(count: int) -> None:
                bar.update(count)

            yield update


def resolve_sources(settings: Settings, err: TextIO) -> list[SourceFile]:
    """The files to restore; a warning about the snapshot read (--allow-incomplete, or no
    completeness marker) goes to err."""
    if settings.snapshot:
        return from_snapshot(
            settings.snapshot_root,
            settings.snapshot,
            settings.source_connector,
            allow_incomplete=settings.allow_incomplete,
            warn=lambda message: print(message, file=err, flush=True),
        )
    return from_patterns(list(settings.patterns))


def make_plan(settings: Settings, sources: list[SourceFile], progress: Progress) -> Plan:
    time_filter = TimeFilter(settings.window, settings.timestamp_field)
    with progress.bar(None, "scanning") as update:
        return scan(sources, time_filter, settings.missing, update, settings.cache_bytes)


def describe_plan(settings: Settings, plan: Plan, out: TextIO, *, dry_run: bool) -> None:
    print(f"topic:   {settings.topic}", file=out)
    print(f"broker:  {settings.bootstrap}{' (dry run: read only)' if dry_run else ''}", file=out)
    print(
        f"window:  {settings.window.describe()}, by JSON field {settings.timestamp_field!r}",
        file=out,
    )
    print(f"files:   {len(plan.files)} ({human_bytes(plan.bytes)})", file=out)
    for file_plan in plan.files:
        torn = ", torn last line" if file_plan.torn else ""
        span = (
            f", records {iso(file_plan.first_epoch)} .. {iso(file_plan.last_epoch)}"
            if file_plan.first_epoch is not None
            else ""
        )
        print(
            f"  {file_plan.source.path}: {file_plan.lines + file_plan.torn} lines, "
            f"{file_plan.matched} to send{span}{torn}",
            file=out,
        )
    skipped = plan.skipped
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
    print(
        f"records: {plan.read} read, {plan.matched} to send, {sum(skipped.values())} skipped "
        f"({reasons})",
        file=out,
    )
    if settings.key_field:
        print(f"keys:    from JSON field {settings.key_field!r}", file=out)
    for file_plan in plan.files:
        if file_plan.torn:
            print(
                f"warning: {file_plan.source.path} ends with a torn line (no newline: a record "
                f"cut short, e.g. by a crash while writing); skipped: {file_plan.torn_preview!r}",
                file=out,
            )


def check_kafka(settings: Settings, *, create: bool) -> KafkaAdmin:
    admin = KafkaAdmin(settings.bootstrap)
    admin.check_reachable()
    if not create and admin.describe(settings.topic, configs=False) is None:
        raise KafkaCheckError(
            f"topic {settings.topic!r} does not exist on {settings.bootstrap}: create it first, "
            "or pass --create-topic (or use --runbook, which recreates it); nothing was sent"
        )
    return admin


def _end_offsets(admin: KafkaAdmin, topic: str) -> list[int]:
    info = admin.describe(topic, configs=False)
    if info is None:
        raise KafkaCheckError(f"topic {topic} disappeared during the restore")
    return [tp.offset for tp in admin.latest_offsets(topic, info.partitions)]


def send(settings: Settings, plan: Plan, progress: Progress) -> Summary:
    """Send the plan's records. `delivered` is what the topic really gained (its end offsets
    before and after, the restore being its only writer): a record reported failed after the
    broker wrote it (a delivery timeout) still counts, so re-sending the failed ones cannot
    duplicate. Ctrl-C or SIGTERM stops the send and still ends with that true count."""
    summary = Summary(settings.topic, settings.bootstrap, settings.window.describe(), plan)
    admin = KafkaAdmin(settings.bootstrap)
    before = _end_offsets(admin, settings.topic)
    producer = RecordProducer(
        settings.bootstrap, settings.topic, {"compression.type": settings.compression}
    )
    started = time.monotonic()
    sent: dict[str, int] = {}
    try:
        with progress.bar(plan.matched, "sending") as update:
            sent = replay(plan, producer, settings.key_field, update)
        counter = producer.flush(FLUSH_TIMEOUT)
    except KeyboardInterrupt:
        summary.interrupted = True
        producer.drop_queued()  # what the broker has not got yet is not sent at all
        counter = producer.flush(INTERRUPTED_FLUSH)
    after = _end_offsets(admin, settings.topic)
    summary.seconds = time.monotonic() - started
    summary.delivered = sum(a - b for a, b in zip(after, before, strict=False))
    summary.failed = max(0, plan.matched - summary.delivered)
    summary.errors = counter.errors
    if counter.undelivered:
        summary.errors[f"still queued after {FLUSH_TIMEOUT:.0f}s"] += counter.undelivered
    if summary.interrupted:
        summary.errors["not sent: interrupted"] += max(0, plan.matched - counter.sent)
    written_anyway = summary.delivered - counter.delivered
    if written_anyway > 0 and counter.failed:
        summary.errors["reported failed, but the topic has them (counted as delivered)"] += (
            written_anyway
        )
    if not summary.interrupted:
        shortfall = plan.matched - sum(sent.values())
        if shortfall:
            # A file shrank or was replaced between the scan and the send.
            summary.errors["source changed after the scan (lines not found)"] += shortfall
    return summary


def finish(summary: Summary, summary_json: Path | None, out: TextIO, json_out: TextIO) -> int:
    print(summary.render(), file=out)
    if summary_json is not None:
        try:
            summary.write_json(summary_json, json_out)
        except OSError as exc:
            print(
                f"restore.py: error: cannot write the summary to {summary_json}: {exc.strerror} "
                "(the report above is complete)",
                file=out,
            )
            return EXIT_FAILED
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_FAILED


def dry_run_target(settings: Settings, out: TextIO) -> TargetState | None:
    """A dry run reads the target too (it only reads), but goes on without it when Kafka
    cannot be reached: the plan of the files alone is still worth showing."""
    admin = KafkaAdmin(settings.bootstrap, timeout=DRY_RUN_KAFKA_TIMEOUT)
    try:
        admin.check_reachable()
    except KafkaCheckError as exc:
        print(f"target:  not read: {exc}", file=out)
        return None
    return read_target(admin, settings.topic)


def print_consequences(effects: Consequences, out: TextIO) -> None:
    print("target:", file=out)
    for line in effects.lines():
        print(f"  {line}", file=out)


def refuse_duplicates(
    target: TargetState,
    *,
    append: bool,
    ways: str = "give --append to add them anyway, or use --runbook to recreate the topic "
    "from the backup first, or restore into a new topic",
) -> None:
    """A topic that holds records gets the replayed ones beside them: duplicates of every
    record it already has from the same files. Refused unless --append says so."""
    if append or not target.records:
        return
    raise InvalidInput(
        f"topic {target.topic} already holds {counted(target.records, 'record')} "
        f"({counted(target.partitions, 'partition')}): replaying into it would add the "
        f"restored records beside them, duplicating any it already has; {ways}; nothing was "
        "sent"
    )


def key_order_warning(settings: Settings, partitions: int) -> str | None:
    if partitions <= 1 or settings.key_field:
        return None
    return (
        f"warning: {settings.topic} has {partitions} partitions and no --key-field is given: "
        "records are sent without a key and spread over the partitions, so records of one "
        "key may be consumed out of order; give --key-field FIELD to keep per-key order"
    )


@contextmanager
def snapshot_settings(settings: Settings, explicit_root: Path | None) -> Iterator[Settings]:
    """The settings to use while the block runs: with --snapshot and no --snapshot-root, the
    config's encrypted backup is mounted privately for the whole block (the scan and the send
    both read the files) and unmounted afterwards."""
    if not settings.snapshot:
        yield settings
        return
    with snapshot_access(explicit_root, settings.config) as access:
        if access.mounted_from is not None:
            print(
                f"snapshot {settings.snapshot}: encrypted backup {access.mounted_from} mounted "
                f"at {access.root} for this run (unmounted at the end)",
                file=sys.stderr,
            )
        yield dataclasses.replace(settings, snapshot_root=access.root)
