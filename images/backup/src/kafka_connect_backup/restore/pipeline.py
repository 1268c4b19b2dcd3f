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
from typing import Any, TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup.core.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from kafka_connect_backup.core.units import counted, first_few, human_bytes
from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.kafka.producer import (
    RECORD_OVERHEAD,
    RecordProducer,
    largest_record,
    size_settings,
)
from kafka_connect_backup.kafka.timefilter import FieldReader, TimeFilter, iso
from kafka_connect_backup.kafka.topic_metadata import (
    MetadataError,
    TopicMetadata,
    find_metadata,
    read_metadata,
)
from kafka_connect_backup.layout.sinkfiles import consumer_group
from kafka_connect_backup.restore.exact import ExactState, Routing, choose_routing
from kafka_connect_backup.restore.outage import OutageReporter
from kafka_connect_backup.restore.plan import Plan, scan
from kafka_connect_backup.restore.replay import replay
from kafka_connect_backup.restore.sources import (
    SourceFile,
    envelope_sources,
    from_patterns,
    from_snapshot,
    resolve_snapshot,
)
from kafka_connect_backup.restore.summary import Summary
from kafka_connect_backup.restore.target import Consequences, TargetState
from kafka_connect_backup.restore.validate import InvalidInput, Settings

# Every queued record is delivered or reported failed within the delivery timeout: the flush
# waits that long plus this margin for the last reports, not more.
FLUSH_MARGIN = 10.0
# After Ctrl-C: the in-flight requests' answers, not the whole timeout.
INTERRUPTED_FLUSH = 10.0
# A dry run does not wait long for a broker it only reads from.
DRY_RUN_KAFKA_TIMEOUT = 3.0
# After the send, the topic's true count is waited for at least this long (or the delivery
# timeout, if longer): a broker restarted after a crash takes a while to answer again.
COUNT_WAIT = 45.0


class Progress:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty()
        self.stream = stream
        self._bar: Any = None

    def note(self, line: str) -> None:
        """A line for the operator, above the bar when one is drawn."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

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

            self._bar = bar
            try:
                yield update
            finally:
                self._bar = None


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


def source_metadata(sources: list[SourceFile]) -> tuple[Path, TopicMetadata] | None:
    """The topic metadata file beside the envelope sources ({topic}-{sinkName}.topic.json in
    their directories), when there is one; InvalidInput when it cannot be read."""
    envelope = envelope_sources(sources)
    stems = {f.sink.stem for f in envelope if f.sink is not None}
    if len(stems) != 1:
        return None
    directories = list(dict.fromkeys(f.path.parent for f in envelope))
    stem = stems.pop()
    path = find_metadata(directories, stem)
    if path is None:
        return None
    try:
        metadata = read_metadata(path)
    except MetadataError as exc:
        raise InvalidInput(f"{exc}; move it away to restore without it; nothing was sent") from None
    if not stem.startswith(f"{metadata.topic}-"):
        # A file copied or renamed from another topic: its partitions, configs and groups
        # are not this topic's.
        raise InvalidInput(
            f"{path} holds the metadata of topic {metadata.topic!r}, not of the files' "
            f"{stem} (their topic's connector): move it away to restore without it, or put "
            f"the right {stem}.topic.json there; nothing was sent"
        )
    return path, metadata


def _exact_state(
    settings: Settings,
    sources: list[SourceFile],
    target_partitions: int | None,
    metadata: TopicMetadata | None,
    routing: Routing | None = None,
) -> ExactState | None:
    envelope = envelope_sources(sources)
    if not envelope:
        if settings.from_offsets:
            raise InvalidInput(
                "--from-offset needs envelope files ({topic}-{sinkName}-{period}.envelope.sink): "
                "value files hold no offsets; use the from time instead; nothing was sent"
            )
        if settings.restore_groups:
            raise InvalidInput(
                "--restore-groups needs envelope files (sinkFormat: envelope): value files do "
                "not say which offset each record had; nothing was sent"
            )
        return None
    if settings.from_offsets and len(envelope) != len(sources):
        values = [f.path.name for f in sources if f not in envelope]
        shown = first_few(values)
        raise InvalidInput(
            "--from-offset picks envelope records by their offsets, but value files are among "
            f"the sources ({shown}): their records carry no offsets, so every one would be "
            "replayed; give only the *.envelope.sink* files with --from-offset, or use the "
            "from time instead; nothing was sent"
        )
    if settings.key_field and len(envelope) == len(sources):
        raise InvalidInput(
            f"--key-field {settings.key_field!r} applies to value files: envelope files "
            "replay each record's own key; leave it out; nothing was sent"
        )
    groups: dict[str, dict[int, int]] = {}
    after_values = len(envelope) != len(sources)
    if settings.restore_groups:
        if after_values:
            _values_before_envelopes(sources)
        if metadata is None:
            stem = envelope[0].sink.stem if envelope[0].sink else settings.source_connector
            raise InvalidInput(
                f"--restore-groups: no topic metadata file ({stem}.topic.json) beside "
                f"{envelope[0].path.parent}: it holds the saved group offsets (every backup "
                "cycle writes it); nothing was sent"
            )
        sink_group = consumer_group(settings.topic, settings.sink_name)
        # The sink's own group is reset by the runbook (Connect rewrites the sink file).
        groups = {g: o for g, o in metadata.groups.items() if g != sink_group}
    start, end = TimeFilter(settings.window).bounds
    if routing is None and target_partitions:
        routing = choose_routing(target_partitions, metadata.partitions if metadata else None)
    reader = FieldReader(settings.envelope_field) if settings.envelope_field else None
    return ExactState(
        start, end, reader, dict(settings.from_offsets), routing, groups, after_values=after_values
    )


def _values_before_envelopes(sources: list[SourceFile]) -> None:
    """--restore-groups over value and envelope files (a sinkFormat value -> envelope switch):
    the groups are mapped on the envelope records, replayed after the value ones; a value file
    written after an envelope file (a switch back) would put records without offsets after
    them, where no saved offset can be mapped: refused."""
    envelope = envelope_sources(sources)
    first = sources.index(envelope[0])
    later = [f.path.name for f in sources[first:] if f not in envelope]
    if later:
        shown = first_few(later)
        raise InvalidInput(
            f"--restore-groups: the value files {shown} were written after the envelope file "
            f"{envelope[0].path.name} (sinkFormat switched back to value): their records carry "
            "no offsets, so the saved group offsets cannot be mapped past them; restore the "
            "groups from files up to the switch back (give them as restore_files), or leave "
            "out --restore-groups; nothing was sent"
        )


def make_plan(
    settings: Settings,
    sources: list[SourceFile],
    progress: Progress,
    *,
    target_partitions: int | None = None,
) -> Plan:
    """Scan the sources. Envelope files are routed for a target of `target_partitions` (None:
    only selected, e.g. a dry run without Kafka) and, with --restore-groups, the saved groups
    mapped (restore/exact.py)."""
    found = source_metadata(sources)
    metadata = found[1] if found else None
    exact = _exact_state(settings, sources, target_partitions, metadata)
    time_filter = TimeFilter(settings.window, settings.timestamp_field)
    with progress.bar(None, "scanning") as update:
        plan = scan(sources, time_filter, settings.missing, update, settings.cache_bytes, exact)
    if exact is not None and exact.unroutable is not None and target_partitions:
        # No metadata file and a partition the target lacks: by key instead, scanned again.
        partition, offset = exact.unroutable
        why = (
            f"the files hold partition {partition} (offset {offset}), which the target's "
            f"{counted(target_partitions, 'partition')} lack, and no metadata file gives the "
            "source's count"
        )
        exact = _exact_state(
            settings, sources, target_partitions, metadata, Routing(target_partitions, False, why)
        )
        with progress.bar(None, "scanning") as update:
            plan = scan(sources, time_filter, settings.missing, update, settings.cache_bytes, exact)
    if exact is not None:
        _refuse_unknown_from_offsets(settings, exact, metadata)
    plan.metadata = found
    return plan


def _refuse_unknown_from_offsets(
    settings: Settings, exact: ExactState, metadata: TopicMetadata | None
) -> None:
    """--from-offset on a partition the source never had would select nothing there while the
    rest replays: a typo, refused by the partition's number."""
    known = set(exact.source_partitions)
    if metadata is not None:
        known.update(range(metadata.partitions))
    unknown = sorted(p for p in settings.from_offsets if p not in known)
    if not unknown:
        return
    has = ", ".join(str(p) for p in sorted(exact.source_partitions)) or "none"
    said = (
        f"its metadata file says {counted(metadata.partitions, 'partition')}, "
        if metadata is not None
        else ""
    )
    raise InvalidInput(
        f"--from-offset names partition {', '.join(map(str, unknown))}, which the source "
        f"does not have ({said}its files hold partitions {has}): name those partitions "
        "only; nothing was sent"
    )


def describe_plan(settings: Settings, plan: Plan, out: TextIO, *, dry_run: bool) -> None:
    print(f"topic:   {settings.topic}", file=out)
    print(f"broker:  {settings.bootstrap}{' (dry run: read only)' if dry_run else ''}", file=out)
    exact = plan.exact
    all_envelope = exact is not None and len(
        envelope_sources([f.source for f in plan.files])
    ) == len(plan.files)
    by = (
        "the record timestamps"
        if all_envelope and settings.envelope_field is None
        else f"JSON field {settings.timestamp_field!r}"
    )
    print(f"window:  {settings.window.describe()}, by {by}", file=out)
    if settings.from_offsets:
        shown = ", ".join(f"{p}:{o}" for p, o in sorted(settings.from_offsets.items()))
        print(f"offsets: from {shown} (other partitions: from their first record)", file=out)
    if settings.snapshot_choice:
        print(f"snapshot: {settings.snapshot_choice}", file=out)
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
    if exact is not None:
        describe_exact(plan, exact, out)
    for file_plan in plan.files:
        if file_plan.torn:
            print(
                f"warning: {file_plan.source.path} ends with a torn line (no newline: a record "
                f"cut short, e.g. by a crash while writing); skipped: {file_plan.torn_preview!r}",
                file=out,
            )


def describe_exact(plan: Plan, exact: ExactState, out: TextIO) -> None:
    """Envelope files: the metadata file, the routing, and each saved group's mapping."""
    if plan.metadata is not None:
        path, metadata = plan.metadata
        configs = ", ".join(f"{k}={v}" for k, v in sorted(metadata.configs.items())) or "none"
        print(
            f"metadata: {path} (read {iso(metadata.time.timestamp(), seconds=True)}): "
            f"{counted(metadata.partitions, 'partition')}, replication factor "
            f"{metadata.replication_factor}, configs {configs}, "
            f"{counted(len(metadata.groups), 'consumer group')}",
            file=out,
        )
    else:
        print("metadata: none beside the envelope files (no saved partitions or groups)", file=out)
    if exact.routing is not None:
        print(f"routing: {exact.routing.describe()}", file=out)
        spread = ", ".join(f"{p}:{exact.counts[p]}" for p in range(exact.routing.partitions))
        print(f"  records per target partition: {spread}", file=out)
    for group in sorted(exact.groups):
        print(f"group {group}: {group_mapping(exact, group)}", file=out)


def group_mapping(
    exact: ExactState,
    group: str,
    starts: list[int] | None = None,
    replay_starts: list[int] | None = None,
) -> str:
    saved = ", ".join(f"{p}:{o}" for p, o in sorted(exact.groups[group].items()))
    positions = exact.positions(group, starts, replay_starts)
    if exact.after_values and starts is None:
        # The plan, before the send: the value records' spread is known once they are sent.
        restored = ", ".join(f"{p}:+{o}" for p, o in sorted(positions.items()))
        text = (
            f"saved offsets {saved} -> restored offsets {restored or 'no partition'} (past the "
            "value records replayed before the envelope records on each partition, counted "
            "by the send)"
        )
    else:
        restored = ", ".join(f"{p}:{o}" for p, o in sorted(positions.items())) or "no partition"
        text = f"saved offsets {saved} -> restored offsets {restored}"
    uncovered = exact.uncovered(group)
    if uncovered:
        firsts = ", ".join(f"{p}:{exact.first_offset[p]}" for p in uncovered)
        text += (
            f"; NOT COVERED: its saved offsets on partitions {', '.join(map(str, uncovered))} "
            f"are before the first envelope records ({firsts}), so value records it had not "
            "read (they carry no offsets) cannot be located: those partitions restart from "
            "the first replayed record (records it had read are read again)"
        )
    return text


def check_kafka(settings: Settings, *, create: bool) -> KafkaAdmin:
    admin = KafkaAdmin(settings.kafka)
    admin.check_reachable()
    admin.check_access(settings.topic, ("Describe", "Write"), create=create)
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


def gained(before: list[int], after: list[int]) -> int:
    return sum(a - b for a, b in zip(after, before, strict=False))


def _end_offsets_after(
    admin: KafkaAdmin,
    topic: str,
    before: list[int],
    acknowledged: int,
    wait: float,
    outages: OutageReporter,
) -> list[int] | None:
    """The end offsets once the send is over. A broker restarted after a crash answers with
    the high watermark of its last checkpoint until it has caught up with its own log, so an
    answer below what Kafka acknowledged is not the count yet: retried, as is no answer, for
    up to `wait` seconds; None when no trustworthy answer came in time."""
    deadline = time.monotonic() + wait
    waiting = False
    while True:
        try:
            offsets = _end_offsets(admin, topic)
        except KafkaException:
            pass
        else:
            outages.recovered()
            if gained(before, offsets) >= acknowledged:
                return offsets
        if time.monotonic() >= deadline:
            return None
        if not waiting:
            waiting = True
            outages.say(
                f"restore.py: waiting up to {wait:.0f}s for Kafka, to count what {topic} holds now"
            )
        time.sleep(1.0)


def oversized(plan: Plan, max_message_bytes: int, topic: str) -> str | None:
    """Why the plan cannot be sent as it is: a record larger than the topic takes, named by
    file and line (the broker would refuse it after everything before it was sent)."""
    limit = largest_record(max_message_bytes)
    over = [f for f in plan.files if f.largest > limit]
    if not over:
        return None
    worst = max(over, key=lambda f: f.largest)
    return (
        f"{worst.source.path} line {worst.largest_line} is a record of "
        f"{human_bytes(worst.largest)} ({worst.largest} bytes), more than topic {topic} takes: "
        f"its max.message.bytes is {max_message_bytes}, less {RECORD_OVERHEAD} bytes of framing"
        + (f" ({len(over)} files hold records over it)" if len(over) > 1 else "")
        + "; raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics "
        f"--entity-name {topic} --add-config max.message.bytes=N), or leave those records out "
        "with --from / --to"
    )


def check_creatable(admin: KafkaAdmin, info: TopicInfo, *, dry_run_out: TextIO | None) -> None:
    """A topic to be created as saved that the cluster would refuse: refused before anything
    is deleted or sent (a dry run prints what a real run refuses)."""
    reason = admin.refuses_creation(info)
    if reason is None:
        return
    configs = ", ".join(f"{k}={v}" for k, v in sorted(info.configs.items())) or "none"
    message = (
        f"Kafka at {admin.bootstrap} would not create topic {info.name} as planned "
        f"({counted(info.partitions, 'partition')}, replication factor "
        f"{info.replication_factor}, configs {configs}): {reason}; leave out each config it "
        "does not take with --drop-config KEY (repeatable; e.g. one an older Kafka version "
        "saved), or give --partitions / --replication-factor"
    )
    if dry_run_out is not None:
        print(f"a real run refuses this: {message}", file=dry_run_out)
        return
    raise InvalidInput(f"{message}; nothing was changed")


def check_record_sizes(
    admin: KafkaAdmin, plan: Plan, topic: str, *, dry_run_out: TextIO | None = None
) -> int:
    """Refuse a record the topic cannot take before anything is sent or deleted (a dry run
    prints what a real run would refuse instead); returns the topic's max.message.bytes."""
    max_message_bytes = admin.max_message_bytes(topic)
    reason = oversized(plan, max_message_bytes, topic)
    if reason is not None:
        if dry_run_out is None:
            raise InvalidInput(f"{reason}; nothing was sent")
        print(f"a real run refuses this: {reason}", file=dry_run_out)
    return max_message_bytes


def send(settings: Settings, plan: Plan, progress: Progress) -> Summary:
    """Send the plan's records. `delivered` is what the topic really gained (its end offsets
    before and after, the restore being its only writer): a record reported failed after the
    broker wrote it (a delivery timeout) still counts, so re-sending the failed ones cannot
    duplicate. Ctrl-C or SIGTERM stops the send and still ends with that true count."""
    summary = Summary(settings.topic, settings.bootstrap, settings.window.describe(), plan)
    admin = KafkaAdmin(settings.kafka)
    before = _end_offsets(admin, settings.topic)
    summary.starts = before
    max_message_bytes = check_record_sizes(admin, plan, settings.topic)
    outages = OutageReporter(progress.note, settings.delivery_timeout)
    producer = RecordProducer(
        settings.kafka,
        settings.topic,
        {
            "compression.type": settings.compression,
            "message.timeout.ms": int(settings.delivery_timeout * 1000),
            **size_settings(max_message_bytes),
            **outages.producer_config(),
        },
    )
    flush_timeout = settings.delivery_timeout + FLUSH_MARGIN
    started = time.monotonic()
    sent: dict[str, int] = {}
    try:
        with progress.bar(plan.matched, "sending") as update:
            sent = replay(plan, producer, settings.key_field, update)
        counter = producer.flush(flush_timeout)
    except KeyboardInterrupt:
        summary.interrupted = True
        producer.drop_queued()  # what the broker has not got yet is not sent at all
        counter = producer.flush(INTERRUPTED_FLUSH)
    count_wait = max(settings.delivery_timeout, COUNT_WAIT)
    after = _end_offsets_after(
        admin, settings.topic, before, counter.delivered, count_wait, outages
    )
    summary.seconds = time.monotonic() - started
    if after is None:
        # Only the acknowledgements are known: a lower bound, said as such.
        summary.unverified = (
            f"Kafka at {settings.bootstrap} did not give the topic's end offsets (or gave ones "
            f"below what it acknowledged) for {count_wait:.0f}s after the send"
        )
        summary.delivered = counter.delivered
    else:
        summary.delivered = gained(before, after)
        summary.ends = after
    summary.failed = max(0, plan.matched - summary.delivered)
    summary.errors = counter.errors
    if counter.undelivered:
        summary.errors[f"still queued after {flush_timeout:.0f}s"] += counter.undelivered
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
    summary.outages = outages.outages
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


def dry_run_admin(settings: Settings, out: TextIO) -> KafkaAdmin | None:
    """A dry run reads the target too (it only reads), but goes on without it when Kafka
    cannot be reached: the plan of the files alone is still worth showing."""
    admin = KafkaAdmin(settings.kafka, timeout=DRY_RUN_KAFKA_TIMEOUT)
    try:
        admin.check_reachable()
    except KafkaCheckError as exc:
        print(f"target:  not read: {exc}", file=out)
        return None
    return admin


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


def key_order_warning(settings: Settings, partitions: int, plan: Plan | None) -> str | None:
    """Value files replayed without keys over several partitions; envelope files keep theirs."""
    sources = [f.source for f in plan.files] if plan is not None else []
    if sources and len(envelope_sources(sources)) == len(sources):
        return None
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
    if not settings.snapshot and settings.snapshot_at is None:
        yield settings
        return
    # Here only: the mount brings in the config models, the volume engines and logging.
    from kafka_connect_backup.restore.backup_mount import snapshot_access

    with snapshot_access(explicit_root, settings.config) as access:
        if access.mounted_from is not None:
            print(
                f"snapshots: encrypted backup {access.mounted_from} mounted at {access.root} "
                "for this run (unmounted at the end)",
                file=sys.stderr,
            )
        # --snapshot-at: chosen among the snapshots as they are now, once.
        name, choice = resolve_snapshot(access.root, settings.snapshot, settings.snapshot_at)
        yield dataclasses.replace(
            settings, snapshot_root=access.root, snapshot=name, snapshot_choice=choice
        )
